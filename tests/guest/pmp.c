/*
 * pmp.c - physical memory protection, as QEMU's virt machine enforces it.
 *
 * M-mode programs PMP entries and runs one-instruction probes in S or U
 * (mret with MPP = S/U; the probe returns to lower_exit, whose ecall with
 * a7 = MAGIC hands control back to M) or in M itself.  Traps from S/U are
 * recorded and end the run; traps from M are recorded and resume after the
 * probe.  Nothing is delegated, so every trap lands in M.
 *
 *  1. CSRs: pmpaddr holds 54 bits (granularity 4 bytes); pmpcfg bytes read
 *     back as written
 *  2. S and U data accesses: NA4, TOR (base from the entry below, which is
 *     off), NAPOT; R/W permissions; the lowest-numbered matching entry
 *     decides; an access partly inside its first matching entry fails
 *     even where a later entry allows it all
 *  3. accesses that match no entry fail for S and U, fetches included, and
 *     succeed for M
 *  4. PMP writes apply at once to what S already accessed
 *  5. MPRV: M-mode loads and stores checked as MPP's
 *  6. Sv39: the walk's PTE reads are S-mode reads (an access fault of the
 *     original kind, not a page fault, also for a fetch), and the physical
 *     address a page maps to is checked
 *  7. locked entries (last: a lock holds until reset) bind M-mode loads,
 *     stores and fetches, partial matches included; writes to a locked
 *     entry, and to the address below a locked TOR entry, are ignored
 *
 * Test regions are whole pages of .bss (page[0..3]); code only ever runs
 * from pages PMP treats alike (QEMU 7.2 checks fetches once per page, so
 * code running into a part of its page that PMP does not let it execute
 * goes on there, where polyhart, as the spec says, faults).  Addresses are printed relative to the page they lie in.  Each
 * result is checked in the program: a mismatch prints
 * "FAIL: check N (...)" and the program exits with the first failing N.
 */
#include "runtime.h"

#define MAGIC        0x5a5

#define MSTATUS_MPP  (3UL << 11)
#define MSTATUS_MPRV (1UL << 17)
#define MPP_U        (0UL << 11)
#define MPP_S        (1UL << 11)
#define MPP_M        (3UL << 11)

#define PMP_R        0x01UL
#define PMP_W        0x02UL
#define PMP_X        0x04UL
#define PMP_TOR      0x08UL
#define PMP_NA4      0x10UL
#define PMP_NAPOT    0x18UL
#define PMP_L        0x80UL

#define PTE_V  0x01UL
#define PTE_R  0x02UL
#define PTE_W  0x04UL
#define PTE_X  0x08UL
#define PTE_A  0x40UL
#define PTE_D  0x80UL
#define PTE_PPN(pa)  (((uint64_t)(uintptr_t)(pa) >> 12) << 10)
#define SATP_SV39    (8UL << 60)

#define EXC_FETCH_ACCESS  1
#define EXC_LOAD_ACCESS   5
#define EXC_STORE_ACCESS  7

#define PAGE        4096UL
#define RAM_BASE    0x80000000UL
#define ALL_NAPOT   0x003fffffffffffffUL   /* NAPOT over every address */
#define VA          0x40000000UL           /* Sv39: l0 entry 0 -> page[2] */

#define NPAGES 4
static uint8_t page[NPAGES][PAGE] __attribute__((aligned(4096)));
static uint64_t root[512] __attribute__((aligned(4096)));
static uint64_t l1[512] __attribute__((aligned(4096)));
static uint64_t l0[512] __attribute__((aligned(4096)));
#define P(i)   ((uint64_t)(uintptr_t)page[i])

/* What the last trap saw; the layout is shared with the assembly below. */
struct trap_record {
    uint64_t cause;     /*  0 */
    uint64_t epc;       /*  8 */
    uint64_t tval;      /* 16 */
    uint64_t count;     /* 24 */
    uint64_t save_t1;   /* 32 */
};
volatile struct trap_record trap;
uint64_t m_ctx[14];     /* ra, sp, s0..s11 of run_lower's caller */

