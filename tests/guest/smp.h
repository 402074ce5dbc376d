/*
 * smp.h - start-up, hart count, barriers and sleeping waits for the C
 * multi-hart guest programs (atomics, litmus, bench_par).
 *
 * A program that includes this header defines
 *
 *     static int smp_main(uint32_t hart, uint32_t nharts);
 *
 * and gets main() and secondary_main() from here: every hart runs smp_main
 * once the hart count is known; hart 0's return value is the exit status.
 * smp_main must end with smp_barrier() (or otherwise wait for the other
 * harts) before hart 0 returns, because returning exits the machine.
 *
 * The same ELF runs on any number of harts (1..SMP_MAX_HARTS; harts from 8
 * up are parked by crt0).  The count is found at run time:
 *
 *  1. From the device tree.  The reset ROM (QEMU virt, reproduced by
 *     polyhart) enters 0x80000000 with a0 = mhartid and a1 = the device
 *     tree's address; crt0 leaves a0/a1 untouched on hart 0 up to
 *     `call main`, so main(hartid, dtb) receives them.  The harts are the
 *     /cpus/cpu@N nodes.  The address is used only if it is in RAM, aligned
 *     and holds the FDT magic, and the walk is bounded by the header sizes.
 *  2. Every hart then registers (amoadd on smp.arrived) and hart 0 waits,
 *     for a bounded number of polls, until as many harts as the device tree
 *     lists have arrived; fewer is a failure ("FAIL: smp: ...", status 250).
 *  3. Without a usable device tree, hart 0 instead waits until the arrival
 *     count has stayed the same for SMP_QUIET_POLLS polls.  The secondaries
 *     are already spinning on crt0's boot flag when hart 0 reaches main, so
 *     they register within a few instructions (deterministic runner: within
 *     their next quantum); the quiet period is far longer than that.
 *
 * Waiting: SMP_WAIT_UNTIL(cond) spins for SMP_SPIN_TICKS of the `time` CSR
 * (mtime, 10 MHz; at most SMP_SPIN_POLLS polls, in case time stands still),
 * then sleeps in wfi with only the machine software interrupt enabled in
 * mie (mstatus.MIE stays 0, so no trap is taken).  A hart that makes a
 * condition true calls smp_wake(h), which raises h's CLINT msip only if h
 * announced that it sleeps.  "sleeping = 1; fence; check cond" against
 * "cond = true; fence; read sleeping" is store buffering with full fences
 * on both sides, so a wake-up is never lost.  Spinning for a time rather
 * than a number of polls suits both kinds of emulator: on QEMU (mtime is
 * host time) it is a fixed few microseconds however fast the loop runs; on
 * polyhart (mtime follows the hart's own cycle count) it is a fixed number
 * of instructions, so a deterministic round-robin runner, where a partner
 * can never make progress while we spin, loses little of each quantum.
 * SMP_WAIT_UNTIL_SPIN(cond, ticks) and smp_barrier_spin(ticks) spin longer
 * where harts must leave a wait together (litmus handshakes, atomics'
 * gates): if the waiter sleeps, the hart that arrived last runs ahead alone
 * while the others wake up, and the harts never overlap.
 *
 * Shared state lives on pages without code: QEMU takes a slow path for
 * stores to a page holding translated code, and a stop-the-world one for
 * AMOs there (about 45 us per AMO with 8 harts).
 */
#ifndef POLYHART_GUEST_SMP_H
#define POLYHART_GUEST_SMP_H

#include "runtime.h"

#define SMP_MAX_HARTS    8          /* crt0 parks harts >= 8 (link.ld) */
#ifndef SMP_SPIN_TICKS
#define SMP_SPIN_TICKS   30         /* spin this long (mtime ticks, 10 MHz) */
#endif
#define SMP_SPIN_POLLS   (1u << 16) /* ... or this many polls, then sleep */
#define SMP_QUIET_POLLS  (1u << 20) /* fallback: arrivals stable this long */
#define SMP_ARRIVE_POLLS (1u << 26) /* with a device tree: give up after */
#define SMP_FAIL_STATUS  250

#define MIP_MSIP (1u << 3)

/* Full fence, devices included (the CLINT's msip is I/O). */
#define smp_mb()      __asm__ volatile ("fence iorw, iorw" ::: "memory")
#define smp_rmb()     __asm__ volatile ("fence r, r" ::: "memory")
#define smp_wmb()     __asm__ volatile ("fence w, w" ::: "memory")
#define smp_acquire() __asm__ volatile ("fence r, rw" ::: "memory")
#define smp_release() __asm__ volatile ("fence rw, w" ::: "memory")

