/*
 * runtime.c - console, printf and exit for the guest test programs.
 * See runtime.h for the device addresses.
 */
#include "runtime.h"

int putchar(int c)
{
    /* Wait until the transmit holding register can take a byte. */
    while ((MMIO8(UART_BASE + UART_LSR) & UART_LSR_THRE) == 0)
        ;
    MMIO8(UART_BASE + UART_THR) = (uint8_t)c;
    return (unsigned char)c;
}

void putstr(const char *s)
{
    while (*s)
        putchar(*s++);
}

int puts(const char *s)
{
    putstr(s);
    putchar('\n');
    return 0;
}

/* Emit `v` in `base`, at least `width` characters, padded with `pad`. */
static int put_unsigned(uint64_t v, unsigned base, int upper, int width, char pad)
{
    char buf[24];
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    int n = 0, out = 0;

    do {
        buf[n++] = digits[v % base];
        v /= base;
    } while (v);
    for (; width > n; width--, out++)
        putchar(pad);
    while (n)
        putchar(buf[--n]), out++;
    return out;
}

/*
 * Supported: %d %i %u %x %X %c %s %p %%, flags '0' and '-', a field width,
 * and the length modifiers l / ll / z (all 64-bit here).
 */
int vprintf(const char *fmt, va_list ap)
{
    int out = 0;

    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            putchar(*fmt);
            out++;
            continue;
        }
        fmt++;
        char pad = ' ';
        int left = 0, width = 0, longness = 0;
        for (;; fmt++) {
            if (*fmt == '0')
                pad = '0';
            else if (*fmt == '-')
                left = 1;
            else
                break;
        }
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        while (*fmt == 'l' || *fmt == 'z') {
            longness++;
            fmt++;
        }
        if (left)
            pad = ' ';

        switch (*fmt) {
        case 'd':
        case 'i': {
            int64_t v = longness ? va_arg(ap, int64_t) : va_arg(ap, int);
            uint64_t mag = v < 0 ? -(uint64_t)v : (uint64_t)v;
            if (v < 0) {
                /* the sign goes before zero padding, after space padding */
                if (pad == '0') {
                    putchar('-');
                    out++;
                    out += put_unsigned(mag, 10, 0, width ? width - 1 : 0, '0');
                    break;
                }
                int digits = 1;
                for (uint64_t t = mag; t >= 10; t /= 10)
                    digits++;
                for (int i = digits + 1; i < width && !left; i++, out++)
                    putchar(' ');
                putchar('-');
                out++;
                out += put_unsigned(mag, 10, 0, 0, ' ');
                for (int i = digits + 1; i < width && left; i++, out++)
                    putchar(' ');
                break;
            }
            int n = put_unsigned(mag, 10, 0, left ? 0 : width, pad);
            out += n;
            for (; left && n < width; n++, out++)
                putchar(' ');
            break;
        }
        case 'u':
        case 'x':
        case 'X':
        case 'p': {
            uint64_t v;
            if (*fmt == 'p')
                v = (uint64_t)(uintptr_t)va_arg(ap, void *);
            else
                v = longness ? va_arg(ap, uint64_t) : va_arg(ap, unsigned int);
            unsigned base = *fmt == 'u' ? 10 : 16;
            if (*fmt == 'p') {
                putstr("0x");
                out += 2;
            }
            int n = put_unsigned(v, base, *fmt == 'X', left ? 0 : width, pad);
            out += n;
            for (; left && n < width; n++, out++)
                putchar(' ');
            break;
        }
        case 'c': {
            int n = 1;
            for (; !left && n < width; n++, out++)
                putchar(' ');
            putchar(va_arg(ap, int));
            out++;
            for (; left && n < width; n++, out++)
                putchar(' ');
            break;
        }
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            int n = (int)strlen(s);
            for (int i = n; !left && i < width; i++, out++)
                putchar(' ');
            putstr(s);
            out += n;
            for (int i = n; left && i < width; i++, out++)
                putchar(' ');
            break;
        }
        case '%':
            putchar('%');
            out++;
            break;
        case '\0':
            return out;
        default:            /* unknown conversion: print it verbatim */
            putchar('%');
            putchar(*fmt);
            out += 2;
            break;
        }
    }
    return out;
}

int printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vprintf(fmt, ap);
    va_end(ap);
    return n;
}

void exit(int code)
{
    /* SiFive test finisher: 0x5555 = pass, (code << 16) | 0x3333 = fail. */
    uint32_t v = code == 0 ? FINISHER_PASS
                           : ((uint32_t)code << 16) | FINISHER_FAIL;
    MMIO32(FINISHER_BASE) = v;
    for (;;)
        __asm__ volatile ("wfi");
}

void fail(int code, const char *what)
{
    printf("FAIL: %s\n", what);
    exit(code);
}

/* Called by crt0's default trap handler for traps nobody expected. */
void __unexpected_trap(uint64_t cause, uint64_t epc, uint64_t tval)
    __attribute__((noreturn));
void __unexpected_trap(uint64_t cause, uint64_t epc, uint64_t tval)
{
    printf("unexpected trap mcause=0x%lx mepc=0x%lx mtval=0x%lx\n",
           cause, epc, tval);
    exit(255);
}

/*
 * The compiler may emit calls to these even in freestanding code.  Stop GCC
 * from recognising the loops below as memset/memcpy and calling themselves.
 */
#define NO_LIBCALL __attribute__((optimize("no-tree-loop-distribute-patterns")))

NO_LIBCALL void *memset(void *dst, int c, size_t n)
{
    unsigned char *d = dst;
    while (n--)
        *d++ = (unsigned char)c;
    return dst;
}

NO_LIBCALL void *memcpy(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    while (n--)
        *d++ = *s++;
    return dst;
}

NO_LIBCALL void *memmove(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (d < s) {
        while (n--)
            *d++ = *s++;
    } else {
        while (n--)
            d[n] = s[n];
    }
    return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (; n; n--, x++, y++)
        if (*x != *y)
            return *x - *y;
    return 0;
}

size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

/*
 * trap_entry: a machine-mode trap vector for programs that handle traps in C.
 * Saves the registers a C function may clobber, calls
 * handle_trap(mcause, mepc, mtval), restores them and returns with mret.
 * In a section of its own, so programs that do not use it drop it.
 */
__asm__(
    "    .section .text.trap_entry, \"ax\", @progbits\n"
    "    .globl trap_entry\n"
    "    .balign 4\n"
    "trap_entry:\n"
    "    addi sp, sp, -128\n"
    "    sd   ra,   0(sp)\n"
    "    sd   t0,   8(sp)\n"
    "    sd   t1,  16(sp)\n"
    "    sd   t2,  24(sp)\n"
    "    sd   t3,  32(sp)\n"
    "    sd   t4,  40(sp)\n"
    "    sd   t5,  48(sp)\n"
    "    sd   t6,  56(sp)\n"
    "    sd   a0,  64(sp)\n"
    "    sd   a1,  72(sp)\n"
    "    sd   a2,  80(sp)\n"
    "    sd   a3,  88(sp)\n"
    "    sd   a4,  96(sp)\n"
    "    sd   a5, 104(sp)\n"
    "    sd   a6, 112(sp)\n"
    "    sd   a7, 120(sp)\n"
    "    csrr a0, mcause\n"
    "    csrr a1, mepc\n"
    "    csrr a2, mtval\n"
    "    call handle_trap\n"
    "    ld   ra,   0(sp)\n"
    "    ld   t0,   8(sp)\n"
    "    ld   t1,  16(sp)\n"
    "    ld   t2,  24(sp)\n"
    "    ld   t3,  32(sp)\n"
    "    ld   t4,  40(sp)\n"
    "    ld   t5,  48(sp)\n"
    "    ld   t6,  56(sp)\n"
    "    ld   a0,  64(sp)\n"
    "    ld   a1,  72(sp)\n"
    "    ld   a2,  80(sp)\n"
    "    ld   a3,  88(sp)\n"
    "    ld   a4,  96(sp)\n"
    "    ld   a5, 104(sp)\n"
    "    ld   a6, 112(sp)\n"
    "    ld   a7, 120(sp)\n"
    "    addi sp, sp, 128\n"
    "    mret\n");