/*
 * run_lower(fn, a0, a1, mode): fn(a0, a1) in S (mode 1) or U (mode 0) with
 * ra = lower_exit; returns the a0 of the ecall that ends it.
 *
 * m_trap_entry: an ecall from S/U with a7 = MAGIC returns from run_lower;
 * any other trap from S/U is recorded and returns from run_lower too.  A
 * trap from M is recorded and resumes after the faulting instruction, or,
 * for a fetch fault, at ra (the probe was called).
 *
 * Probes are single instructions followed by ret, without compression, so
 * that "after the faulting instruction" is mepc + 4.
 */
/* Records mcause, mepc and mtval in trap (t0 = &trap), counts the trap. */
#define RECORD \
    "    csrr  t1, mcause\n" \
    "    sd    t1, 0(t0)\n" \
    "    csrr  t1, mepc\n" \
    "    sd    t1, 8(t0)\n" \
    "    csrr  t1, mtval\n" \
    "    sd    t1, 16(t0)\n" \
    "    ld    t1, 24(t0)\n" \
    "    addi  t1, t1, 1\n" \
    "    sd    t1, 24(t0)\n"
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
    "    la    t0, trap\n"
    "    sd    t1, 32(t0)\n"
    "    csrr  t1, mstatus\n"
    "    srli  t1, t1, 11\n"
    "    andi  t1, t1, 3\n"
    "    addi  t1, t1, -3\n"
    "    beqz  t1, 3f\n"
    "    csrr  t1, mcause\n"
    "    ori   t1, t1, 1\n"              /* 8 (from U) or 9 (from S) -> 9 */
    "    addi  t1, t1, -9\n"
    "    bnez  t1, 1f\n"
    "    li    t1, 0x5a5\n"
    "    beq   a7, t1, m_return\n"
    "1:\n"
    RECORD
    "    j     m_return\n"
    "3:\n"                               /* from M: go on */
    RECORD
    "    csrr  t1, mcause\n"
    "    addi  t1, t1, -1\n"
    "    bnez  t1, 4f\n"
    "    csrw  mepc, ra\n"
    "    j     5f\n"
    "4:  csrr  t1, mepc\n"
    "    addi  t1, t1, 4\n"
    "    csrw  mepc, t1\n"
    "5:  ld    t1, 32(t0)\n"
    "    csrr  t0, mscratch\n"
    "    mret\n"
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

    "    .globl probe_ld, probe_lw, probe_sd, probe_sw, probe_jr\n"
    "probe_ld:\n"
    "    ld    a0, 0(a0)\n"
    "    ret\n"
    "probe_lw:\n"
    "    lw    a0, 0(a0)\n"
    "    ret\n"
    "probe_sd:\n"
    "    sd    a1, 0(a0)\n"
    "    ret\n"
    "probe_sw:\n"
    "    sw    a1, 0(a0)\n"
    "    ret\n"
    "probe_jr:\n"
    "    jr    a0\n"
    "    .option pop\n");

uint64_t run_lower(const void *fn, uint64_t a0, uint64_t a1, uint64_t mode);
extern char m_trap_entry[], default_trap_entry[];
extern char probe_ld[], probe_lw[], probe_sd[], probe_sw[], probe_jr[];
#define ADDR(sym) ((uint64_t)(uintptr_t)(sym))

/* ---- PMP registers ---- */

#define write_pmpaddr(n, v) write_csr(pmpaddr##n, (v))

/* pmpcfg byte of entry i (0..15) set to cfg, other entries kept. */
static void set_cfg(int i, uint64_t cfg)
{
    int shift = 8 * (i % 8);
    uint64_t mask = 0xffUL << shift;
    if (i < 8)
        write_csr(pmpcfg0, (read_csr(pmpcfg0) & ~mask) | (cfg << shift));
    else
        write_csr(pmpcfg2, (read_csr(pmpcfg2) & ~mask) | (cfg << shift));
}

static void clear_pmp(void)
{
    write_csr(pmpcfg0, 0);
    write_csr(pmpcfg2, 0);
}

static uint64_t napot(uint64_t base, uint64_t size)
{
    return (base | (size / 2 - 1)) >> 2;
}

/* ---- checks ---- */

static int checks, first_failure;
static uint64_t scratch;

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

static void clear_trap(void)
{
    trap.cause = trap.epc = trap.tval = trap.count = 0;
}

/* Prints addr as pageN+off, code+off (the probes and their harness), or
   hex. */
