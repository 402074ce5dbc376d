/*
 * sstc.c - the Sstc extension: stimecmp and menvcfg.STCE.
 *
 *  1. without STCE: M-mode reaches stimecmp, S-mode does not; mip.STIP is
 *     software's
 *  2. with STCE: S-mode reaches stimecmp only while mcounteren.TM is set,
 *     U-mode never; mip.STIP follows time >= stimecmp and ignores writes
 *  3. a supervisor timer interrupt from stimecmp, delegated to S: taken
 *     while S spins, once time has reached stimecmp; writing stimecmp
 *     again lowers STIP
 *  4. S-mode waits in wfi (interrupts masked by sstatus.SIE) until
 *     stimecmp raises STIP; no mtimecmp is armed, so only stimecmp can
 *     wake it
 *
 * PMP entry 0 gives S and U all memory.  Probes run in S or U through
 * run_lower; traps from S/U go to M (only the timer interrupt is
 * delegated), which records them.  Times and counts are never printed,
 * only properties of them, since QEMU's time follows the host clock.
 * A mismatch prints "FAIL: check N (...)" and the program exits with the
 * first failing N.
 */
#include "runtime.h"

#define MSTATUS_MPP   (3UL << 11)
#define SSTATUS_SIE   (1UL << 1)
#define STIP          (1UL << 5)
#define MENVCFG_FIOM  (1UL << 0)
#define MENVCFG_STCE  (1UL << 63)
#define COUNTEREN_TM  (1UL << 1)
#define CAUSE_STI     ((1UL << 63) | 5)
#define EXC_ILLEGAL   2

/* Ticks from now to the deadlines of sections 3 and 4 (1 ms). */
#define DELAY         10000

/* What the last trap to M saw; the layout is shared with the assembly. */
struct trap_record {
    uint64_t cause;     /*  0 */
    uint64_t epc;       /*  8 */
    uint64_t tval;      /* 16 */
    uint64_t count;     /* 24 */
    uint64_t save_t1;   /* 32 */
};
volatile struct trap_record trap;
uint64_t m_ctx[14];

/* The S-mode timer handler's record; the layout is shared with the
   assembly. */
struct s_record {
    uint64_t cause;     /*  0 */
    uint64_t time;      /*  8 */
    uint64_t taken;     /* 16 */
    uint64_t save_t1;   /* 24 */
};
volatile struct s_record s_rec;
/* The deadline S armed. */
volatile uint64_t s_due;

/*
 * run_lower(fn, a0, a1, mode) runs fn(a0, a1) in S (1) or U (0) and
 * returns the a0 of the ecall (a7 = 0x5a5) that ends it, or 0 after any
 * other trap from S/U to M, which is recorded (a trap from M goes to
 * crt0's default handler: none is expected).  s_timer_entry is the S-mode handler
 * of the delegated timer interrupt: it records scause and time, pushes
 * stimecmp to the end of time (lowering STIP) and returns.
 */
