/*
 * cosim.c - talks to devices that an outside simulator models in
 * polyhart-cosim's external region at 0x20000000. QEMU's virt has nothing
 * there, so this program is not run on QEMU: the Rust tests (cosim/tests)
 * and the SystemC example (cosim/examples/systemc) model the same devices.
 *
 *   0x20000000  console  +0 TX: writing a byte makes the outside print it
 *   0x20001000  timer    +0 NOW:   the outside's time at the access, in ns
 *                        +8 ALARM: raise PLIC source 32 this many ns later
 *                        +16 ACK:  lower the line
 *   0x20002000  scratch memory, 4 KiB (the outside may grant it as DMI)
 *   0x20003000  nothing: an address error, which the hart takes as an
 *               access fault
 *
 * It checks what it reads back and prints only results that do not depend
 * on the quantum or the latencies the outside models; the outside checks
 * the timing.
 */
#include "runtime.h"

#define EXT_BASE      0x20000000UL
#define EXT_TX        (EXT_BASE + 0x0000)
#define EXT_NOW       (EXT_BASE + 0x1000)
#define EXT_ALARM     (EXT_BASE + 0x1008)
#define EXT_ACK       (EXT_BASE + 0x1010)
#define EXT_SCRATCH   (EXT_BASE + 0x2000)
#define EXT_HOLE      (EXT_BASE + 0x3000)
#define ALARM_IRQ     32
#define ALARM_NS      5000

#define PLIC_BASE         0x0c000000UL
#define PLIC_PRIORITY(s)  (PLIC_BASE + 4UL * (s))
#define PLIC_ENABLE(w)    (PLIC_BASE + 0x2000UL + 4UL * (w))
#define PLIC_THRESHOLD    (PLIC_BASE + 0x200000UL)
#define PLIC_CLAIM        (PLIC_BASE + 0x200004UL)

#define MIE_MEIE     (1UL << 11)
#define MSTATUS_MIE  (1UL << 3)

static volatile uint64_t fault_cause, fault_tval, faults;
static volatile uint64_t alarms, alarm_claim, alarm_time;

static void ext_putc(char c) { MMIO8(EXT_TX) = (uint8_t)c; }

static void ext_puts(const char *s)
{
    while (*s)
        ext_putc(*s++);
}

static void ext_putnum(uint64_t n)
{
    char digits[24];
    int i = 0;
    do {
        digits[i++] = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    while (i)
        ext_putc(digits[--i]);
}

static void ext_puthex(uint64_t n)
{
    ext_puts("0x");
    for (int shift = 28; shift >= 0; shift -= 4)
        ext_putc("0123456789abcdef"[(n >> shift) & 15]);
}

static uint64_t now_ns(void) { return MMIO64(EXT_NOW); }

void handle_trap(uint64_t cause, uint64_t epc, uint64_t tval)
{
    if (cause == ((1UL << 63) | 11)) {
        uint32_t claim = MMIO32(PLIC_CLAIM);
        alarm_time = now_ns();
        alarm_claim = claim;
        MMIO64(EXT_ACK) = 1;
        MMIO32(PLIC_CLAIM) = claim;
        alarms++;
        return;
    }
    if (cause >> 63) {
        ext_puts("unexpected interrupt\n");
        exit(3);
    }
    uint16_t lo = *(volatile uint16_t *)epc;
    fault_cause = cause;
    fault_tval = tval;
    faults++;
    write_csr(mepc, epc + ((lo & 3) == 3 ? 4 : 2));
}

static int failures;

static void check(int ok, const char *what)
{
    if (!ok) {
        ext_puts("FAIL: ");
        ext_puts(what);
        ext_putc('\n');
        failures++;
    }
}

int main(void)
{
    write_csr(mtvec, (uint64_t)trap_entry);
    ext_puts("cosim: hello from the guest\n");

    /* Scratch memory: words written and read back, then AMOs. */
    volatile uint32_t *scratch = (volatile uint32_t *)EXT_SCRATCH;
    for (uint32_t i = 0; i < 64; i++)
        scratch[i] = i * 3 + 1;
    uint64_t sum = 0;
    for (uint32_t i = 0; i < 64; i++)
        sum += scratch[i];
    ext_puts("scratch sum ");
    ext_putnum(sum);
    ext_putc('\n');
    check(sum == 64 * 63 / 2 * 3 + 64, "scratch sum");

    uint64_t *word = (uint64_t *)(EXT_SCRATCH + 0x800);
    *word = 40;
    uint64_t old;
    __asm__ volatile("amoadd.d %0, %2, (%1)" : "=r"(old) : "r"(word), "r"(2UL) : "memory");
    uint32_t old_w;
    __asm__ volatile("amoswap.w %0, %2, (%1)" : "=r"(old_w) : "r"(word), "r"(7U) : "memory");
    ext_puts("amo old ");
    ext_putnum(old);
    ext_puts(" then ");
    ext_putnum(old_w);
    ext_puts(", now ");
    ext_putnum(*word);
    ext_putc('\n');
    check(old == 40 && old_w == 42 && *word == 7, "amo");

    /* Time moves on as the hart runs. */
    uint64_t t0 = now_ns();
    for (volatile int i = 0; i < 1000; i++)
        ;
    uint64_t t1 = now_ns();
    ext_puts("time advances: ");
    ext_puts(t1 > t0 + 1000 ? "yes\n" : "no\n");
    check(t1 > t0 + 1000, "time");

    /* An address error is an access fault of the access's kind. */
    uint32_t v;
    __asm__ volatile(".option push\n.option norvc\nlw %0, 0(%1)\n.option pop" : "=r"(v) : "r"(EXT_HOLE) : "memory");
    ext_puts("load fault: cause ");
    ext_putnum(fault_cause);
    ext_puts(" tval ");
    ext_puthex(fault_tval);
    ext_putc('\n');
    check(faults == 1 && fault_cause == 5 && fault_tval == EXT_HOLE, "load fault");
    __asm__ volatile(".option push\n.option norvc\nsw %0, 4(%1)\n.option pop" :: "r"(v), "r"(EXT_HOLE) : "memory");
    ext_puts("store fault: cause ");
    ext_putnum(fault_cause);
    ext_puts(" tval ");
    ext_puthex(fault_tval);
    ext_putc('\n');
    check(faults == 2 && fault_cause == 7 && fault_tval == EXT_HOLE + 4, "store fault");

    /* The outside's timer interrupts through the PLIC. */
    MMIO32(PLIC_PRIORITY(ALARM_IRQ)) = 1;
    MMIO32(PLIC_ENABLE(ALARM_IRQ / 32)) = 1U << (ALARM_IRQ % 32);
    MMIO32(PLIC_THRESHOLD) = 0;
    set_csr(mie, MIE_MEIE);
    uint64_t armed = now_ns();
    MMIO64(EXT_ALARM) = ALARM_NS;
    set_csr(mstatus, MSTATUS_MIE);
    while (!alarms)
        __asm__ volatile("wfi");
    clear_csr(mstatus, MSTATUS_MIE);
    ext_puts("alarm: source ");
    ext_putnum(alarm_claim);
    ext_puts(", not early: ");
    ext_puts(alarm_time >= armed + ALARM_NS ? "yes\n" : "no\n");
    check(alarms == 1 && alarm_claim == ALARM_IRQ && alarm_time >= armed + ALARM_NS, "alarm");

    ext_puts(failures ? "cosim: FAILED\n" : "cosim: done\n");
    return failures;
}
