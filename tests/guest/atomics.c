/*
 * atomics.c - AMOs and LR/SC from every hart at once on shared words.
 *
 * Runs on any number of harts (smp.h finds the count in the device tree;
 * the manifest runs it with 4).  Each phase is a barrier, every hart's work,
 * a barrier, and hart 0's check against a total computed from the hart
 * count, so the output is the same for any count and any interleaving.
 * Within a phase the harts meet every CHUNK iterations (see gate()), so
 * they really run the phase at the same time:
 *
 *  - amoadd.w / amoadd.d: M increments per hart give exactly harts * M
 *    (the .d counter starts just below 2^32 and adds 2^32 + 1, so carries
 *    between the halves count); every amoadd.w returns a distinct old value
 *    (checked with an amoor.w bitmap: no bit may be set twice, all
 *    harts * M end up set).
 *  - lr.w/sc.w (plain) increment loop: exact total, distinct old values;
 *    lr.d.aq/sc.d.rl loop applying the same I-only function f to a 64-bit
 *    word: the result must be f applied exactly harts * M times.  Both are
 *    constrained LR/SC loops (<= 16 base-ISA instructions, no loads,
 *    stores, or backward branches other than the retry).
 *  - amoadd.w and lr.w/sc.w alternating on one word: an AMO from another
 *    hart must break a reservation, so no update is lost.
 *  - Spinlocks around plain (non-atomic) lw/addi/sw read-modify-writes:
 *    one acquired with amoswap.w.aq and released with amoswap.w.rl, one with
 *    a plain amoswap.w + fence r,rw and released with fence rw,w + sw.
 *    Inside, the owner word must stay ours and two counters stay equal;
 *    the counters end at exactly harts * M.
 *  - amomax/amomin/amomaxu/amominu .w and .d with pseudo-random values: the
 *    result is the max/min over every hart's values (computed by hart 0),
 *    and the old values one hart gets back never go backwards (coherence).
 *    amoxor.d/amoand.d/amoor.d: order-independent final values.
 *  - SC after another hart's plain store to the reserved word (harts 0 and
 *    1, skipped with 1 hart): hart 0 does lr.w, hart 1 stores a different
 *    value, hart 0's sc.w must fail and leave hart 1's value.
 *
 * A failed check prints "FAIL: ..." and exits with the check's number.
 * Built with -DATOMICS_VERBOSE it also prints how often SCs failed and
 * locks were found taken (timing-dependent, so not in the expected output):
 * all zero means the harts never overlapped and the run proved little.
 */
#include "smp.h"

#define M_AMOADD   20000
#define M_LRSC     20000
#define M_MIXED    10000
#define M_LOCK     10000
#define M_MINMAX   2000
#define M_SC_FAIL  200
#define CHUNK      1000             /* iterations between gates */
#define GATE_SPIN  2000             /* mtime ticks (200 us) */

/*
 * Every CHUNK iterations all harts meet in a barrier whose waiters spin
 * (up to GATE_SPIN) instead of sleeping at once, so that they leave it
 * together and really contend.  Without it, on QEMU the last hart to arrive
 * ran its whole chunk before the others had woken up, and the phases never
 * overlapped at all.
 */
static inline void gate(uint32_t k)
{
    if (k % CHUNK == 0)
        smp_barrier_spin(GATE_SPIN);
}

/*
 * The shared words, each on its own 64-byte line, all on pages without code
 * (QEMU takes a slow, stop-the-world path for AMOs on a page that holds
 * translated code).
 */
#define LINE(decl) decl __attribute__((aligned(64)))
static struct {
    LINE(volatile uint32_t amoadd_w);
    LINE(volatile uint64_t amoadd_d);
    LINE(volatile uint32_t lrsc_w);
    LINE(volatile uint64_t lrsc_d);
    LINE(volatile uint32_t mixed);
    LINE(volatile uint32_t lock_a);
    LINE(volatile uint32_t lock_b);
    LINE(volatile uint32_t sc_word);
    LINE(volatile uint32_t sc_step);
    LINE(volatile uint32_t sc_result);
    LINE(volatile uint32_t lock_violations);
    LINE(volatile uint32_t order_violations);
    LINE(volatile uint32_t dup_values);
    LINE(volatile uint32_t retries[3]);         /* diagnostics, see below */
    /* Plain data protected by the locks. */
    struct __attribute__((aligned(64))) {
        volatile uint32_t owner, a, b;
    } locked[2];
    struct __attribute__((aligned(64))) {
        volatile int32_t max_w, min_w;
        volatile uint32_t maxu_w, minu_w;
        volatile int64_t max_d, min_d;
        volatile uint64_t maxu_d, minu_d;
        volatile uint64_t xor_d, and_d, or_d;
    } mm;
} sh __attribute__((aligned(4096)));