static void show_addr(uint64_t addr)
{
    for (int i = 0; i < NPAGES; i++) {
        if (addr - P(i) < PAGE) {
            printf("page%d+0x%lx", i, addr - P(i));
            return;
        }
    }
    if (addr >= ADDR(run_lower) && addr < ADDR(probe_jr) + 4) {
        printf("code+0x%lx", addr - ADDR(run_lower));
        return;
    }
    printf("0x%lx", addr);
}

/* Prints and checks the outcome of the last run: no trap if want_cause is
   0, else one trap with want_cause and want_tval. */
static void report(const char *mode, const char *name, uint64_t want_cause,
                   uint64_t want_tval)
{
    printf("  %s %-44s ", mode, name);
    if (trap.count == 0) {
        puts("ok");
    } else {
        printf("trap cause=%lu tval=", trap.cause);
        show_addr(trap.tval);
        printf(" epc=");
        show_addr(trap.epc);
        putchar('\n');
    }
    expect(name, trap.count, want_cause ? 1 : 0);
    if (want_cause) {
        expect(name, trap.cause, want_cause);
        expect(name, trap.tval, want_tval);
    }
}

/* The probe at addr in S (mode 1) or U (mode 0); stores write 0x5a. */
static uint64_t lower(const char *probe, uint64_t mode, uint64_t addr)
{
    clear_trap();
    return run_lower(probe, addr, 0x5a, mode);
}

/* A probe in S or U whose fault, if any, has tval = addr. */
static void lower_access(const char *name, const char *probe, uint64_t mode,
                         uint64_t addr, uint64_t want_cause)
{
    lower(probe, mode, addr);
    report(mode ? "S" : "U", name, want_cause, addr);
}

/* The probe at addr in M with the MPRV/MPP bits `bits` set for it (the
   stack it may use meanwhile is open to every mode); stores write 0x77. */
static uint64_t m_probe(const char *probe, uint64_t addr, uint64_t bits)
{
    uint64_t (*fn)(uint64_t, uint64_t) =
        (uint64_t (*)(uint64_t, uint64_t))(uintptr_t)probe;
    uint64_t val;
    clear_trap();
    set_csr(mstatus, bits);
    val = fn(addr, 0x77);
    clear_csr(mstatus, MSTATUS_MPRV | MSTATUS_MPP);
    return val;
}

static void m_access(const char *name, const char *probe, uint64_t addr,
                     uint64_t bits, uint64_t want_cause)
{
    m_probe(probe, addr, bits);
    report("M", name, want_cause, addr);
}

/* ---- sections ---- */

static void csrs(void)
{
    puts("-- pmpaddr and pmpcfg");
    /* Bits 53:0 hold address bits 55:2 (granularity four bytes); what
       bits 63:54 read is up to the hart (QEMU keeps them, polyhart
       clears them: WARL). */
    write_pmpaddr(0, ~0UL);
    printf("  pmpaddr0 bits 53:0 after writing all ones: 0x%lx\n",
           read_csr(pmpaddr0) & ALL_NAPOT);
    expect("pmpaddr0 width", read_csr(pmpaddr0) & ALL_NAPOT, ALL_NAPOT);
    write_csr(pmpcfg0, 0x1f1d1b190f0d0b09UL);
    printf("  pmpcfg0 after writing 0x1f1d1b190f0d0b09: 0x%lx\n",
           read_csr(pmpcfg0));
    expect("pmpcfg0", read_csr(pmpcfg0), 0x1f1d1b190f0d0b09UL);
    write_csr(pmpcfg2, 0x0f0d0b0907050301UL);
    printf("  pmpcfg2 after writing 0x0f0d0b0907050301: 0x%lx\n",
           read_csr(pmpcfg2));
    expect("pmpcfg2", read_csr(pmpcfg2), 0x0f0d0b0907050301UL);
    clear_pmp();
    write_pmpaddr(0, 0);
}

/*
 * The entries of the data sections; entry 15 gives S and U everything else.
 *   page0: +0 NA4 R; [+0x100, +0x200) TOR RW (entry 1 off: its base);
 *          the rest nothing
 *   page1: R
 *   page2: +0 8 bytes RW, the rest nothing (entry 5 before entry 6)
 *   page3: [+0x800, +0x1000) nothing, entry 7 before entry 8 (RW)
 */
