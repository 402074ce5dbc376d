/*
 * paging.c - Sv39 and Sv48 address translation from S-mode and U-mode.
 *
 * M-mode builds the page tables (in .bss), opens PMP entry 0 over the whole
 * address space (QEMU lets S/U access nothing without a matching PMP entry),
 * delegates page faults (12, 13, 15) and ecall from U (8) to S, and then
 * runs small pieces of code in S (mret with MPP=S) or in U (S does sret with
 * SPP=0).  A lower-mode run ends with an ecall (cause 9 to M, a7 = MAGIC):
 * a piece that returns goes to lower_exit, which makes that ecall; the S
 * trap handler records a delegated trap (scause/sepc/stval/sstatus) and
 * makes it too; and an ecall from U is forwarded by the S handler.  M then
 * restores its own context, so every run is one C call.
 *
 * Virtual memory (Sv39; Sv48 adds a level-3 root above the same tables):
 *   0x00000000  1 GiB leaf  -> PA 0 (UART, finisher)   RW  A D G
 *   0x80000000  1 GiB leaf  -> PA 0x80000000 (RAM)      RWX A D G
 *   HIGH = 0xffffffc000000000 (VPN[2] = 256):  a level-1 table whose
 *     entry 0 is a level-0 table of 4 KiB test pages HIGH + i * 4 KiB,
 *     entry 1 a level-1 leaf with PPN[0] != 0 (misaligned superpage),
 *     entry 2 a 2 MiB leaf -> PA 0x80000000 (read only).
 *   Sv48 only: 0x8000000000 512 GiB leaf -> PA 0; root entries 0 and 511
 *   point at the Sv39 root, used there as a level-2 table.
 *
 * Covered: write through one mapping and read through another (Sv39 and
 * Sv48, printing from S through the device gigapage); load/store/fetch
 * page faults with exact cause, tval and epc (unmapped, read-only,
 * execute-only with and without MXR, no-execute, non-canonical, misaligned
 * superpage, W without R, non-leaf at level 0); one page fault not
 * delegated, taken in M; the U bit with and without SUM, from S and from U;
 * A and D bits set by the page walk (QEMU updates them in the PTE);
 * sfence.vma (all, and one address) after a PTE change; satp modes that
 * read back and a reserved mode that is ignored; MPRV loads from M.
 *
 * Addresses printed are virtual addresses chosen here; epcs are printed
 * relative to the code they belong to, never as raw link addresses.  Each
 * result is also checked in the program: a mismatch prints
 * "FAIL: check N (...)" and the program exits with the first failing N.
 */
#include "runtime.h"

#define MAGIC          0x5a5    /* a7 of the ecall that ends a lower-mode run */

#define MSTATUS_SPP    (1UL << 8)
#define MSTATUS_MPP    (3UL << 11)
#define MSTATUS_MPRV   (1UL << 17)
#define MSTATUS_SUM    (1UL << 18)
#define MSTATUS_MXR    (1UL << 19)
#define MPP_U          (0UL << 11)
#define MPP_S          (1UL << 11)
#define MPP_M          (3UL << 11)

#define PTE_V  0x01UL
#define PTE_R  0x02UL
#define PTE_W  0x04UL
#define PTE_X  0x08UL
#define PTE_U  0x10UL
#define PTE_G  0x20UL
#define PTE_A  0x40UL
#define PTE_D  0x80UL
#define PTE_PPN(pa)    (((uint64_t)(uintptr_t)(pa) >> 12) << 10)

#define SATP_SV39      (8UL << 60)
#define SATP_SV48      (9UL << 60)
#define SATP_PPN(pa)   ((uint64_t)(uintptr_t)(pa) >> 12)

#define PAGE           4096UL
#define RAM_BASE       0x80000000UL
#define HIGH           0xffffffc000000000UL
#define HVA(i)         (HIGH + (uint64_t)(i) * PAGE)
#define HIGH_MISALIGNED (HIGH + 0x200000UL)   /* level-1 entry 1 */
#define HIGH_MEGA       (HIGH + 0x400000UL)   /* level-1 entry 2 */
#define TERA_VA        0x8000000000UL         /* Sv48 root entry 1 */
#define NONCANON39     0x0000004000000000UL   /* bit 38 set, 63:39 clear */
#define NONCANON39_HI  0x8000000000000000UL   /* bit 63 set, bit 38 clear */
#define NONCANON48     0x0000800000000000UL   /* bit 47 set, 63:48 clear */