__asm__(
    "    .text\n"
    "    .option push\n"
    "    .option norvc\n"
    "    .balign 4\n"
    "    .globl run_lower\n"
    "run_lower:\n"
    "    la    t0, m_ctx\n"
    "    sd    ra, 0(t0)\n"
    "    sd    sp, 8(t0)\n"
    "    sd    s0, 16(t0)\n"
    "    sd    s1, 24(t0)\n"
    "    sd    s2, 32(t0)\n"
    "    sd    s3, 40(t0)\n"
    "    sd    s4, 48(t0)\n"
    "    sd    s5, 56(t0)\n"
    "    sd    s6, 64(t0)\n"
    "    sd    s7, 72(t0)\n"
    "    sd    s8, 80(t0)\n"
    "    sd    s9, 88(t0)\n"
    "    sd    s10, 96(t0)\n"
    "    sd    s11, 104(t0)\n"
    "    csrw  mepc, a0\n"
    "    li    t1, 0x1800\n"
    "    csrc  mstatus, t1\n"
    "    slli  a3, a3, 11\n"
    "    csrs  mstatus, a3\n"
    "    mv    a0, a1\n"
    "    mv    a1, a2\n"
    "    la    ra, lower_exit\n"
    "    mret\n"
    "lower_exit:\n"
    "    li    a7, 0x5a5\n"
    "    ecall\n"
    "    j     lower_exit\n"

    "    .balign 4\n"
    "    .globl m_trap_entry\n"
    "m_trap_entry:\n"
    "    csrw  mscratch, t0\n"
    "    csrr  t0, mstatus\n"
    "    srli  t0, t0, 11\n"
    "    andi  t0, t0, 3\n"
    "    addi  t0, t0, -3\n"
    "    bnez  t0, 2f\n"
    "    csrr  t0, mscratch\n"
    "    j     default_trap_entry\n"
    "2:  la    t0, trap\n"
    "    csrr  t1, mcause\n"
    "    ori   t1, t1, 1\n"              /* 8 (from U) or 9 (from S) -> 9 */
    "    addi  t1, t1, -9\n"
    "    bnez  t1, 1f\n"
    "    li    t1, 0x5a5\n"
    "    beq   a7, t1, m_return\n"
    "1:  csrr  t1, mcause\n"
    "    sd    t1, 0(t0)\n"
    "    csrr  t1, mepc\n"
    "    sd    t1, 8(t0)\n"
    "    csrr  t1, mtval\n"
    "    sd    t1, 16(t0)\n"
    "    ld    t1, 24(t0)\n"
    "    addi  t1, t1, 1\n"
    "    sd    t1, 24(t0)\n"
    "    li    a0, 0\n"
    "m_return:\n"
    "    la    t0, m_ctx\n"
    "    ld    ra, 0(t0)\n"
    "    ld    sp, 8(t0)\n"
    "    ld    s0, 16(t0)\n"
    "    ld    s1, 24(t0)\n"
    "    ld    s2, 32(t0)\n"
    "    ld    s3, 40(t0)\n"
    "    ld    s4, 48(t0)\n"
    "    ld    s5, 56(t0)\n"
    "    ld    s6, 64(t0)\n"
    "    ld    s7, 72(t0)\n"
    "    ld    s8, 80(t0)\n"
    "    ld    s9, 88(t0)\n"
    "    ld    s10, 96(t0)\n"
    "    ld    s11, 104(t0)\n"
    "    ret\n"

    "    .balign 4\n"
    "    .globl s_timer_entry\n"
    "s_timer_entry:\n"
    "    csrw  sscratch, t0\n"
    "    la    t0, s_rec\n"
    "    sd    t1, 24(t0)\n"
    "    csrr  t1, time\n"
    "    sd    t1, 8(t0)\n"
    "    csrr  t1, scause\n"
    "    sd    t1, 0(t0)\n"
    "    li    t1, 1\n"
    "    sd    t1, 16(t0)\n"
    "    li    t1, -1\n"
    "    csrw  0x14d, t1\n"               /* stimecmp */
    "    ld    t1, 24(t0)\n"
    "    csrr  t0, sscratch\n"
    "    sret\n"

    /* probes */
    "    .globl read_stimecmp, write_stimecmp\n"
    "read_stimecmp:\n"
    "    csrr  a0, 0x14d\n"
    "    ret\n"
    "write_stimecmp:\n"
    "    csrw  0x14d, a0\n"
    "    li    a0, 1\n"
    "    ret\n"
    "    .option pop\n");

uint64_t run_lower(const void *fn, uint64_t a0, uint64_t a1, uint64_t mode);
extern char m_trap_entry[], default_trap_entry[], s_timer_entry[];
extern char read_stimecmp[], write_stimecmp[];
#define ADDR(sym) ((uint64_t)(uintptr_t)(sym))

#define read_stimecmp_csr()   read_csr(0x14d)
#define write_stimecmp_csr(v) write_csr(0x14d, (v))

static int checks, first_failure;

static void expect(const char *what, uint64_t got, uint64_t want)
{
    checks++;
    if (got == want)
        return;
    printf("FAIL: check %d (%s): got 0x%lx, expected 0x%lx\n", checks, what,
           got, want);
    if (!first_failure)
        first_failure = checks > 254 ? 254 : checks;
}

static void yes_no(const char *what, int value)
{
    printf("  %-52s %s\n", what, value ? "yes" : "no");
    expect(what, value != 0, 1);
}

static void clear_trap(void)
{
    trap.cause = trap.epc = trap.tval = trap.count = 0;
}

/* A stimecmp probe in S (1) or U (0): prints "ok" or the trap's cause. */
static uint64_t probe(const char *name, const char *fn, uint64_t mode,
                      uint64_t arg, uint64_t want_cause)
{
    uint64_t r;
    clear_trap();
    r = run_lower(fn, arg, 0, mode);
    printf("  %s %-50s ", mode ? "S" : "U", name);
    if (trap.count)
        printf("trap cause=%lu\n", trap.cause);
    else
        puts("ok");
    expect(name, trap.count ? trap.cause : 0, want_cause);
    return r;
}

static uint64_t mip_stip(void)
{
    return (read_csr(mip) & STIP) ? 1 : 0;
}

static void without_stce(void)
{
    puts("-- menvcfg.STCE = 0");
    write_csr(menvcfg, 0);
    write_csr(mcounteren, COUNTEREN_TM);
    write_stimecmp_csr(0x123456789abcdefUL);
    printf("  M reads stimecmp back: 0x%lx\n", read_stimecmp_csr());
    expect("stimecmp", read_stimecmp_csr(), 0x123456789abcdefUL);
    write_stimecmp_csr(~0UL);
    probe("csrr stimecmp (STCE = 0)", read_stimecmp, 1, 0, EXC_ILLEGAL);
    probe("csrw stimecmp (STCE = 0)", write_stimecmp, 1, 0, EXC_ILLEGAL);
    set_csr(mip, STIP);
    printf("  mip.STIP after csrs: %lu\n", mip_stip());
    expect("STIP set by software", mip_stip(), 1);
    clear_csr(mip, STIP);
    printf("  mip.STIP after csrc: %lu\n", mip_stip());
    expect("STIP cleared by software", mip_stip(), 0);
}