static void data_entries(void)
{
    clear_pmp();
    write_pmpaddr(0, P(0) >> 2);
    write_pmpaddr(1, (P(0) + 0x100) >> 2);
    write_pmpaddr(2, (P(0) + 0x200) >> 2);
    write_pmpaddr(3, napot(P(0), PAGE));
    write_pmpaddr(4, napot(P(1), PAGE));
    write_pmpaddr(5, napot(P(2), 8));
    write_pmpaddr(6, napot(P(2), PAGE));
    write_pmpaddr(7, napot(P(3) + 0x800, 0x800));
    write_pmpaddr(8, napot(P(3), PAGE));
    write_pmpaddr(15, ALL_NAPOT);
    write_csr(pmpcfg0,
              (PMP_NA4 | PMP_R) | (PMP_TOR | PMP_R | PMP_W) << 16 |
              PMP_NAPOT << 24 | (PMP_NAPOT | PMP_R) << 32 |
              (PMP_NAPOT | PMP_R | PMP_W) << 40 | PMP_NAPOT << 48 |
              PMP_NAPOT << 56);
    write_csr(pmpcfg2, (PMP_NAPOT | PMP_R | PMP_W) |
              (PMP_NAPOT | PMP_R | PMP_W | PMP_X) << 56);
}

static void data_access(void)
{
    uint64_t r;

    puts("-- S and U data accesses");
    *(volatile uint32_t *)P(0) = 0x1234;
    data_entries();
    r = lower(probe_lw, 1, P(0));
    report("S", "lw NA4 R", 0, 0);
    expect("lw value", r, 0x1234);
    lower_access("sw NA4 R", probe_sw, 1, P(0), EXC_STORE_ACCESS);
    lower_access("ld partly in NA4", probe_ld, 1, P(0), EXC_LOAD_ACCESS);
    lower_access("lw after NA4, in NAPOT none", probe_lw, 1, P(0) + 4,
                 EXC_LOAD_ACCESS);
    lower_access("ld TOR first doubleword", probe_ld, 1, P(0) + 0x100, 0);
    lower_access("sd TOR last doubleword", probe_sd, 1, P(0) + 0x1f8, 0);
    lower_access("sd TOR top", probe_sd, 1, P(0) + 0x200, EXC_STORE_ACCESS);
    lower_access("lw below TOR base", probe_lw, 1, P(0) + 0xfc,
                 EXC_LOAD_ACCESS);
    lower_access("ld NAPOT R", probe_ld, 1, P(1) + 0x808, 0);
    lower_access("sd NAPOT R", probe_sd, 1, P(1) + 0x808, EXC_STORE_ACCESS);
    lower_access("sd 8-byte NAPOT RW before none", probe_sd, 1, P(2), 0);
    lower_access("sd after 8-byte NAPOT RW", probe_sd, 1, P(2) + 8,
                 EXC_STORE_ACCESS);
    lower_access("sd NAPOT RW, entry 7 not matching", probe_sd, 1,
                 P(3) + 0x7f8, 0);
    lower_access("sd entry 7 none before entry 8 RW", probe_sd, 1,
                 P(3) + 0x800, EXC_STORE_ACCESS);
    lower_access("ld entry 7 none before entry 8 RW", probe_ld, 0,
                 P(3) + 0xff8, EXC_LOAD_ACCESS);
    lower_access("lw NA4 R", probe_lw, 0, P(0), 0);
    lower_access("sw NA4 R", probe_sw, 0, P(0), EXC_STORE_ACCESS);
    lower_access("sd TOR", probe_sd, 0, P(0) + 0x180, 0);
    lower_access("sd catch-all entry 15", probe_sd, 0, ADDR(&scratch), 0);
    expect("stored through entry 15", scratch, 0x5a);
    m_access("sd NAPOT R (M: unlocked entries allow)", probe_sd,
             P(1) + 0x10, 0, 0);
    m_access("ld none (M: unlocked entries allow)", probe_ld, P(3) + 0x800,
             0, 0);
}