#define BITMAP_WORDS (SMP_MAX_HARTS * (M_AMOADD > M_LRSC ? M_AMOADD : M_LRSC) / 32 + 1)
static volatile uint32_t seen_amoadd[BITMAP_WORDS] __attribute__((aligned(4096)));
static volatile uint32_t seen_lrsc[BITMAP_WORDS] __attribute__((aligned(4096)));

#define AMOADD_D_START 0xfffffff0ULL
#define AMOADD_D_INC   0x100000001ULL
#define LRSC_D_SEED    0x0123456789abcdefULL
#define F_CONST        0x9e3779b97f4a7c15ULL

/* The function the lr.d/sc.d loop applies: base-ISA instructions only. */
static uint64_t f(uint64_t x)
{
    return ((x << 7) | (x >> 57)) + F_CONST;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* The k-th value hart h feeds to the min/max AMOs. */
static uint64_t mm_value(uint32_t h, uint32_t k)
{
    return mix64(((uint64_t)h << 32 | k) + 1);
}

static void check(int ok, int code, const char *what)
{
    if (!ok)
        fail(code, what);
    printf("atomics: %s: ok\n", what);
}

/* Marks `v` in a bitmap with amoor.w; returns 1 if it was already there. */
static int mark(volatile uint32_t *bitmap, uint32_t v)
{
    uint32_t bit = 1u << (v & 31), old;
    __asm__ volatile ("amoor.w %0, %2, %1"
                      : "=r"(old), "+A"(bitmap[v >> 5]) : "r"(bit) : "memory");
    return (old & bit) != 0;
}

static int bitmap_full(volatile uint32_t *bitmap, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (!(bitmap[i >> 5] & (1u << (i & 31))))
            return 0;
    return 1;
}

/* ---- phases ------------------------------------------------------------ */

static void do_amoadd(void)
{
    uint32_t dups = 0;
    for (uint32_t k = 0; k < M_AMOADD; k++) {
        gate(k);
        uint32_t old;
        __asm__ volatile ("amoadd.w %0, %2, %1"
                          : "=r"(old), "+A"(sh.amoadd_w) : "r"(1) : "memory");
        dups += mark(seen_amoadd, old);
        __asm__ volatile ("amoadd.d zero, %1, %0"
                          : "+A"(sh.amoadd_d) : "r"(AMOADD_D_INC) : "memory");
    }
    smp_amoadd_w(&sh.dup_values, dups);
}

static void do_lrsc(void)
{
    uint32_t dups = 0;
    uint64_t retries = 0;
    for (uint32_t k = 0; k < M_LRSC; k++) {
        gate(k);
        uint32_t old, tmp, fail_;
        __asm__ volatile (
            "1: lr.w    %0, %3\n"
            "   addiw   %1, %0, 1\n"
            "   sc.w    %2, %1, %3\n"
            "   beqz    %2, 2f\n"
            "   addi    %4, %4, 1\n"
            "   j       1b\n"
            "2:\n"
            : "=&r"(old), "=&r"(tmp), "=&r"(fail_), "+A"(sh.lrsc_w), "+r"(retries)
            :: "memory");
        dups += mark(seen_lrsc, old);

        uint64_t x, t1, t2;
        __asm__ volatile (
            "1: lr.d.aq %0, %3\n"
            "   slli    %1, %0, 7\n"
            "   srli    %2, %0, 57\n"
            "   or      %1, %1, %2\n"
            "   add     %1, %1, %5\n"
            "   sc.d.rl %2, %1, %3\n"
            "   beqz    %2, 2f\n"
            "   addi    %4, %4, 1\n"
            "   j       1b\n"
            "2:\n"
            : "=&r"(x), "=&r"(t1), "=&r"(t2), "+A"(sh.lrsc_d), "+r"(retries)
            : "r"(F_CONST) : "memory");
    }
    smp_amoadd_w(&sh.dup_values, dups);
    smp_amoadd_w(&sh.retries[0], (uint32_t)retries);
}

static void do_mixed(void)
{
    uint64_t retries = 0;
    for (uint32_t k = 0; k < M_MIXED; k++) {
        gate(k);
        __asm__ volatile ("amoadd.w zero, %1, %0"
                          : "+A"(sh.mixed) : "r"(1) : "memory");
        uint32_t v, fail_;
        __asm__ volatile (
            "1: lr.w    %0, %2\n"
            "   addiw   %0, %0, 1\n"
            "   sc.w    %1, %0, %2\n"
            "   beqz    %1, 2f\n"
            "   addi    %3, %3, 1\n"
            "   j       1b\n"
            "2:\n"
            : "=&r"(v), "=&r"(fail_), "+A"(sh.mixed), "+r"(retries) :: "memory");
    }
    smp_amoadd_w(&sh.retries[1], (uint32_t)retries);
}

static uint32_t lock_aqrl(volatile uint32_t *lock)
{
    for (uint32_t tries = 0;; tries++) {
        uint32_t old;
        __asm__ volatile ("amoswap.w.aq %0, %2, %1"
                          : "=r"(old), "+A"(*lock) : "r"(1) : "memory");
        if (!old)
            return tries;
        while (*lock)
            ;
    }
}

static void unlock_aqrl(volatile uint32_t *lock)
{
    __asm__ volatile ("amoswap.w.rl zero, zero, %0" : "+A"(*lock) :: "memory");
}

static uint32_t lock_fence(volatile uint32_t *lock)
{
    for (uint32_t tries = 0;; tries++) {
        uint32_t old;
        __asm__ volatile ("amoswap.w %0, %2, %1\n\tfence r, rw"
                          : "=r"(old), "+A"(*lock) : "r"(1) : "memory");
        if (!old)
            return tries;
        while (*lock)
            ;
    }
}

static void unlock_fence(volatile uint32_t *lock)
{
    __asm__ volatile ("fence rw, w\n\tsw zero, %0" : "=m"(*lock) :: "memory");
}

/* The critical section: plain loads and stores only. */
static uint32_t critical(int which, uint32_t me)
{
    uint32_t bad = 0;
    sh.locked[which].owner = me + 1;
    uint32_t a = sh.locked[which].a, b = sh.locked[which].b;
    bad += a != b;
    sh.locked[which].a = a + 1;
    sh.locked[which].b = sh.locked[which].b + 1;
    bad += sh.locked[which].owner != me + 1;
    return bad;
}

static void do_locks(uint32_t me)
{
    uint32_t bad = 0, retries = 0;
    for (uint32_t k = 0; k < M_LOCK; k++) {
        gate(k);
        retries += lock_aqrl(&sh.lock_a);
        bad += critical(0, me);
        unlock_aqrl(&sh.lock_a);

        retries += lock_fence(&sh.lock_b);
        bad += critical(1, me);
        unlock_fence(&sh.lock_b);
    }
    smp_amoadd_w(&sh.lock_violations, bad);
    smp_amoadd_w(&sh.retries[2], retries);
}

#define AMO_W(op, var, v) ({ uint32_t o_; __asm__ volatile (op " %0, %2, %1" \
        : "=r"(o_), "+A"(var) : "r"((uint32_t)(v)) : "memory"); o_; })