/* The 4 KiB test pages at HIGH + i * 4 KiB (level-0 entries). */
enum {
    PG_DATA,        /* RW -> data page */
    PG_RO,          /* R  -> ro page */
    PG_XO,          /* X only -> xo page */
    PG_NX,          /* RW, no X -> nx page */
    PG_WONLY,       /* W without R: reserved encoding */
    PG_UNMAPPED,    /* V = 0 */
    PG_UDATA,       /* U RW -> udata page */
    PG_UCODE,       /* U RX -> code page (U-mode code runs here) */
    PG_AD0,         /* RW, A = 0, D = 0: load, then store */
    PG_AD1,         /* RW, A = 1, D = 0: store */
    PG_AD2,         /* RW, A = 0, D = 0: store first */
    PG_SWAP,        /* RW -> swap_b, later swap_c (sfence.vma) */
    PG_SCODE,       /* RX without U -> code page (S runs it here) */
    PG_NONLEAF,     /* V only at level 0: non-leaf where a leaf must be */
};

/* Physical pages, all in .bss. */
enum { P_DATA, P_RO, P_XO, P_NX, P_WONLY, P_UDATA, P_CODE, P_AD0, P_AD1,
       P_AD2, P_SWAP_B, P_SWAP_C, NPHYS };
static uint8_t phys[NPHYS][PAGE] __attribute__((aligned(4096)));
#define PHYS(i)        ((uint64_t)(uintptr_t)phys[i])

static uint64_t root39[512] __attribute__((aligned(4096)));
static uint64_t root48[512] __attribute__((aligned(4096)));
static uint64_t l1_hi[512] __attribute__((aligned(4096)));
static uint64_t l0_hi[512] __attribute__((aligned(4096)));

#define RO_VAL    0x0123456789abcdefUL
#define XO_VAL    0x5a5a00005a5a0000UL
#define U_VAL     0x7575757575757575UL
#define AD_VAL    0x00000000000ad0adUL
#define SWAP_B    0xbbbbbbbbbbbbbbbbUL
#define SWAP_C    0xccccccccccccccccUL

/*
 * What the last trap saw.  The layout is shared with the assembly below.
 */
struct trap_record {
    uint64_t cause;     /*  0: mcause or scause */
    uint64_t epc;       /*  8 */
    uint64_t tval;      /* 16 */
    uint64_t status;    /* 24: mstatus or sstatus at the trap */
    uint64_t count;     /* 32: traps recorded */
    uint64_t resume;    /* 40: M-mode traps from M: where to go on, 0 = none */
    uint64_t where;     /* 48: 1 = taken in S, 3 = taken in M */
    uint64_t save_t1;   /* 56 */
    uint64_t uecalls;   /* 64: ecalls from U that reached the S handler */
};
volatile struct trap_record trap;
uint64_t m_ctx[14];     /* ra, sp, s0..s11 of run_lower's caller */