static void no_match(void)
{
    puts("-- accesses no entry matches");
    /* Only entry 1, TOR over [RAM_BASE, page0): the code, R and X. */
    clear_pmp();
    write_pmpaddr(0, RAM_BASE >> 2);
    write_pmpaddr(1, P(0) >> 2);
    set_cfg(1, PMP_TOR | PMP_R | PMP_X);
    lower_access("ld, no entry matches", probe_ld, 1, P(1), EXC_LOAD_ACCESS);
    lower_access("sd, no entry matches", probe_sd, 0, P(2), EXC_STORE_ACCESS);
    lower_access("sw to the UART, no entry matches", probe_sw, 1, UART_BASE,
                 EXC_STORE_ACCESS);
    m_access("sd, no entry matches", probe_sd, P(2), 0, 0);
    /* The code's entry without X. */
    set_cfg(1, PMP_TOR | PMP_R);
    lower(probe_ld, 1, P(1));
    report("S", "fetch, entry without X", EXC_FETCH_ACCESS, ADDR(probe_ld));
    /* Only an entry elsewhere (QEMU refuses mret to S/U with none set). */
    set_cfg(1, 0);
    write_pmpaddr(2, napot(P(3), PAGE));
    set_cfg(2, PMP_NAPOT | PMP_R | PMP_W | PMP_X);
    lower(probe_ld, 0, P(1));
    report("U", "fetch, no entry matches", EXC_FETCH_ACCESS, ADDR(probe_ld));
}

static void writes_apply(void)
{
    puts("-- PMP writes apply at once");
    data_entries();
    lower_access("sd entry 8 RW", probe_sd, 1, P(3) + 0x10, 0);
    set_cfg(8, PMP_NAPOT | PMP_R);
    lower_access("sd after entry 8 became R", probe_sd, 1, P(3) + 0x10,
                 EXC_STORE_ACCESS);
    lower_access("ld after entry 8 became R", probe_ld, 1, P(3) + 0x10, 0);
    write_pmpaddr(8, napot(P(2) + 0x800, 0x800));
    lower_access("sd after entry 8 moved away", probe_sd, 1, P(3) + 0x10, 0);
}

static void mprv(void)
{
    puts("-- MPRV");
    data_entries();
    m_access("ld NAPOT R, MPRV=1 MPP=S", probe_ld, P(1) + 0x20,
             MSTATUS_MPRV | MPP_S, 0);
    m_access("sd NAPOT R, MPRV=1 MPP=S", probe_sd, P(1) + 0x20,
             MSTATUS_MPRV | MPP_S, EXC_STORE_ACCESS);
    m_access("ld none, MPRV=1 MPP=U", probe_ld, P(0) + 0x400,
             MSTATUS_MPRV | MPP_U, EXC_LOAD_ACCESS);
    m_access("sd NAPOT R, MPRV=1 MPP=M", probe_sd, P(1) + 0x20,
             MSTATUS_MPRV | MPP_M, 0);
    m_access("sd NAPOT R, MPRV=0 MPP=S", probe_sd, P(1) + 0x20, MPP_S, 0);
}

static void sv39(void)
{
    uint64_t r;

    puts("-- Sv39: walks and mapped pages");
    /* root[2]: the RAM gigapage, so the code runs; root[1] -> l1[0] -> l0:
       VA -> page2, VA + 4K -> page3.  A and D are set: walks only read. */
    root[2] = PTE_PPN(RAM_BASE) | PTE_V | PTE_R | PTE_W | PTE_X | PTE_A |
              PTE_D;
    root[1] = PTE_PPN(l1) | PTE_V;
    l1[0] = PTE_PPN(l0) | PTE_V;
    l0[0] = PTE_PPN(P(2)) | PTE_V | PTE_R | PTE_W | PTE_A | PTE_D;
    l0[1] = PTE_PPN(P(3)) | PTE_V | PTE_R | PTE_W | PTE_A | PTE_D;
    *(volatile uint64_t *)(P(2) + 0x30) = 0xabcd;
    /* Entry 0: the leaf table, R; entry 1: page3, R; entry 15: the rest. */
    clear_pmp();
    write_pmpaddr(0, napot(ADDR(l0), PAGE));
    write_pmpaddr(1, napot(P(3), PAGE));
    write_pmpaddr(15, ALL_NAPOT);
    set_cfg(0, PMP_NAPOT | PMP_R);
    set_cfg(1, PMP_NAPOT | PMP_R);
    set_cfg(15, PMP_NAPOT | PMP_R | PMP_W | PMP_X);
    write_csr(satp, SATP_SV39 | (ADDR(root) >> 12));
    __asm__ volatile("sfence.vma" ::: "memory");

    r = lower(probe_ld, 1, VA + 0x30);
    report("S", "ld VA (page2)", 0, 0);
    expect("ld VA value", r, 0xabcd);
    lower_access("sd VA + 4K (page3, R)", probe_sd, 1, VA + PAGE + 8,
                 EXC_STORE_ACCESS);
    set_cfg(0, PMP_NAPOT);
    lower_access("ld VA, leaf table not readable", probe_ld, 1, VA + 0x30,
                 EXC_LOAD_ACCESS);
    lower_access("sd VA, leaf table not readable", probe_sd, 1, VA + 0x30,
                 EXC_STORE_ACCESS);
    write_pmpaddr(0, napot(ADDR(root), PAGE));
    lower(probe_ld, 1, VA + 0x30);
    report("S", "fetch, root table not readable", EXC_FETCH_ACCESS,
           ADDR(probe_ld));
    write_csr(satp, 0);
    __asm__ volatile("sfence.vma" ::: "memory");
}