#define AMO_D(op, var, v) ({ uint64_t o_; __asm__ volatile (op " %0, %2, %1" \
        : "=r"(o_), "+A"(var) : "r"((uint64_t)(v)) : "memory"); o_; })

static void do_minmax(uint32_t me)
{
    uint32_t bad = 0;
    int32_t last_max_w = INT32_MIN, last_min_w = INT32_MAX;
    uint32_t last_maxu_w = 0, last_minu_w = UINT32_MAX;
    int64_t last_max_d = INT64_MIN, last_min_d = INT64_MAX;
    uint64_t last_maxu_d = 0, last_minu_d = UINT64_MAX;

    for (uint32_t k = 0; k < M_MINMAX; k++) {
        gate(k);
        uint64_t v = mm_value(me, k);
        int32_t o_max_w = (int32_t)AMO_W("amomax.w", sh.mm.max_w, v);
        int32_t o_min_w = (int32_t)AMO_W("amomin.w", sh.mm.min_w, v >> 8);
        uint32_t o_maxu_w = AMO_W("amomaxu.w", sh.mm.maxu_w, v >> 16);
        uint32_t o_minu_w = AMO_W("amominu.w", sh.mm.minu_w, v >> 24);
        int64_t o_max_d = (int64_t)AMO_D("amomax.d.aq", sh.mm.max_d, v);
        int64_t o_min_d = (int64_t)AMO_D("amomin.d.rl", sh.mm.min_d, v * 3);
        uint64_t o_maxu_d = AMO_D("amomaxu.d.aqrl", sh.mm.maxu_d, v * 5);
        uint64_t o_minu_d = AMO_D("amominu.d", sh.mm.minu_d, v * 7);
        AMO_D("amoxor.d", sh.mm.xor_d, v);
        AMO_D("amoand.d", sh.mm.and_d, ~(1ULL << ((me * 8 + k) & 63)));
        AMO_D("amoor.d", sh.mm.or_d, 1ULL << (((me * 8 + k) & 63) ^ 63));

        /* Later AMOs by this hart see the word no earlier than before. */
        bad += o_max_w < last_max_w;
        bad += o_min_w > last_min_w;
        bad += o_maxu_w < last_maxu_w;
        bad += o_minu_w > last_minu_w;
        bad += o_max_d < last_max_d;
        bad += o_min_d > last_min_d;
        bad += o_maxu_d < last_maxu_d;
        bad += o_minu_d > last_minu_d;
        last_max_w = o_max_w;
        last_min_w = o_min_w;
        last_maxu_w = o_maxu_w;
        last_minu_w = o_minu_w;
        last_max_d = o_max_d;
        last_min_d = o_min_d;
        last_maxu_d = o_maxu_d;
        last_minu_d = o_minu_d;
    }
    smp_amoadd_w(&sh.order_violations, bad);
}