/*
 * run_lower(fn, a0, a1, a2, mode): run fn(a0, a1, a2) in S (mode 1) or U
 * (mode 0) with ra = lower_exit; returns the a0 of the ecall that ends it.
 *
 * m_trap_entry: ecall from S/U with a7 = MAGIC -> m_return (run_lower
 * returns).  Anything else is recorded; with trap.resume armed it goes on
 * there (in M), otherwise a trap from S/U ends the run and a trap from M
 * goes to crt0's default handler (unexpected trap).
 *
 * s_trap_entry: ecall from U with a7 = MAGIC is forwarded to M (counted in
 * trap.uecalls); anything else is recorded and ends the run.
 *
 * Probes: tiny S-mode functions whose first instruction is the access.
 * ucode_start..ucode_end is copied to the code page and runs there, at
 * HVA(PG_UCODE) (U) or HVA(PG_SCODE) (S); it uses no absolute addresses.
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
    "    slli  a4, a4, 11\n"
    "    csrs  mstatus, a4\n"
    "    mv    a0, a1\n"
    "    mv    a1, a2\n"
    "    mv    a2, a3\n"
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
    "    sd    t1, 56(t0)\n"
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
    "    csrr  t1, mstatus\n"
    "    sd    t1, 24(t0)\n"
    "    ld    t1, 32(t0)\n"
    "    addi  t1, t1, 1\n"
    "    sd    t1, 32(t0)\n"
    "    li    t1, 3\n"
    "    sd    t1, 48(t0)\n"
    "    ld    t1, 40(t0)\n"
    "    beqz  t1, 2f\n"
    "    sd    zero, 40(t0)\n"
    "    csrw  mepc, t1\n"
    "    ld    t1, 56(t0)\n"
    "    csrr  t0, mscratch\n"
    "    mret\n"
    "2:  csrr  t1, mstatus\n"             /* from S/U: end the run */
    "    srli  t1, t1, 11\n"
    "    andi  t1, t1, 3\n"
    "    addi  t1, t1, -3\n"
    "    bnez  t1, m_return\n"
    "    ld    t1, 56(t0)\n"
    "    csrr  t0, mscratch\n"
    "    j     default_trap_entry\n"
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
    "    .globl s_trap_entry\n"
    "s_trap_entry:\n"
    "    csrw  sscratch, t0\n"
    "    la    t0, trap\n"
    "    sd    t1, 56(t0)\n"
    "    csrr  t1, scause\n"
    "    addi  t1, t1, -8\n"
    "    bnez  t1, 1f\n"
    "    li    t1, 0x5a5\n"
    "    bne   a7, t1, 1f\n"
    "    ld    t1, 64(t0)\n"
    "    addi  t1, t1, 1\n"
    "    sd    t1, 64(t0)\n"
    "    ecall\n"                         /* a7 = MAGIC, a0 = U's result */
    "1:  csrr  t1, scause\n"
    "    sd    t1, 0(t0)\n"
    "    csrr  t1, sepc\n"
    "    sd    t1, 8(t0)\n"
    "    csrr  t1, stval\n"
    "    sd    t1, 16(t0)\n"
    "    csrr  t1, sstatus\n"
    "    sd    t1, 24(t0)\n"
    "    ld    t1, 32(t0)\n"
    "    addi  t1, t1, 1\n"
    "    sd    t1, 32(t0)\n"
    "    li    t1, 1\n"
    "    sd    t1, 48(t0)\n"
    "    li    a7, 0x5a5\n"
    "    ecall\n"

    /* S: enter U at a0 with a0 = a1, a1 = a2 */
    "    .globl s_enter_u\n"
    "s_enter_u:\n"
    "    csrw  sepc, a0\n"
    "    li    t0, 0x100\n"
    "    csrc  sstatus, t0\n"
    "    mv    a0, a1\n"
    "    mv    a1, a2\n"
    "    li    a7, 0x5a5\n"
    "    sret\n"

    "    .globl probe_ld, probe_sd, probe_jr, probe_sfence_ld, probe_sfence_va_ld\n"
    "probe_ld:\n"
    "    ld    a0, 0(a0)\n"
    "    ret\n"
    "probe_sd:\n"
    "    sd    a1, 0(a0)\n"
    "    ret\n"
    "probe_jr:\n"
    "    jr    a0\n"
    "probe_sfence_ld:\n"
    "    sfence.vma zero, zero\n"
    "    ld    a0, 0(a0)\n"
    "    ret\n"
    "probe_sfence_va_ld:\n"
    "    sfence.vma a0, zero\n"
    "    ld    a0, 0(a0)\n"
    "    ret\n"

    /* copied to the code page; U-mode pieces end with ecall (a7 = MAGIC) */
    "    .balign 4\n"
    "    .globl ucode_start, ucode_end, u_load, u_store, u_jr, s_code\n"
    "ucode_start:\n"
    "u_load:\n"
    "    ld    a0, 0(a0)\n"
    "    ecall\n"
    "u_store:\n"
    "    sd    a1, 0(a0)\n"
    "    ecall\n"
    "u_jr:\n"
    "    jr    a0\n"
    "s_code:\n"
    "    li    a0, 0x5a\n"
    "    ret\n"
    "ucode_end:\n"
    "    .option pop\n");

uint64_t run_lower(const void *fn, uint64_t a0, uint64_t a1, uint64_t a2,
                   uint64_t mode);
extern char m_trap_entry[], s_trap_entry[], default_trap_entry[];
extern char s_enter_u[], probe_ld[], probe_sd[], probe_jr[];
extern char probe_sfence_ld[], probe_sfence_va_ld[];
extern char ucode_start[], ucode_end[], u_load[], u_store[], u_jr[], s_code[];

/* Where the copied code runs. */
#define UCODE(sym)  (HVA(PG_UCODE) + (uint64_t)((sym) - ucode_start))
#define SCODE(sym)  (HVA(PG_SCODE) + (uint64_t)((sym) - ucode_start))

/* ---- checks ---- */

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

static void clear_trap(void)
{
    trap.cause = trap.epc = trap.tval = trap.status = 0;
    trap.count = trap.resume = trap.where = trap.uecalls = 0;
}

/* fn(a, b) in S-mode */
static uint64_t in_s(const void *fn, uint64_t a, uint64_t b)
{
    clear_trap();
    return run_lower(fn, a, b, 0, 1);
}

/* U-mode code at va (a copied piece) with a0 = a, a1 = b, entered by sret */
static uint64_t in_u(uint64_t va, uint64_t a, uint64_t b)
{
    clear_trap();
    return run_lower(s_enter_u, va, a, b, 1);
}

static const char *mode_name(uint64_t m)
{
    return m == 0 ? "U" : m == 1 ? "S" : m == 3 ? "M" : "?";
}