static void locked(void)
{
    puts("-- locked entries bind M-mode");
    *(volatile uint32_t *)P(0) = 0x00008067;  /* ret, should a fetch pass */
    clear_pmp();
    /* Entry 0: page1 R. */
    write_pmpaddr(0, napot(P(1), PAGE));
    set_cfg(0, PMP_NAPOT | PMP_R | PMP_L);
    m_access("ld locked R", probe_ld, P(1) + 0x40, 0, 0);
    m_access("sd locked R", probe_sd, P(1) + 0x40, 0, EXC_STORE_ACCESS);
    /* Entry 1: NA4 at page3 + 4; a doubleword at page3 is partly in it. */
    write_pmpaddr(1, (P(3) + 4) >> 2);
    set_cfg(1, PMP_NA4 | PMP_R | PMP_W | PMP_L);
    m_access("lw locked NA4", probe_lw, P(3) + 4, 0, 0);
    m_access("ld partly in locked NA4", probe_ld, P(3), 0, EXC_LOAD_ACCESS);
    /* Entry 2: page0 RW without X. */
    write_pmpaddr(2, napot(P(0), PAGE));
    set_cfg(2, PMP_NAPOT | PMP_R | PMP_W | PMP_L);
    clear_trap();
    ((void (*)(uint64_t))(uintptr_t)probe_jr)(P(0));
    report("M", "fetch locked RW", EXC_FETCH_ACCESS, P(0));
    /* Entry 4: TOR over [page2 + 0x100, page2 + 0x200) from entry 3's
       address, R. */
    write_pmpaddr(3, (P(2) + 0x100) >> 2);
    write_pmpaddr(4, (P(2) + 0x200) >> 2);
    set_cfg(4, PMP_TOR | PMP_R | PMP_L);
    m_access("sd locked TOR R", probe_sd, P(2) + 0x180, 0, EXC_STORE_ACCESS);
    m_access("sd below locked TOR", probe_sd, P(2) + 0xf8, 0, 0);

    puts("-- writes to locked entries");
    write_csr(pmpcfg0, 0x1818181818181818UL);
    printf("  pmpcfg0 after writing 0x1818181818181818: 0x%lx\n",
           read_csr(pmpcfg0));
    expect("locked bytes kept", read_csr(pmpcfg0), 0x18181889189b9399UL);
    write_pmpaddr(0, 0);
    expect("locked pmpaddr0 kept", read_csr(pmpaddr0), napot(P(1), PAGE));
    write_pmpaddr(3, 0);
    printf("  pmpaddr3 below a locked TOR entry: page2+0x%lx\n",
           (read_csr(pmpaddr3) << 2) - P(2));
    expect("TOR base kept", read_csr(pmpaddr3), (P(2) + 0x100) >> 2);
    write_pmpaddr(5, 0x1234);
    expect("pmpaddr5 free", read_csr(pmpaddr5), 0x1234);
}

int main(void)
{
    puts("pmp: physical memory protection");
    write_csr(mtvec, ADDR(m_trap_entry));
    write_csr(medeleg, 0);
    write_csr(mideleg, 0);

    csrs();
    data_access();
    no_match();
    writes_apply();
    mprv();
    sv39();
    locked();

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
