/*
 * litmus.c - memory-model litmus tests between pairs of harts.
 *
 * Harts pair up as (0,1), (2,3), ...; a hart without a partner (the only
 * hart of a 1-hart run, the last of an odd count) plays both roles itself,
 * one after the other, which
 * can only give allowed outcomes, so the output is the same for any hart
 * count (smp.h finds the count; the manifest runs it with 4).
 *
 * ITERS iterations; each starts with a handshake between the two harts of
 * the pair (each publishes a sequence number, then waits for the other's,
 * spinning up to 10 us before it sleeps so that both leave together), then
 * one side delays by 0..31 loop turns that vary with i, to vary the two
 * sides' relative timing, and then both run every test below, in order,
 * each on its own fresh zeroed words x and y (per test, pair and
 * iteration).  At the end the even hart of each pair counts the outcomes
 * the RISC-V memory model (RVWMO) forbids (A = even hart, B = odd hart):
 *
 *   sb (fence rw,rw)             A: x=1; fence rw,rw; r0=y
 *                                B: y=1; fence rw,rw; r1=x
 *                                forbidden: r0=0 and r1=0
 *   sb (amoswap.w.aqrl)          A: amoswap.w.aqrl x=1; r0=y  (B symmetric)
 *   lb (fence r,w)               A: r0=x; fence r,w; y=1
 *                                B: r1=y; fence r,w; x=1
 *                                forbidden: r0=1 and r1=1
 *   corr                         A: x=1; x=2; ... x=8 (plain stores)
 *                                B: eight plain loads of x
 *                                forbidden: a load older than the one before
 *   mp (fence w,w / fence r,r)   A: x=1; fence w,w; y=1
 *                                B: poll y (up to 64 times); fence r,r; read x
 *                                forbidden: B saw y=1 and then x=0
 *   mp (amoswap.w.rl / amoor.w.aq)  the same with a release AMO setting y
 *                                and acquire AMOs (amoor.w.aq of 0) reading it
 *
 * Prints "litmus: <test>: forbidden 0" for each; any forbidden outcome makes
 * it print the count and end with "FAIL: ..." and status 1.
 *
 * Built with -DLITMUS_VERBOSE it also prints every outcome's count (these
 * depend on timing and the hart count, so they are not in the expected
 * output) and runs unfenced mp and sb, whose relaxed outcomes are allowed:
 * seeing them shows that the harts really overlapped and that the test can
 * catch a reordering on that emulator and host.  (QEMU and polyhart on an
 * x86 host show unfenced sb's r0=0,r1=0 now and then; TSO hosts never
 * reorder mp.)  Outcome codes: mp's B is (saw y) << 1 | (saw x).
 */
#include "smp.h"

#ifndef ITERS
#define ITERS 2000
#endif
#define NPAIRS     (SMP_MAX_HARTS / 2)
#define MP_POLLS   64
#ifndef LITMUS_SPIN_TICKS
#define LITMUS_SPIN_TICKS 100      /* handshake: spin 10 us before sleeping */
#endif

/* Handshake sequence numbers, one line per hart. */
static struct {
    volatile uint32_t seq;
    uint32_t pad[15];
} arrive[SMP_MAX_HARTS] __attribute__((aligned(4096)));

struct test {
    const char *name;
    /* The two roles; each returns what it observed (a small code). */
    uint32_t (*a)(volatile uint32_t *x, volatile uint32_t *y);
    uint32_t (*b)(volatile uint32_t *x, volatile uint32_t *y);
    int (*forbidden)(uint32_t a, uint32_t b);
    int relaxed;
};

/* ---- message passing ---------------------------------------------------- */

static uint32_t mp_fence_a(volatile uint32_t *x, volatile uint32_t *y)
{
    __asm__ volatile ("sw %2, %0\n\tfence w, w\n\tsw %2, %1"
                      : "=m"(*x), "=m"(*y) : "r"(1) : "memory");
    return 0;
}