/* The privilege the trap came from (SPP or MPP in the saved status). */
static uint64_t trap_from(void)
{
    if (trap.where == 1)
        return (trap.status & MSTATUS_SPP) ? 1 : 0;
    return (trap.status >> 11) & 3;
}

static void show_trap(const char *name)
{
    const char *x = trap.where == 3 ? "m" : "s";
    printf("%-34s trap in %s from %s: %scause=%lu %stval=0x%lx", name,
           mode_name(trap.where), mode_name(trap_from()), x, trap.cause, x,
           trap.tval);
}

/* The run must have completed without a trap and produced `want`. */
static void want_value(const char *name, uint64_t got, uint64_t want)
{
    if (trap.count) {
        show_trap(name);
        putchar('\n');
    } else {
        printf("%-34s ok, value 0x%lx\n", name, got);
    }
    expect(name, trap.count, 0);
    expect(name, got, want);
}

/*
 * The run must have trapped once, in `where` (1 = S, 3 = M), from `from`,
 * with `cause` and `tval`, at epc = site + off (site printed as site_name).
 */
static void want_trap(const char *name, uint64_t where, uint64_t from,
                      uint64_t cause, uint64_t tval, const char *site_name,
                      uint64_t site, int64_t off)
{
    if (trap.count == 0) {
        printf("%-34s no trap\n", name);
    } else {
        show_trap(name);
        printf(" %sepc=%s+%ld\n", trap.where == 3 ? "m" : "s", site_name,
               (int64_t)(trap.epc - site));
    }
    expect(name, trap.count, 1);
    expect(name, trap.where, where);
    expect(name, trap_from(), from);
    expect(name, trap.cause, cause);
    expect(name, trap.tval, tval);
    expect(name, trap.epc - site, (uint64_t)off);
}

#define ADDR(p)  ((uint64_t)(uintptr_t)(p))
#define WORD(pa) (*(volatile uint64_t *)(uintptr_t)(pa))

/* ---- setup ---- */

static void build_tables(void)
{
    /* level 2 (Sv39 root) */
    root39[0] = PTE_PPN(0) | PTE_V | PTE_R | PTE_W | PTE_A | PTE_D | PTE_G;
    root39[2] = PTE_PPN(RAM_BASE) | PTE_V | PTE_R | PTE_W | PTE_X | PTE_A |
                PTE_D | PTE_G;
    root39[256] = PTE_PPN(l1_hi) | PTE_V;

    /* level 1 under HIGH */
    l1_hi[0] = PTE_PPN(l0_hi) | PTE_V;
    l1_hi[1] = PTE_PPN(RAM_BASE + PAGE) | PTE_V | PTE_R | PTE_A;
    l1_hi[2] = PTE_PPN(RAM_BASE) | PTE_V | PTE_R | PTE_A;

    /* level 0: the 4 KiB test pages */
    const uint64_t rwad = PTE_V | PTE_R | PTE_W | PTE_A | PTE_D;
    l0_hi[PG_DATA] = PTE_PPN(PHYS(P_DATA)) | rwad;
    l0_hi[PG_RO] = PTE_PPN(PHYS(P_RO)) | PTE_V | PTE_R | PTE_A;
    l0_hi[PG_XO] = PTE_PPN(PHYS(P_XO)) | PTE_V | PTE_X | PTE_A;
    l0_hi[PG_NX] = PTE_PPN(PHYS(P_NX)) | rwad;
    l0_hi[PG_WONLY] = PTE_PPN(PHYS(P_WONLY)) | PTE_V | PTE_W | PTE_A | PTE_D;
    l0_hi[PG_UNMAPPED] = 0;
    l0_hi[PG_UDATA] = PTE_PPN(PHYS(P_UDATA)) | rwad | PTE_U;
    l0_hi[PG_UCODE] = PTE_PPN(PHYS(P_CODE)) | PTE_V | PTE_R | PTE_X | PTE_A |
                      PTE_U;
    l0_hi[PG_AD0] = PTE_PPN(PHYS(P_AD0)) | PTE_V | PTE_R | PTE_W;
    l0_hi[PG_AD1] = PTE_PPN(PHYS(P_AD1)) | PTE_V | PTE_R | PTE_W | PTE_A;
    l0_hi[PG_AD2] = PTE_PPN(PHYS(P_AD2)) | PTE_V | PTE_R | PTE_W;
    l0_hi[PG_SWAP] = PTE_PPN(PHYS(P_SWAP_B)) | rwad;
    l0_hi[PG_SCODE] = PTE_PPN(PHYS(P_CODE)) | PTE_V | PTE_R | PTE_X | PTE_A;
    l0_hi[PG_NONLEAF] = PTE_PPN(l0_hi) | PTE_V;

    /* Sv48 root: entries 0 and 511 reuse the Sv39 root as a level-2 table */
    root48[0] = PTE_PPN(root39) | PTE_V;
    root48[1] = PTE_PPN(0) | PTE_V | PTE_R | PTE_W | PTE_A | PTE_D | PTE_G;
    root48[511] = PTE_PPN(root39) | PTE_V;

    /* page contents */
    WORD(PHYS(P_RO)) = RO_VAL;
    WORD(PHYS(P_XO)) = XO_VAL;
    WORD(PHYS(P_UDATA)) = U_VAL;
    WORD(PHYS(P_AD0)) = AD_VAL;
    WORD(PHYS(P_SWAP_B)) = SWAP_B;
    WORD(PHYS(P_SWAP_C)) = SWAP_C;
    memcpy(phys[P_CODE], ucode_start, (size_t)(ucode_end - ucode_start));
    __asm__ volatile("fence.i" ::: "memory");
}