/*
 * Hart 0 reserves sh.sc_word with lr.w, hart 1 stores to it with a plain sw,
 * then hart 0's sc.w must fail.  The handshake runs between the LR and the
 * SC, so this is not a constrained loop: the SC may fail anyway, which is
 * allowed; what is checked is that it never succeeds.
 */
static void do_sc_fail(uint32_t me)
{
    for (uint32_t k = 1; k <= M_SC_FAIL; k++) {
        if (me == 0) {
            uint32_t v, rc;
            sh.sc_word = 2 * k;
            smp_mb();
            __asm__ volatile ("lr.w %0, %1" : "=r"(v), "+A"(sh.sc_word) :: "memory");
            smp_mb();
            sh.sc_step = 2 * k - 1;                /* "reserved": hart 1 may store */
            smp_wake(1);
            SMP_WAIT_UNTIL(sh.sc_step == 2 * k);   /* hart 1 has stored */
            __asm__ volatile ("sc.w %0, %2, %1"
                              : "=r"(rc), "+A"(sh.sc_word) : "r"(v + 100) : "memory");
            if (rc == 0 || sh.sc_word != 2 * k + 1)
                sh.sc_result = sh.sc_result + 1;
        } else if (me == 1) {
            SMP_WAIT_UNTIL(sh.sc_step == 2 * k - 1);
            sh.sc_word = 2 * k + 1;
            smp_mb();
            sh.sc_step = 2 * k;
            smp_wake(0);
        }
    }
}

