/*
 * timer.c - machine timer and software interrupts through the CLINT.
 *
 *  - mtime advances; mip.MTIP follows mtime >= mtimecmp while masked
 *  - 5 timer interrupts, each taken from wfi, the handler re-arming
 *    mtimecmp; none arrives before mtime reaches mtimecmp
 *  - wfi wakes up for a pending, enabled interrupt even with mstatus.MIE = 0
 *    (no trap is taken then)
 *  - a machine software interrupt to itself through msip, pending in
 *    mip.MSIP while masked, taken as soon as mstatus.MIE is set
 * Only counts and yes/no properties are printed: the timer runs on host
 * time on QEMU and on instruction counts elsewhere.
 */
#include "runtime.h"

#define MIE_MSIE        (1UL << 3)
#define MIE_MTIE        (1UL << 7)
#define MSTATUS_MIE     (1UL << 3)
#define CAUSE_INTERRUPT (1UL << 63)
#define IRQ_M_SOFT      3
#define IRQ_M_TIMER     7

/* 10000 ticks = 1 ms at QEMU virt's 10 MHz timebase. */
#define INTERVAL        10000
#define WANTED_TICKS    5

static volatile uint64_t timer_irqs, soft_irqs, early_irqs, last_cause;
static volatile uint64_t armed_at;      /* the mtimecmp value last written */

static inline uint64_t mtime(void) { return MMIO64(CLINT_MTIME); }

static inline void set_mtimecmp(uint64_t v) { MMIO64(CLINT_MTIMECMP(0)) = v; }

static void arm(uint64_t delta)
{
    armed_at = mtime() + delta;
    set_mtimecmp(armed_at);
}

/* Called from trap_entry (runtime.c) with all caller-saved registers saved. */
void handle_trap(uint64_t cause, uint64_t epc, uint64_t tval)
{
    last_cause = cause;
    if (cause == (CAUSE_INTERRUPT | IRQ_M_TIMER)) {
        if (mtime() < armed_at)
            early_irqs++;
        timer_irqs++;
        if (timer_irqs < WANTED_TICKS)
            arm(INTERVAL);
        else
            set_mtimecmp(~0UL);     /* disarm: clears MTIP */
    } else if (cause == (CAUSE_INTERRUPT | IRQ_M_SOFT)) {
        soft_irqs++;
        MMIO32(CLINT_MSIP(0)) = 0;  /* acknowledge */
    } else {
        printf("unexpected trap mcause=0x%lx mepc=0x%lx mtval=0x%lx\n",
               cause, epc, tval);
        exit(255);
    }
}


static const char *yn(int b) { return b ? "yes" : "no"; }

int main(void)
{
    int ok = 1;

    puts("timer: CLINT machine timer and software interrupts");
    set_mtimecmp(~0UL);
    write_csr(mie, 0);
    write_csr(mtvec, (uint64_t)trap_entry);

    /* mtime moves */
    uint64_t t0 = mtime();
    for (volatile int i = 0; i < 10000; i++)
        ;
    int moved = mtime() > t0;
    printf("timer: mtime advancing: %s\n", yn(moved));
    ok &= moved;

    /* MTIP reflects mtime >= mtimecmp, whatever mie/mstatus say */
    set_mtimecmp(0);
    int pend = (read_csr(mip) & MIE_MTIE) != 0;
    set_mtimecmp(~0UL);
    int clear = (read_csr(mip) & MIE_MTIE) == 0;
    printf("timer: mip.MTIP set when mtimecmp <= mtime: %s, clear after re-arm: %s\n",
           yn(pend), yn(clear));
    ok &= pend && clear;

    /* 5 interrupts from wfi; the handler re-arms each time */
    uint64_t start = mtime();
    arm(INTERVAL);
    write_csr(mie, MIE_MTIE);
    set_csr(mstatus, MSTATUS_MIE);
    long spins = 0;
    while (timer_irqs < WANTED_TICKS && spins < 1000000) {
        __asm__ volatile("wfi");
        spins++;
    }
    clear_csr(mstatus, MSTATUS_MIE);
    write_csr(mie, 0);
    printf("timer: %lu interrupts\n", timer_irqs);
    printf("timer: mcause of the last one: 0x%lx\n", last_cause);
    printf("timer: never before mtimecmp: %s\n", yn(early_irqs == 0));
    int elapsed = mtime() - start >= WANTED_TICKS * INTERVAL;
    printf("timer: mtime advanced by at least 5 intervals: %s\n", yn(elapsed));
    ok &= timer_irqs == WANTED_TICKS && early_irqs == 0 && elapsed;

    /* wfi wakes for an enabled pending interrupt even with MIE = 0 */
    uint64_t before = timer_irqs;
    write_csr(mie, MIE_MTIE);
    arm(INTERVAL);
    spins = 0;
    while (!(read_csr(mip) & MIE_MTIE) && spins < 1000000) {
        __asm__ volatile("wfi");
        spins++;
    }
    int woke = (read_csr(mip) & MIE_MTIE) != 0;
    set_mtimecmp(~0UL);
    write_csr(mie, 0);
    printf("timer: wfi with MIE=0 woke on MTIP: %s, trap taken: %s\n",
           yn(woke), yn(timer_irqs != before));
    ok &= woke && timer_irqs == before;

    /* software interrupt to ourselves: pending while masked, then taken */
    write_csr(mie, MIE_MSIE);
    MMIO32(CLINT_MSIP(0)) = 1;
    int msip_pending = (read_csr(mip) & MIE_MSIE) != 0;
    int not_taken = soft_irqs == 0;
    set_csr(mstatus, MSTATUS_MIE);
    __asm__ volatile("nop");
    clear_csr(mstatus, MSTATUS_MIE);
    int cleared = (read_csr(mip) & MIE_MSIE) == 0;
    printf("msip: pending in mip while MIE=0: %s, not taken: %s\n",
           yn(msip_pending), yn(not_taken));
    printf("msip: %s, mcause=0x%lx, msip cleared by handler: %s\n",
           soft_irqs == 1 ? "taken" : "NOT taken", last_cause, yn(cleared));
    ok &= msip_pending && not_taken && soft_irqs == 1 && cleared;

    /* and once more, raised while interrupts are enabled */
    set_csr(mstatus, MSTATUS_MIE);
    MMIO32(CLINT_MSIP(0)) = 1;
    for (volatile int i = 0; i < 10; i++)
        ;
    clear_csr(mstatus, MSTATUS_MIE);
    write_csr(mie, 0);
    printf("msip: raised with MIE=1: %s\n", soft_irqs == 2 ? "taken" : "NOT taken");
    ok &= soft_irqs == 2;

    if (!ok) {
        puts("FAIL: timer");
        return 1;
    }
    puts("PASS");
    return 0;
}