static void use_satp(uint64_t v)
{
    write_csr(satp, v);
    __asm__ volatile("sfence.vma" ::: "memory");
}

/* ---- 6. satp ---- */

static void satp_modes(void)
{
    uint64_t v;

    puts("-- satp (written from M)");
    write_csr(satp, SATP_SV39 | SATP_PPN(root39));
    v = read_csr(satp);
    printf("write Sv39: MODE=%lu PPN=root39: %s\n", v >> 60,
           (v & 0xfffffffffffUL) == SATP_PPN(root39) ? "yes" : "no");
    expect("satp Sv39", v, SATP_SV39 | SATP_PPN(root39));

    write_csr(satp, SATP_SV48 | SATP_PPN(root48));
    v = read_csr(satp);
    printf("write Sv48: MODE=%lu PPN=root48: %s\n", v >> 60,
           (v & 0xfffffffffffUL) == SATP_PPN(root48) ? "yes" : "no");
    expect("satp Sv48", v, SATP_SV48 | SATP_PPN(root48));

    /* 15 is reserved: the whole write is ignored */
    write_csr(satp, (15UL << 60) | SATP_PPN(root39));
    v = read_csr(satp);
    printf("write MODE=15 (reserved): MODE=%lu PPN=root48: %s\n", v >> 60,
           (v & 0xfffffffffffUL) == SATP_PPN(root48) ? "yes" : "no");
    expect("satp reserved mode ignored", v, SATP_SV48 | SATP_PPN(root48));

    write_csr(satp, 0);
    v = read_csr(satp);
    printf("write Bare: satp=0x%lx\n", v);
    expect("satp bare", v, 0);
}

/* ---- 1. two mappings of one page (runs in S) ---- */

static uint64_t s_results[4];

static uint64_t s_two_mappings(uint64_t round)
{
    volatile uint64_t *hi = (volatile uint64_t *)HVA(PG_DATA);
    volatile uint64_t *lo = (volatile uint64_t *)PHYS(P_DATA);
    uint64_t a = 0x1111111111111111UL * round;
    uint64_t b = 0x2222222222222222UL * round;

    printf("  in S: satp.MODE=%lu, printing through the device gigapage\n",
           read_csr(satp) >> 60);
    hi[0] = a;                      /* write high, read identity */
    s_results[0] = lo[0];
    lo[1] = b;                      /* write identity, read high */
    s_results[1] = hi[1];
    printf("  in S: wrote 0x%lx at 0x%lx, read it at the identity address: %s\n",
           a, (uint64_t)(uintptr_t)hi, s_results[0] == a ? "yes" : "no");
    printf("  in S: wrote 0x%lx at the identity address, read at 0x%lx: 0x%lx\n",
           b, (uint64_t)(uintptr_t)&hi[1], s_results[1]);
    return 0x600d;
}

static void two_mappings(uint64_t round)
{
    uint64_t r = in_s((const void *)s_two_mappings, round, 0);
    want_value("S ran, returned", r, 0x600d);
    expect("write high, read identity", s_results[0],
           0x1111111111111111UL * round);
    expect("write identity, read high", s_results[1],
           0x2222222222222222UL * round);
    expect("M sees the write", WORD(PHYS(P_DATA)), 0x1111111111111111UL * round);
}

/* ---- 2. faults ---- */