static inline uint32_t smp_hartid(void)
{
    return (uint32_t)read_csr(mhartid);
}

/* Shared state (.bss, cleared by hart 0 before anybody reads it). */
#define SMP_LINE(decl) decl __attribute__((aligned(64)))
static struct {
    SMP_LINE(volatile uint32_t arrived);        /* harts registered */
    volatile uint32_t arrived_mask;             /* their mhartid bits */
    volatile uint32_t published;                /* hart count, 0 = not yet */
    uint32_t nharts;                            /* everybody's copy */
    SMP_LINE(volatile uint32_t bar_count);
    SMP_LINE(volatile uint32_t bar_gen);
    SMP_LINE(volatile uint32_t sleeping[SMP_MAX_HARTS * 16]); /* [h * 16] */
} smp __attribute__((aligned(4096)));

static inline uint32_t smp_amoadd_w(volatile uint32_t *p, uint32_t v)
{
    uint32_t old;
    __asm__ volatile ("amoadd.w.aqrl %0, %2, %1"
                      : "=r"(old), "+A"(*p) : "r"(v) : "memory");
    return old;
}

static inline void smp_amoor_w(volatile uint32_t *p, uint32_t v)
{
    __asm__ volatile ("amoor.w.aqrl zero, %1, %0"
                      : "+A"(*p) : "r"(v) : "memory");
}

/* Announce that hart `me` is about to sleep (smp_wake reads this). */
static inline void smp_sleep_prepare(uint32_t me)
{
    smp.sleeping[me * 16] = 1;
    smp_mb();
}

/* Awake again: drop the wake-up (or a stale one) and the announcement. */
static inline void smp_sleep_done(uint32_t me)
{
    MMIO32(CLINT_MSIP(me)) = 0;
    smp.sleeping[me * 16] = 0;
    smp_mb();
}

static inline uint64_t smp_time(void)
{
    return read_csr(time);
}

#define SMP_WAIT_UNTIL(cond) SMP_WAIT_UNTIL_SPIN(cond, SMP_SPIN_TICKS)

#define SMP_WAIT_UNTIL_SPIN(cond, ticks) do {                           \
        if (!(cond)) {                                                  \
            uint64_t t0_ = smp_time();                                  \
            for (uint32_t spun_ = 0; !(cond); spun_++) {                \
                if (spun_ < SMP_SPIN_POLLS &&                           \
                    smp_time() - t0_ < (ticks))                         \
                    continue;                                           \
                uint32_t me_ = smp_hartid();                            \
                smp_sleep_prepare(me_);                                 \
                if (!(cond))                                            \
                    __asm__ volatile ("wfi" ::: "memory");              \
                smp_sleep_done(me_);                                    \
            }                                                           \
        }                                                               \
        smp_acquire();                                                  \
    } while (0)

/* After making a condition true: wake hart h if it sleeps. */
static inline void smp_wake(uint32_t h)
{
    smp_mb();
    if (smp.sleeping[h * 16])
        MMIO32(CLINT_MSIP(h)) = 1;
}

/*
 * All smp.nharts harts meet here; full ordering across it.  A waiting hart
 * spins `ticks` of mtime before it sleeps: long enough, and all harts leave
 * the barrier together instead of the last one running ahead while the
 * others wake up.
 */
static void smp_barrier_spin(uint64_t ticks)
{
    uint32_t n = smp.nharts;
    uint32_t gen = smp.bar_gen;
    /* .aqrl: the load of gen above happens before our arrival counts. */
    if (smp_amoadd_w(&smp.bar_count, 1) == n - 1) {
        smp.bar_count = 0;
        smp_mb();
        smp.bar_gen = gen + 1;
        uint32_t me = smp_hartid();
        for (uint32_t h = 0; h < n; h++)
            if (h != me)
                smp_wake(h);
    } else {
        SMP_WAIT_UNTIL_SPIN(smp.bar_gen != gen, ticks);
    }
    smp_mb();
}

static void smp_barrier(void)
{
    smp_barrier_spin(SMP_SPIN_TICKS);
}

/* ---- the device tree: count /cpus/cpu@N ------------------------------- */

static inline uint32_t smp_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | p[3];
}