static int smp_main(uint32_t me, uint32_t n)
{
    if (me == 0) {
        sh.amoadd_d = AMOADD_D_START;
        sh.lrsc_d = LRSC_D_SEED;
        sh.mm.max_w = INT32_MIN;
        sh.mm.min_w = INT32_MAX;
        sh.mm.maxu_w = 0;
        sh.mm.minu_w = UINT32_MAX;
        sh.mm.max_d = INT64_MIN;
        sh.mm.min_d = INT64_MAX;
        sh.mm.maxu_d = 0;
        sh.mm.minu_d = UINT64_MAX;
        sh.mm.xor_d = 0;
        sh.mm.and_d = ~0ULL;
        sh.mm.or_d = 0;
    }
    smp_barrier();

    do_amoadd();
    smp_barrier();
    if (me == 0) {
        check(sh.amoadd_w == n * M_AMOADD, 1, "amoadd.w total == harts * M");
        check(sh.amoadd_d == AMOADD_D_START + (uint64_t)n * M_AMOADD * AMOADD_D_INC,
              2, "amoadd.d total == start + harts * M * (2^32 + 1)");
        check(sh.dup_values == 0 && bitmap_full(seen_amoadd, n * M_AMOADD), 3,
              "amoadd.w old values distinct and complete");
    }
    smp_barrier();

    do_lrsc();
    smp_barrier();
    if (me == 0) {
        uint64_t expect = LRSC_D_SEED;
        for (uint32_t i = 0; i < n * M_LRSC; i++)
            expect = f(expect);
        check(sh.lrsc_w == n * M_LRSC, 4, "lr.w/sc.w total == harts * M");
        check(sh.dup_values == 0 && bitmap_full(seen_lrsc, n * M_LRSC), 5,
              "lr.w/sc.w old values distinct and complete");
        check(sh.lrsc_d == expect, 6, "lr.d.aq/sc.d.rl: f applied harts * M times");
    }
    smp_barrier();

    do_mixed();
    smp_barrier();
    if (me == 0)
        check(sh.mixed == 2 * n * M_MIXED, 7, "amoadd.w + lr.w/sc.w on one word: no lost update");
    smp_barrier();

    do_locks(me);
    smp_barrier();
    if (me == 0) {
        check(sh.lock_violations == 0, 8, "spinlocks: mutual exclusion held");
        check(sh.locked[0].a == n * M_LOCK && sh.locked[0].b == n * M_LOCK, 9,
              "amoswap.w.aq/.rl lock: plain counter == harts * M");
        check(sh.locked[1].a == n * M_LOCK && sh.locked[1].b == n * M_LOCK, 10,
              "amoswap.w + fence lock: plain counter == harts * M");
    }
    smp_barrier();

    do_minmax(me);
    smp_barrier();
    if (me == 0) {
        int32_t max_w = INT32_MIN, min_w = INT32_MAX;
        uint32_t maxu_w = 0, minu_w = UINT32_MAX;
        int64_t max_d = INT64_MIN, min_d = INT64_MAX;
        uint64_t maxu_d = 0, minu_d = UINT64_MAX, xor_d = 0, and_d = ~0ULL, or_d = 0;
        for (uint32_t h = 0; h < n; h++)
            for (uint32_t k = 0; k < M_MINMAX; k++) {
                uint64_t v = mm_value(h, k);
                if ((int32_t)v > max_w) max_w = (int32_t)v;
                if ((int32_t)(v >> 8) < min_w) min_w = (int32_t)(v >> 8);
                if ((uint32_t)(v >> 16) > maxu_w) maxu_w = (uint32_t)(v >> 16);
                if ((uint32_t)(v >> 24) < minu_w) minu_w = (uint32_t)(v >> 24);
                if ((int64_t)v > max_d) max_d = (int64_t)v;
                if ((int64_t)(v * 3) < min_d) min_d = (int64_t)(v * 3);
                if (v * 5 > maxu_d) maxu_d = v * 5;
                if (v * 7 < minu_d) minu_d = v * 7;
                xor_d ^= v;
                and_d &= ~(1ULL << ((h * 8 + k) & 63));
                or_d |= 1ULL << (((h * 8 + k) & 63) ^ 63);
            }
        check(sh.mm.max_w == max_w && sh.mm.min_w == min_w &&
              sh.mm.maxu_w == maxu_w && sh.mm.minu_w == minu_w, 11,
              "amomax/amomin/amomaxu/amominu.w: extremes of all harts' values");
        check(sh.mm.max_d == max_d && sh.mm.min_d == min_d &&
              sh.mm.maxu_d == maxu_d && sh.mm.minu_d == minu_d, 12,
              "amomax/amomin/amomaxu/amominu.d: extremes of all harts' values");
        check(sh.mm.xor_d == xor_d && sh.mm.and_d == and_d && sh.mm.or_d == or_d, 13,
              "amoxor/amoand/amoor.d: combined values");
        check(sh.order_violations == 0, 14, "min/max old values never go backwards");
    }
    smp_barrier();

    if (n >= 2)
        do_sc_fail(me);
    smp_barrier();
    if (me == 0) {
        check(sh.sc_result == 0, 15, "sc.w after another hart's store to the word fails");
#ifdef ATOMICS_VERBOSE
        /* How much the harts contended (timing-dependent, so not in the
           expected output): 0 everywhere means they never overlapped. */
        printf("atomics: retries: lr/sc %u, mixed lr/sc %u, locks %u\n",
               sh.retries[0], sh.retries[1], sh.retries[2]);
#endif
        puts("atomics: PASS");
    }
    return 0;
}