static void faults(void)
{
    uint64_t r;

    puts("-- page faults in S (delegated): cause, tval, epc");
    r = in_s(probe_ld, HVA(PG_RO), 0);
    want_value("load read-only page", r, RO_VAL);
    in_s(probe_ld, HVA(PG_UNMAPPED), 0);
    want_trap("load unmapped page", 1, 1, 13, HVA(PG_UNMAPPED), "probe_ld",
              ADDR(probe_ld), 0);
    in_s(probe_sd, HVA(PG_UNMAPPED) + 8, 1);
    want_trap("store unmapped page+8", 1, 1, 15, HVA(PG_UNMAPPED) + 8,
              "probe_sd", ADDR(probe_sd), 0);
    in_s(probe_sd, HVA(PG_RO) + 16, 1);
    want_trap("store read-only page+16", 1, 1, 15, HVA(PG_RO) + 16,
              "probe_sd", ADDR(probe_sd), 0);
    expect("read-only page unchanged", WORD(PHYS(P_RO) + 16), 0);
    in_s(probe_jr, HVA(PG_NX) + 0x40, 0);
    want_trap("fetch no-execute page+0x40", 1, 1, 12, HVA(PG_NX) + 0x40,
              "target", HVA(PG_NX) + 0x40, 0);
    r = in_s(probe_jr, SCODE(s_code), 0);
    want_value("fetch executable page (S alias)", r, 0x5a);

    in_s(probe_ld, HVA(PG_XO), 0);
    want_trap("load execute-only page", 1, 1, 13, HVA(PG_XO), "probe_ld",
              ADDR(probe_ld), 0);
    set_csr(mstatus, MSTATUS_MXR);
    r = in_s(probe_ld, HVA(PG_XO), 0);
    want_value("load execute-only page, MXR=1", r, XO_VAL);
    in_s(probe_sd, HVA(PG_XO), 1);
    want_trap("store execute-only page, MXR=1", 1, 1, 15, HVA(PG_XO),
              "probe_sd", ADDR(probe_sd), 0);
    clear_csr(mstatus, MSTATUS_MXR);

    in_s(probe_ld, NONCANON39, 0);
    want_trap("load non-canonical 0x4000000000", 1, 1, 13, NONCANON39,
              "probe_ld", ADDR(probe_ld), 0);
    in_s(probe_sd, NONCANON39_HI + 8, 1);
    want_trap("store non-canonical 1<<63 + 8", 1, 1, 15, NONCANON39_HI + 8,
              "probe_sd", ADDR(probe_sd), 0);
    in_s(probe_jr, NONCANON39, 0);
    want_trap("fetch non-canonical", 1, 1, 12, NONCANON39, "target",
              NONCANON39, 0);
    in_s(probe_ld, TERA_VA + RAM_BASE, 0);
    want_trap("load 0x8080000000 (Sv48 only)", 1, 1, 13, TERA_VA + RAM_BASE,
              "probe_ld", ADDR(probe_ld), 0);

    /* prints 1 when the value is the first dword at 0x80000000 (_start) */
    r = in_s(probe_ld, HIGH_MEGA, 0);
    want_value("load 2 MiB page == dword at _start", r == WORD(RAM_BASE), 1);
    in_s(probe_ld, HIGH_MISALIGNED + 0x18, 0);
    want_trap("load misaligned superpage", 1, 1, 13, HIGH_MISALIGNED + 0x18,
              "probe_ld", ADDR(probe_ld), 0);
    in_s(probe_ld, HVA(PG_WONLY), 0);
    want_trap("load W=1 R=0 page", 1, 1, 13, HVA(PG_WONLY), "probe_ld",
              ADDR(probe_ld), 0);
    in_s(probe_sd, HVA(PG_WONLY), 1);
    want_trap("store W=1 R=0 page", 1, 1, 15, HVA(PG_WONLY), "probe_sd",
              ADDR(probe_sd), 0);
    in_s(probe_ld, HVA(PG_NONLEAF) + 0x100, 0);
    want_trap("load non-leaf PTE at level 0", 1, 1, 13,
              HVA(PG_NONLEAF) + 0x100, "probe_ld", ADDR(probe_ld), 0);

    puts("-- a load page fault not delegated (medeleg bit 13 clear)");
    clear_csr(medeleg, 1UL << 13);
    in_s(probe_ld, HVA(PG_UNMAPPED) + 0x20, 0);
    want_trap("load unmapped page, in M", 3, 1, 13, HVA(PG_UNMAPPED) + 0x20,
              "probe_ld", ADDR(probe_ld), 0);
    set_csr(medeleg, 1UL << 13);
}

/* ---- 3. the U bit ---- */