/* Returns (flag seen) << 1 | (data seen). */
static uint32_t mp_fence_b(volatile uint32_t *x, volatile uint32_t *y)
{
    uint32_t flag, data, k = MP_POLLS;
    __asm__ volatile (
        "1: lw      %0, %3\n"
        "   bnez    %0, 2f\n"
        "   addi    %2, %2, -1\n"
        "   bnez    %2, 1b\n"
        "2: fence   r, r\n"
        "   lw      %1, %4\n"
        : "=&r"(flag), "=&r"(data), "+r"(k) : "m"(*y), "m"(*x) : "memory");
    return (flag != 0) << 1 | (data != 0);
}

static uint32_t mp_amo_a(volatile uint32_t *x, volatile uint32_t *y)
{
    __asm__ volatile ("sw %2, %0\n\tamoswap.w.rl zero, %2, %1"
                      : "=m"(*x), "+A"(*y) : "r"(1) : "memory");
    return 0;
}

static uint32_t mp_amo_b(volatile uint32_t *x, volatile uint32_t *y)
{
    uint32_t flag, data, k = MP_POLLS;
    __asm__ volatile (
        "1: amoor.w.aq %0, zero, %3\n"
        "   bnez    %0, 2f\n"
        "   addi    %2, %2, -1\n"
        "   bnez    %2, 1b\n"
        "2: lw      %1, %4\n"
        : "=&r"(flag), "=&r"(data), "+r"(k), "+A"(*y) : "m"(*x) : "memory");
    return (flag != 0) << 1 | (data != 0);
}

static int mp_forbidden(uint32_t a, uint32_t b)
{
    (void)a;
    return b == 2;                      /* flag 1, data 0 */
}

/* ---- store buffering ---------------------------------------------------- */

static uint32_t sb_fence_a(volatile uint32_t *x, volatile uint32_t *y)
{
    uint32_t r;
    __asm__ volatile ("sw %2, %1\n\tfence rw, rw\n\tlw %0, %3"
                      : "=&r"(r), "=m"(*x) : "r"(1), "m"(*y) : "memory");
    return r;
}

static uint32_t sb_fence_b(volatile uint32_t *x, volatile uint32_t *y)
{
    return sb_fence_a(y, x);
}

static uint32_t sb_amo_a(volatile uint32_t *x, volatile uint32_t *y)
{
    uint32_t r;
    __asm__ volatile ("amoswap.w.aqrl zero, %2, %1\n\tlw %0, %3"
                      : "=&r"(r), "+A"(*x) : "r"(1), "m"(*y) : "memory");
    return r;
}

static uint32_t sb_amo_b(volatile uint32_t *x, volatile uint32_t *y)
{
    return sb_amo_a(y, x);
}

static int sb_forbidden(uint32_t a, uint32_t b)
{
    return a == 0 && b == 0;
}

/* ---- load buffering ----------------------------------------------------- */

static uint32_t lb_fence_a(volatile uint32_t *x, volatile uint32_t *y)
{
    uint32_t r;
    __asm__ volatile ("lw %0, %2\n\tfence r, w\n\tsw %3, %1"
                      : "=&r"(r), "=m"(*y) : "m"(*x), "r"(1) : "memory");
    return r;
}

static uint32_t lb_fence_b(volatile uint32_t *x, volatile uint32_t *y)
{
    return lb_fence_a(y, x);
}

static int lb_forbidden(uint32_t a, uint32_t b)
{
    return a != 0 && b != 0;
}

/* ---- read-read coherence ------------------------------------------------ */

static uint32_t corr_a(volatile uint32_t *x, volatile uint32_t *y)
{
    (void)y;
    __asm__ volatile (
        "li t0, 1\n\tsw t0, %0\n\tli t0, 2\n\tsw t0, %0\n\t"
        "li t0, 3\n\tsw t0, %0\n\tli t0, 4\n\tsw t0, %0\n\t"
        "li t0, 5\n\tsw t0, %0\n\tli t0, 6\n\tsw t0, %0\n\t"
        "li t0, 7\n\tsw t0, %0\n\tli t0, 8\n\tsw t0, %0\n\t"
        : "=m"(*x) :: "t0", "memory");
    return 0;
}

