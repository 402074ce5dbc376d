/*
 * skew.c - how far apart the harts' local times drift: the bound that an
 * emulator running its harts in rounds of a quantum must keep.
 *
 * Runs on any number of harts (smp.h).  Every hart takes SKEW_STEPS steps.
 * A step reads the hart's mcycle, publishes it on the hart's own line,
 * compares it with the times the other harts published, keeping the
 * hart's largest lead over any of them, and adds 1 to a shared counter
 * with amoadd.w.  Every SKEW_GATE steps all harts meet in smp_barrier(),
 * where a waiter spins briefly and then sleeps in wfi until the last to
 * arrive wakes it with an IPI.  A hart's time stands still while it sleeps,
 * so from before it enters the barrier until its first step after it, its
 * published time reads 0: unknown, not compared.
 *
 * Hart 0 prints the largest lead of any hart, in cycles, and the longest
 * step, in instructions (minstret): the most from a hart's publishing a
 * time to its next store there.  Then it checks the counter.
 *
 * In polyhart mcycle is the hart's local time, which goes up by one per
 * instruction while the hart runs.  With a bounded quantum, a hart whose
 * published time another hart reads in some round has taken part in every
 * round before it, so its next store comes at a time within that round or
 * later, and the lead stays within quantum + longest step (give or take
 * the instruction between reading mcycle and storing it);
 * tests/multicore.rs checks that.  The step is counted in instructions so
 * that a hart whose time jumped forward while it should have been running
 * (a broken barrier idling it to a round it missed) does not widen the
 * bound.  Not in the manifest: the figures depend on the run, and QEMU's
 * mcycle follows host time.
 */
#include "smp.h"

#ifndef SKEW_STEPS
#define SKEW_STEPS 4000
#endif
#define SKEW_GATE 50

/* One line per hart for each array: [h * 8]. */
static struct {
    SMP_LINE(volatile uint64_t time[SMP_MAX_HARTS * 8]);
    SMP_LINE(volatile uint32_t counter);
    SMP_LINE(volatile uint64_t lead[SMP_MAX_HARTS * 8]);
    SMP_LINE(volatile uint64_t step[SMP_MAX_HARTS * 8]);
} sk __attribute__((aligned(4096)));

static int smp_main(uint32_t me, uint32_t n)
{
    volatile uint64_t *mine = &sk.time[me * 8];
    uint64_t lead = 0, step = 0, published = 0;

    smp_barrier();
    for (uint32_t k = 0; k < SKEW_STEPS; k++) {
        uint64_t now = read_csr(mcycle);
        *mine = now;
        uint64_t count = read_csr(minstret);
        if (published && count - published > step)
            step = count - published;
        published = count;
        for (uint32_t h = 0; h < n; h++) {
            uint64_t theirs = sk.time[h * 8];
            if (theirs && now > theirs && now - theirs > lead)
                lead = now - theirs;
        }
        smp_amoadd_w(&sk.counter, 1);
        if (k % SKEW_GATE == SKEW_GATE - 1) {
            *mine = 0;
            count = read_csr(minstret);
            if (count - published > step)
                step = count - published;
            published = 0;
            smp_barrier();
        }
    }
    sk.lead[me * 8] = lead;
    sk.step[me * 8] = step;
    smp_barrier();

    if (me == 0) {
        for (uint32_t h = 1; h < n; h++) {
            if (sk.lead[h * 8] > lead)
                lead = sk.lead[h * 8];
            if (sk.step[h * 8] > step)
                step = sk.step[h * 8];
        }
        printf("skew: lead %lu cycles, step %lu instructions\n", lead, step);
        if (sk.counter != n * SKEW_STEPS)
            fail(1, "skew: counter != harts * steps");
        printf("skew: counter ok\n");
    }
    return 0;
}