static void user_pages(void)
{
    uint64_t r;

    puts("-- U pages from S (SUM) and pages from U");
    in_s(probe_ld, HVA(PG_UDATA), 0);
    want_trap("S load U page, SUM=0", 1, 1, 13, HVA(PG_UDATA), "probe_ld",
              ADDR(probe_ld), 0);
    set_csr(mstatus, MSTATUS_SUM);
    r = in_s(probe_ld, HVA(PG_UDATA), 0);
    want_value("S load U page, SUM=1", r, U_VAL);
    r = in_s(probe_sd, HVA(PG_UDATA) + 8, 0x5355);
    want_value("S store U page, SUM=1", WORD(PHYS(P_UDATA) + 8), 0x5355);
    in_s(probe_jr, UCODE(s_code), 0);
    want_trap("S fetch U page, SUM=1", 1, 1, 12, UCODE(s_code), "target",
              UCODE(s_code), 0);
    clear_csr(mstatus, MSTATUS_SUM);

    r = in_u(UCODE(u_load), HVA(PG_UDATA), 0);
    want_value("U load U page", r, U_VAL);
    printf("%-34s %lu\n", "  U ecalls taken in S", trap.uecalls);
    expect("U ecall delegated", trap.uecalls, 1);
    in_u(UCODE(u_store), HVA(PG_UDATA) + 16, 0x5555);
    want_value("U store U page", WORD(PHYS(P_UDATA) + 16), 0x5555);
    in_u(UCODE(u_load), HVA(PG_DATA), 0);
    want_trap("U load S page", 1, 0, 13, HVA(PG_DATA), "u_load",
              UCODE(u_load), 0);
    in_u(UCODE(u_store), HVA(PG_DATA) + 8, 1);
    want_trap("U store S page", 1, 0, 15, HVA(PG_DATA) + 8, "u_store",
              UCODE(u_store), 0);
    set_csr(mstatus, MSTATUS_SUM);
    in_u(UCODE(u_load), HVA(PG_DATA), 0);
    want_trap("U load S page, SUM=1", 1, 0, 13, HVA(PG_DATA), "u_load",
              UCODE(u_load), 0);
    clear_csr(mstatus, MSTATUS_SUM);
    in_u(UCODE(u_jr), SCODE(s_code), 0);
    want_trap("U fetch S page", 1, 0, 12, SCODE(s_code), "target",
              SCODE(s_code), 0);
}

/* ---- 4. A and D bits ---- */

static void show_ad(const char *when, int pg, uint64_t want_a, uint64_t want_d)
{
    uint64_t pte = l0_hi[pg];
    printf("  PTE %s: A=%lu D=%lu\n", when, (pte >> 6) & 1, (pte >> 7) & 1);
    expect(when, (pte >> 6) & 3, want_a | (want_d << 1));
}

static void accessed_dirty(void)
{
    uint64_t r;

    puts("-- A/D bits (PTEs read by M after each access)");
    show_ad("A=0 D=0 page at start", PG_AD0, 0, 0);
    r = in_s(probe_ld, HVA(PG_AD0), 0);
    want_value("S load A=0 D=0 page", r, AD_VAL);
    show_ad("after the load", PG_AD0, 1, 0);
    in_s(probe_sd, HVA(PG_AD0) + 8, 0xd0);
    want_value("S store same page", WORD(PHYS(P_AD0) + 8), 0xd0);
    show_ad("after the store", PG_AD0, 1, 1);

    show_ad("A=1 D=0 page at start", PG_AD1, 1, 0);
    in_s(probe_sd, HVA(PG_AD1), 0xd1);
    want_value("S store A=1 D=0 page", WORD(PHYS(P_AD1)), 0xd1);
    show_ad("after the store", PG_AD1, 1, 1);

    show_ad("A=0 D=0 page at start", PG_AD2, 0, 0);
    in_s(probe_sd, HVA(PG_AD2), 0xd2);
    want_value("S store A=0 D=0 page", WORD(PHYS(P_AD2)), 0xd2);
    show_ad("after the store", PG_AD2, 1, 1);
}

/* ---- 5. sfence.vma ---- */

static void sfence(void)
{
    uint64_t r;

    puts("-- sfence.vma after changing a leaf PTE (M writes the PTE)");
    r = in_s(probe_ld, HVA(PG_SWAP), 0);
    want_value("S load, PTE -> page B", r, SWAP_B);
    l0_hi[PG_SWAP] = PTE_PPN(PHYS(P_SWAP_C)) | PTE_V | PTE_R | PTE_W |
                     PTE_A | PTE_D;
    r = in_s(probe_sfence_ld, HVA(PG_SWAP), 0);
    want_value("PTE -> page C, sfence.vma; load", r, SWAP_C);
    l0_hi[PG_SWAP] = PTE_PPN(PHYS(P_SWAP_B)) | PTE_V | PTE_R | PTE_W |
                     PTE_A | PTE_D;
    r = in_s(probe_sfence_va_ld, HVA(PG_SWAP), 0);
    want_value("PTE -> B, sfence.vma va; load", r, SWAP_B);
}

/* ---- 6. Sv48 ---- */