static void with_stce(void)
{
    uint64_t r;

    puts("-- menvcfg.STCE = 1");
    write_csr(menvcfg, MENVCFG_STCE | MENVCFG_FIOM);
    printf("  menvcfg STCE and FIOM read back: 0x%lx\n",
           read_csr(menvcfg) & (MENVCFG_STCE | MENVCFG_FIOM));
    expect("menvcfg", read_csr(menvcfg) & (MENVCFG_STCE | MENVCFG_FIOM),
           MENVCFG_STCE | MENVCFG_FIOM);
    write_csr(mcounteren, 0);
    probe("csrr stimecmp (mcounteren.TM = 0)", read_stimecmp, 1, 0,
          EXC_ILLEGAL);
    write_csr(mcounteren, COUNTEREN_TM);
    write_csr(scounteren, COUNTEREN_TM);
    probe("csrw stimecmp = 0x1234", write_stimecmp, 1, 0x1234, 0);
    r = probe("csrr stimecmp", read_stimecmp, 1, 0, 0);
    expect("S reads stimecmp", r, 0x1234);
    probe("csrr stimecmp", read_stimecmp, 0, 0, EXC_ILLEGAL);

    write_stimecmp_csr(~0UL);
    printf("  mip.STIP with stimecmp at the end of time: %lu\n", mip_stip());
    expect("STIP low", mip_stip(), 0);
    set_csr(mip, STIP);
    printf("  mip.STIP after csrs (read-only): %lu\n", mip_stip());
    expect("STIP read-only", mip_stip(), 0);
    write_stimecmp_csr(0);
    printf("  mip.STIP with stimecmp = 0: %lu\n", mip_stip());
    expect("STIP high", mip_stip(), 1);
    clear_csr(mip, STIP);
    printf("  mip.STIP after csrc (read-only): %lu\n", mip_stip());
    expect("STIP still high", mip_stip(), 1);
    write_stimecmp_csr(read_csr(time) + 1000 * DELAY);
    printf("  mip.STIP with stimecmp in the future: %lu\n", mip_stip());
    expect("STIP low again", mip_stip(), 0);
}

/* S-mode: arm stimecmp DELAY ticks ahead and spin with interrupts on
   until the handler has run; returns the spins. */
static uint64_t s_spin(uint64_t unused0, uint64_t unused1)
{
    uint64_t spins = 0;
    (void)unused0;
    (void)unused1;
    write_csr(stvec, ADDR(s_timer_entry));
    write_csr(sie, STIP);
    s_due = read_csr(time) + DELAY;
    write_stimecmp_csr(s_due);
    set_csr(sstatus, SSTATUS_SIE);
    while (!s_rec.taken)
        spins++;
    clear_csr(sstatus, SSTATUS_SIE);
    return spins;
}

/* S-mode: arm stimecmp and wait in wfi with SIE clear; returns 1 if STIP
   is pending after the wait and time has reached stimecmp. */
static uint64_t s_wait(uint64_t unused0, uint64_t unused1)
{
    uint64_t due;
    (void)unused0;
    (void)unused1;
    clear_csr(sstatus, SSTATUS_SIE);
    write_csr(sie, STIP);
    due = read_csr(time) + DELAY;
    write_stimecmp_csr(due);
    while (!(read_csr(sip) & STIP))
        __asm__ volatile("wfi");
    return read_csr(time) >= due;
}

static void interrupt(void)
{
    uint64_t spins, due;

    puts("-- a supervisor timer interrupt from stimecmp");
    write_csr(mideleg, STIP);
    s_rec.taken = 0;
    clear_trap();
    spins = run_lower(s_spin, 0, 0, 1);
    due = read_stimecmp_csr();
    expect("no trap to M", trap.count, 0);
    printf("  scause: 0x%lx\n", s_rec.cause);
    expect("scause", s_rec.cause, CAUSE_STI);
    yes_no("S ran before the interrupt", spins > 0);
    yes_no("time at the handler >= stimecmp", s_rec.time >= s_due);
    yes_no("the handler's stimecmp write lowered STIP",
           due == ~0UL && mip_stip() == 0);

    puts("-- waiting for stimecmp in wfi");
    clear_trap();
    yes_no("woken with STIP pending, time past the deadline",
           run_lower(s_wait, 0, 0, 1) == 1 && trap.count == 0);
    write_stimecmp_csr(~0UL);
    write_csr(mideleg, 0);
}

int main(void)
{
    puts("sstc: stimecmp and menvcfg.STCE");
    write_csr(mtvec, ADDR(m_trap_entry));
    write_csr(medeleg, 0);
    write_csr(mideleg, 0);
    write_csr(pmpaddr0, 0x003fffffffffffffUL);
    write_csr(pmpcfg0, 0x1f);

    without_stce();
    with_stce();
    interrupt();

    write_csr(menvcfg, 0);
    write_csr(mtvec, ADDR(default_trap_entry));
    if (first_failure) {
        printf("FAIL: %d checks, first failure: check %d\n", checks,
               first_failure);
        return first_failure;
    }
    printf("%d checks\n", checks);
    puts("PASS");
    return 0;
}