/* Returns 1 if a later load saw an older value than an earlier one. */
static uint32_t corr_b(volatile uint32_t *x, volatile uint32_t *y)
{
    (void)y;
    uint32_t v[8];
    __asm__ volatile (
        "lw %0, %8\n\tlw %1, %8\n\tlw %2, %8\n\tlw %3, %8\n\t"
        "lw %4, %8\n\tlw %5, %8\n\tlw %6, %8\n\tlw %7, %8\n\t"
        : "=&r"(v[0]), "=&r"(v[1]), "=&r"(v[2]), "=&r"(v[3]),
          "=&r"(v[4]), "=&r"(v[5]), "=&r"(v[6]), "=&r"(v[7])
        : "m"(*x) : "memory");
    uint32_t bad = 0;
    for (int i = 1; i < 8; i++)
        bad |= v[i] < v[i - 1];
    return bad;
}

static int corr_forbidden(uint32_t a, uint32_t b)
{
    (void)a;
    return b != 0;
}

#ifdef LITMUS_VERBOSE
/* Unfenced variants: their relaxed outcomes are allowed. */
static uint32_t mp_plain_a(volatile uint32_t *x, volatile uint32_t *y)
{
    __asm__ volatile ("sw %2, %0\n\tsw %2, %1"
                      : "=m"(*x), "=m"(*y) : "r"(1) : "memory");
    return 0;
}

static uint32_t mp_plain_b(volatile uint32_t *x, volatile uint32_t *y)
{
    uint32_t flag, data, k = MP_POLLS;
    __asm__ volatile (
        "1: lw      %0, %3\n"
        "   bnez    %0, 2f\n"
        "   addi    %2, %2, -1\n"
        "   bnez    %2, 1b\n"
        "2: lw      %1, %4\n"
        : "=&r"(flag), "=&r"(data), "+r"(k) : "m"(*y), "m"(*x) : "memory");
    return (flag != 0) << 1 | (data != 0);
}

static uint32_t sb_plain_a(volatile uint32_t *x, volatile uint32_t *y)
{
    uint32_t r;
    __asm__ volatile ("sw %2, %1\n\tlw %0, %3"
                      : "=&r"(r), "=m"(*x) : "r"(1), "m"(*y) : "memory");
    return r;
}

static uint32_t sb_plain_b(volatile uint32_t *x, volatile uint32_t *y)
{
    return sb_plain_a(y, x);
}
#endif

/*
 * One iteration runs every test, in this order, right after the handshake:
 * the store-buffering tests first, where the two sides' timing matters most.
 * A test marked `relaxed` (verbose builds only) has no forbidden outcome.
 */
static const struct test tests[] = {
    { "sb (fence rw,rw)", sb_fence_a, sb_fence_b, sb_forbidden, 0 },
#ifdef LITMUS_VERBOSE
    { "sb (no fences, relaxed allowed)", sb_plain_a, sb_plain_b, sb_forbidden, 1 },
#endif
    { "sb (amoswap.w.aqrl)", sb_amo_a, sb_amo_b, sb_forbidden, 0 },
    { "lb (fence r,w)", lb_fence_a, lb_fence_b, lb_forbidden, 0 },
    { "corr", corr_a, corr_b, corr_forbidden, 0 },
    { "mp (fence w,w / fence r,r)", mp_fence_a, mp_fence_b, mp_forbidden, 0 },
#ifdef LITMUS_VERBOSE
    { "mp (no fences, relaxed allowed)", mp_plain_a, mp_plain_b, mp_forbidden, 1 },
#endif
    { "mp (amoswap.w.rl / amoor.w.aq)", mp_amo_a, mp_amo_b, mp_forbidden, 0 },
};
#define NTESTS (sizeof tests / sizeof tests[0])