static void sv48(void)
{
    uint64_t r;

    puts("-- Sv48: the same mappings under a level-3 root");
    use_satp(SATP_SV48 | SATP_PPN(root48));
    two_mappings(3);
    r = in_s(probe_ld, HVA(PG_RO), 0);
    want_value("load read-only page", r, RO_VAL);
    r = in_s(probe_ld, TERA_VA + RAM_BASE, 0);
    want_value("load 512 GiB page == dword at _start", r == WORD(RAM_BASE), 1);
    r = in_s(probe_ld, NONCANON39, 0);
    want_value("load 0x4000000000 = data page", r, 0x1111111111111111UL * 3);
    in_s(probe_ld, NONCANON48, 0);
    want_trap("load non-canonical 1<<47", 1, 1, 13, NONCANON48, "probe_ld",
              ADDR(probe_ld), 0);
    in_s(probe_ld, HVA(PG_UNMAPPED), 0);
    want_trap("load unmapped page", 1, 1, 13, HVA(PG_UNMAPPED), "probe_ld",
              ADDR(probe_ld), 0);
    in_s(probe_sd, HVA(PG_RO), 1);
    want_trap("store read-only page", 1, 1, 15, HVA(PG_RO), "probe_sd",
              ADDR(probe_sd), 0);
    r = in_u(UCODE(u_load), HVA(PG_UDATA), 0);
    want_value("U load U page", r, U_VAL);
}

/* ---- 7. MPRV ---- */

/*
 * Load from va in M with the given MPRV/MPP bits.  A trap resumes at 2:,
 * which clears MPRV before any other memory access.
 */
static uint64_t m_load(uint64_t va, uint64_t bits, uint64_t *site)
{
    uint64_t val = 0, s;
    clear_trap();
    __asm__ volatile(
        "la   t0, 2f\n\t"
        "la   t1, trap\n\t"
        "sd   t0, 40(t1)\n\t"
        "la   %1, 1f\n\t"
        "li   t0, 0x21800\n\t"
        "csrc mstatus, t0\n\t"
        "csrs mstatus, %3\n"
        "1:   ld   %0, 0(%2)\n"
        "2:   li   t0, 0x20000\n\t"
        "csrc mstatus, t0\n\t"
        "la   t1, trap\n\t"
        "sd   zero, 40(t1)\n"
        : "+&r"(val), "=&r"(s)
        : "r"(va), "r"(bits)
        : "t0", "t1", "memory");
    *site = s;
    return val;
}

static void mprv(void)
{
    uint64_t r, site;

    puts("-- MPRV: M-mode loads translated as MPP");
    use_satp(SATP_SV39 | SATP_PPN(root39));
    r = m_load(HVA(PG_DATA), MSTATUS_MPRV | MPP_S, &site);
    want_value("M load, MPRV=1 MPP=S", r, 0x1111111111111111UL * 3);
    r = m_load(HVA(PG_UDATA), MSTATUS_MPRV | MPP_U, &site);
    want_value("M load U page, MPRV=1 MPP=U", r, U_VAL);
    m_load(HVA(PG_DATA), MSTATUS_MPRV | MPP_U, &site);
    want_trap("M load S page, MPRV=1 MPP=U", 3, 3, 13, HVA(PG_DATA), "site",
              site, 0);
    m_load(HVA(PG_DATA), MSTATUS_MPRV | MPP_M, &site);
    want_trap("M load, MPRV=1 MPP=M (bare)", 3, 3, 5, HVA(PG_DATA), "site",
              site, 0);
    m_load(HVA(PG_DATA), MPP_S, &site);
    want_trap("M load, MPRV=0 (bare)", 3, 3, 5, HVA(PG_DATA), "site", site, 0);
    printf("mstatus.MPRV after the loads: %lu\n",
           (read_csr(mstatus) >> 17) & 1);
    expect("MPRV cleared", read_csr(mstatus) & MSTATUS_MPRV, 0);
}

int main(void)
{
    puts("paging: Sv39/Sv48 translation from S and U mode");
    write_csr(mtvec, ADDR(m_trap_entry));
    write_csr(stvec, ADDR(s_trap_entry));
    /* PMP entry 0: NAPOT over everything, RWX, so S and U may access */
    write_csr(pmpaddr0, 0x003fffffffffffffUL);
    write_csr(pmpcfg0, 0x1f);
    write_csr(medeleg, (1UL << 8) | (1UL << 12) | (1UL << 13) | (1UL << 15));
    write_csr(mideleg, 0);
    build_tables();

    satp_modes();

    puts("-- Sv39: identity gigapages, one 4 KiB page at 0xffffffc000000000");
    use_satp(SATP_SV39 | SATP_PPN(root39));
    two_mappings(1);
    faults();
    user_pages();
    accessed_dirty();
    sfence();
    sv48();
    mprv();

    use_satp(0);
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
