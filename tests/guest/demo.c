/*
 * demo.c - the README demo: something to look at, and enough integer work
 * (roughly 90 million instructions) to make the emulator's speed visible.
 *
 *  1. an ASCII Mandelbrot set, computed in 4.28 fixed point
 *  2. primes below 1 million with a sieve of Eratosthenes
 *  3. the longest Collatz chain starting below 100000
 *  4. a bitwise CRC-32 over 128 KiB of pseudo-random bytes
 * All results are deterministic and printed; the program exits 0.
 */
#include "runtime.h"

/* ---- Mandelbrot ------------------------------------------------------ */

#define FRAC      28                    /* fixed point: 4 integer bits */
#define FIX(x)    ((int64_t)((x) * (double)(1L << FRAC)))
#define COLS      72
#define ROWS      28
#define MAX_ITER  256

static int mandel_iterations(int64_t cr, int64_t ci)
{
    int64_t zr = 0, zi = 0;
    int n;

    for (n = 0; n < MAX_ITER; n++) {
        int64_t zr2 = (zr * zr) >> FRAC;
        int64_t zi2 = (zi * zi) >> FRAC;
        if (zr2 + zi2 > FIX(4.0))
            break;
        zi = ((zr * zi) >> (FRAC - 1)) + ci;    /* 2 * zr * zi + ci */
        zr = zr2 - zi2 + cr;
    }
    return n;
}

/* Shade by escape time: thresholds grow roughly geometrically. */
static char shade(int n)
{
    static const short limit[] = { 2, 3, 4, 5, 7, 9, 12, 16, 24, 40, 80, MAX_ITER };
    static const char shades[] = " .,:;-=+*o%#@";   /* '@': did not escape */

    int i = 0;
    while (n >= limit[i] && i < (int)sizeof(limit) / (int)sizeof(limit[0]))
        i++;
    return shades[i];
}

static uint64_t mandelbrot(void)
{
    const int64_t x0 = FIX(-2.2), x1 = FIX(0.8);
    const int64_t y0 = FIX(-1.2), y1 = FIX(1.2);
    uint64_t total = 0;

    for (int row = 0; row < ROWS; row++) {
        int64_t ci = y0 + (y1 - y0) * row / (ROWS - 1);
        for (int col = 0; col < COLS; col++) {
            int64_t cr = x0 + (x1 - x0) * col / (COLS - 1);
            int n = mandel_iterations(cr, ci);
            total += n;
            putchar(shade(n));
        }
        putchar('\n');
    }
    return total;
}

/* ---- primes ------------------------------------------------------------ */

#define SIEVE_N 1000000
static uint8_t composite[SIEVE_N];      /* .bss: costs nothing in the ELF */

static void primes(void)
{
    uint32_t count = 0, twins = 0, last = 0, prev = 0;

    for (uint32_t i = 2; i < SIEVE_N; i++) {
        if (composite[i])
            continue;
        count++;
        if (prev && i - prev == 2)
            twins++;
        prev = last = i;
        for (uint64_t j = (uint64_t)i * i; j < SIEVE_N; j += i)
            composite[j] = 1;
    }
    printf("primes below %d: %u (twin pairs: %u, largest: %u)\n",
           SIEVE_N, count, twins, last);
}

/* ---- Collatz ----------------------------------------------------------- */

#define COLLATZ_N 70000

static void collatz(void)
{
    uint32_t best = 1, best_len = 1;

    for (uint32_t start = 1; start < COLLATZ_N; start++) {
        uint64_t n = start;
        uint32_t len = 1;
        while (n != 1) {
            n = (n & 1) ? 3 * n + 1 : n >> 1;
            len++;
        }
        if (len > best_len) {
            best_len = len;
            best = start;
        }
    }
    printf("longest Collatz chain below %d: starts at %u, %u numbers\n",
           COLLATZ_N, best, best_len);
}

/* ---- CRC-32 ------------------------------------------------------------ */

#define CRC_BYTES (128 * 1024)
static uint8_t crc_data[CRC_BYTES];

static uint32_t crc32_bitwise(const uint8_t *p, size_t n)
{
    uint32_t crc = 0xffffffff;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320 & -(crc & 1));
    }
    return ~crc;
}

static void crc(void)
{
    uint64_t x = 0x9e3779b97f4a7c15;    /* xorshift64 */
    for (int i = 0; i < CRC_BYTES; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        crc_data[i] = (uint8_t)(x >> 24);
    }
    static const char check[] = "123456789";
    printf("crc32(\"123456789\") = 0x%08x (expected 0xcbf43926)\n",
           crc32_bitwise((const uint8_t *)check, 9));
    printf("crc32 of %d pseudo-random bytes = 0x%08x\n", CRC_BYTES,
           crc32_bitwise(crc_data, CRC_BYTES));
}

int main(void)
{
    puts("polyhart demo: Mandelbrot, primes, Collatz and CRC-32 on one RISC-V hart");
    puts("");
    uint64_t iters = mandelbrot();
    printf("\nMandelbrot: %dx%d, %lu iterations in total\n", COLS, ROWS, iters);
    primes();
    collatz();
    crc();
    puts("demo done");
    return 0;
}