/* Per test, pair and iteration: fresh locations x and y, zeroed by crt0. */
static volatile uint32_t loc_x[NTESTS][NPAIRS][ITERS] __attribute__((aligned(4096)));
static volatile uint32_t loc_y[NTESTS][NPAIRS][ITERS] __attribute__((aligned(4096)));
/* What each side observed: res_a from the even hart, res_b from the odd. */
static uint32_t res_a[NTESTS][NPAIRS][ITERS] __attribute__((aligned(4096)));
static uint32_t res_b[NTESTS][NPAIRS][ITERS] __attribute__((aligned(4096)));

static volatile uint32_t forbidden_total[NTESTS] __attribute__((aligned(4096)));
#ifdef LITMUS_VERBOSE
static volatile uint32_t outcomes[NTESTS][16];
#endif

/* ---- handshake and timing skew ------------------------------------------ */

static void pair_sync(uint32_t me, uint32_t partner, uint32_t *seq)
{
    uint32_t s = ++*seq;
    smp_mb();
    arrive[me].seq = s;
    smp_wake(partner);
    SMP_WAIT_UNTIL_SPIN(arrive[partner].seq >= s, LITMUS_SPIN_TICKS);
}

static void delay(uint32_t n)
{
    while (n--)
        __asm__ volatile ("" ::: "memory");
}

/* 0..31 turns for one side of iteration i, none for the other. */
static uint32_t skew(uint32_t i, uint32_t side)
{
    uint32_t h = i * 2654435761u;
    return (h >> 31) == side ? (h >> 26) & 31 : 0;
}

static void run_iteration(uint32_t pair, uint32_t side, uint32_t i)
{
    for (uint32_t t = 0; t < NTESTS; t++) {
        volatile uint32_t *x = &loc_x[t][pair][i], *y = &loc_y[t][pair][i];
        if (side == 0)
            res_a[t][pair][i] = tests[t].a(x, y);
        else
            res_b[t][pair][i] = tests[t].b(x, y);
    }
}

static int smp_main(uint32_t me, uint32_t n)
{
    uint32_t pair = me / 2, side = me & 1, partner = me ^ 1;
    uint32_t seq = 0;

    if (partner >= n) {
        /* No partner: both roles, one after the other. */
        for (uint32_t i = 0; i < ITERS; i++) {
            run_iteration(pair, 0, i);
            run_iteration(pair, 1, i);
        }
    } else {
        for (uint32_t i = 0; i < ITERS; i++) {
            pair_sync(me, partner, &seq);
            delay(skew(i, side));
            run_iteration(pair, side, i);
        }
    }
    smp_barrier();

    /* The even hart of each pair counts its pair's outcomes. */
    if (side == 0) {
        for (uint32_t t = 0; t < NTESTS; t++) {
            uint32_t bad = 0;
#ifdef LITMUS_VERBOSE
            uint32_t hist[16] = { 0 };
#endif
            for (uint32_t i = 0; i < ITERS; i++) {
                uint32_t a = res_a[t][pair][i], b = res_b[t][pair][i];
                bad += tests[t].forbidden(a, b) != 0;
#ifdef LITMUS_VERBOSE
                hist[(a & 3) << 2 | (b & 3)]++;
#endif
            }
            smp_amoadd_w(&forbidden_total[t], bad);
#ifdef LITMUS_VERBOSE
            for (int k = 0; k < 16; k++)
                smp_amoadd_w(&outcomes[t][k], hist[k]);
#endif
        }
    }
    smp_barrier();
    if (me != 0)
        return 0;

    uint32_t bad = 0;
    for (uint32_t t = 0; t < NTESTS; t++) {
        printf("litmus: %s: forbidden %u", tests[t].name, forbidden_total[t]);
#ifdef LITMUS_VERBOSE
        printf("; outcomes (a,b):");
        for (int k = 0; k < 16; k++)
            if (outcomes[t][k])
                printf(" (%d,%d)=%u", k >> 2, k & 3, outcomes[t][k]);
#endif
        putchar('\n');
        if (!tests[t].relaxed)
            bad += forbidden_total[t];
    }
    if (bad)
        fail(1, "litmus: forbidden outcomes seen");
    puts("litmus: PASS");
    return 0;
}