/* Number of cpu@ nodes under /cpus, 0 when `dtb` is not a device tree. */
static uint32_t smp_fdt_count_cpus(uintptr_t dtb)
{
    if (dtb < 0x80000000UL || dtb >= 0x80000000UL + (1UL << 30) || (dtb & 3))
        return 0;
    const uint8_t *base = (const uint8_t *)dtb;
    if (smp_be32(base) != 0xd00dfeed)
        return 0;
    uint32_t total = smp_be32(base + 4);
    uint32_t off = smp_be32(base + 8), size = smp_be32(base + 36);
    if (total > (1u << 20) || off >= total || size > total - off || (off & 3))
        return 0;

    uint32_t depth = 0, cpus_depth = 0, count = 0;
    uint32_t pos = off, end = off + size;
    while (pos + 4 <= end) {
        uint32_t token = smp_be32(base + pos);
        pos += 4;
        if (token == 1) {                       /* FDT_BEGIN_NODE */
            const char *name = (const char *)base + pos;
            uint32_t len = 0;
            while (pos + len < end && name[len])
                len++;
            depth++;
            if (depth == 2 && len == 4 && memcmp(name, "cpus", 4) == 0)
                cpus_depth = 2;
            else if (cpus_depth && depth == 3 && len > 4 &&
                     memcmp(name, "cpu@", 4) == 0)
                count++;
            pos += (len + 1 + 3) & ~3u;
        } else if (token == 2) {                /* FDT_END_NODE */
            if (depth == cpus_depth)
                cpus_depth = 0;
            if (depth == 0)
                return 0;
            depth--;
        } else if (token == 3) {                /* FDT_PROP */
            if (pos + 8 > end)
                return 0;
            uint32_t len = smp_be32(base + pos);
            pos += 8 + ((len + 3) & ~3u);
        } else if (token == 4) {                /* FDT_NOP */
        } else if (token == 9) {                /* FDT_END */
            break;
        } else {
            return 0;
        }
    }
    return count;
}

/* ---- start-up ------------------------------------------------------------ */

static int smp_main(uint32_t hart, uint32_t nharts);

static void smp_register(uint32_t hart)
{
    write_csr(mie, MIP_MSIP);       /* wfi wakes on msip; mstatus.MIE = 0 */
    MMIO32(CLINT_MSIP(hart)) = 0;
    smp_mb();
    smp_amoor_w(&smp.arrived_mask, 1u << hart);
    smp_amoadd_w(&smp.arrived, 1);
}

/* crt0 calls main(a0, a1) with the reset ROM's a0 = mhartid, a1 = dtb. */
int main(long hartid_arg, uintptr_t dtb)
{
    (void)hartid_arg;
    smp_register(0);

    uint32_t n = smp_fdt_count_cpus(dtb);
    if (n > SMP_MAX_HARTS)
        n = SMP_MAX_HARTS;
    if (n) {
        uint32_t polls = 0;
        while (smp.arrived < n && ++polls < SMP_ARRIVE_POLLS)
            ;
        if (smp.arrived != n) {
            printf("FAIL: smp: %u of %u harts arrived (mask 0x%x)\n",
                   smp.arrived, n, smp.arrived_mask);
            exit(SMP_FAIL_STATUS);
        }
    } else {
        uint32_t last = smp.arrived, quiet = 0;
        while (quiet < SMP_QUIET_POLLS) {
            uint32_t now = smp.arrived;
            quiet = now == last ? quiet + 1 : 0;
            last = now;
        }
        n = last;
    }
    if (smp.arrived_mask != (1u << n) - 1) {
        printf("FAIL: smp: arrival mask 0x%x for %u harts\n",
               smp.arrived_mask, n);
        exit(SMP_FAIL_STATUS);
    }
    smp.nharts = n;
    smp_mb();
    smp.published = n;
    for (uint32_t h = 1; h < n; h++)
        smp_wake(h);
    return smp_main(0, n);
}

void secondary_main(uint64_t hartid);
void secondary_main(uint64_t hartid)
{
    uint32_t hart = (uint32_t)hartid;
    smp_register(hart);
    SMP_WAIT_UNTIL(smp.published != 0);
    smp.nharts = smp.published;
    smp_main(hart, smp.nharts);
    /* Park quietly in crt0's wfi loop: no interrupt can wake us any more. */
    write_csr(mie, 0);
    MMIO32(CLINT_MSIP(hart)) = 0;
}

#endif
