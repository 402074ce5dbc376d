/*
 * fp_csr.c - the floating-point CSRs, illegal rounding modes and
 * mstatus.FS.
 *
 *  - fflags (0x001), frm (0x002) and fcsr (0x003): fcsr = frm << 5 | fflags,
 *    bits above 7 read as zero, writes of reserved bits are ignored
 *    (fflags keeps 5 bits, frm 3); fsflags/fsrm/fscsr return the old value,
 *    the immediate forms, csrs/csrc on fflags; frm = 5..7 can be written
 *    and read; flags accumulate until cleared; the dynamic rounding mode
 *    comes from frm however it was written (fcsr or frm)
 *  - rounding modes 5 and 6 in the rm field and rm = dyn while frm = 5, 6
 *    or 7 are illegal instructions: mcause 2, mtval = the instruction bits,
 *    nothing written (rd and fflags unchanged); this holds for the exact
 *    conversions too (fcvt.d.s, fcvt.d.w), whose rm field is decoded as
 *    usual.  Instructions without an rm field, and static modes, do not
 *    care about frm
 *  - mstatus.FS: all four values can be written; with FS = Off every FP
 *    instruction (loads, stores, moves, compressed forms too) and every
 *    access to fflags/frm/fcsr is illegal (mtval = the instruction bits,
 *    16 bits for a compressed one) and FS stays Off; an instruction that
 *    writes an f register makes FS Dirty from Initial or Clean, and
 *    mstatus.SD (bit 63) reads as 1 exactly when FS is Dirty.  Only
 *    mstatus & (FS | SD) is printed.
 */
#include "fptest.h"

/* ---- traps ------------------------------------------------------------ */

static volatile uint64_t trap_count, trap_cause, trap_tval, trap_len;

/* runtime.c's trap_entry calls this: record the trap, skip the instruction. */
void handle_trap(uint64_t cause, uint64_t epc, uint64_t tval)
{
    if (cause >> 63) {
        printf("unexpected interrupt mcause=0x%lx\n", cause);
        exit(3);
    }
    uint16_t lo = *(volatile uint16_t *)epc;
    trap_len = (lo & 3) == 3 ? 4 : 2;
    trap_cause = cause;
    trap_tval = tval;
    trap_count++;
    write_csr(mepc, epc + trap_len);
}

static int failures;

static uint64_t fs_sd(void)
{
    return read_csr(mstatus) & (MSTATUS_FS | MSTATUS_SD);
}

static void set_fs(uint64_t fs)
{
    clear_csr(mstatus, MSTATUS_FS);
    set_csr(mstatus, fs << 13);
}

/*
 * Run `insn` expecting an illegal-instruction trap.  `setup` runs first;
 * ft3 and a0 are preloaded with marker values and checked afterwards
 * (the trapping instruction must not write them).
 */
#define MARK_F 0x5a5a5a5a5a5a5a5aUL
#define MARK_X 0x0123456789abcdefUL

static void report_trap(const char *name, uint64_t before, uint64_t fx,
                        uint64_t xx, uint64_t fl, int fp_usable)
{
    if (trap_count != before + 1) {
        printf("%-30s NO TRAP\n", name);
        failures++;
        return;
    }
    printf("%-30s mcause=%lu mtval=0x%08lx len=%lu", name, trap_cause,
           trap_tval, trap_len);
    if (fp_usable)
        printf(" rd kept: %s fflags %02lx", (fx == MARK_F && xx == MARK_X)
               ? "yes" : "NO", fl);
    putchar('\n');
    if (trap_cause != 2)
        failures++;
}

#define TRAP_CASE(name, setup, insn)                                        \
    do {                                                                    \
        uint64_t before_ = trap_count, fx_, xx_, fl_;                       \
        __asm__ volatile("li a0, 0x5a5a5a5a5a5a5a5a\n\t"                    \
                         "fmv.d.x ft3, a0\n\t"                              \
                         "li a0, 0x0123456789abcdef\n\t"                    \
                         "fmv.d.x ft0, zero\n\t"                            \
                         "fmv.d.x ft1, zero\n\t"                            \
                         "fmv.d.x ft2, zero\n\t"                            \
                         "fsflags zero\n\t"                                 \
                         setup "\n\t"                                       \
                         insn "\n\t"                                        \
                         "frflags %[fl]\n\t"                                \
                         "fsrm zero\n\t"                                    \
                         "fmv.x.d %[fx], ft3\n\t"                           \
                         "mv %[xx], a0"                                     \
                         : [fx] "=&r"(fx_), [xx] "=&r"(xx_), [fl] "=&r"(fl_) \
                         : : "a0", "t0", FP_CLOBBERS, "memory");             \
        report_trap(name, before_, fx_, xx_, fl_, 1);                       \
    } while (0)

/* The same instruction must NOT trap: print its result and flags. */
#define NOTRAP_CASE(name, setup, insn)                                      \
    do {                                                                    \
        uint64_t before_ = trap_count, fx_, xx_, fl_;                       \
        __asm__ volatile("li a0, 0x5a5a5a5a5a5a5a5a\n\t"                    \
                         "fmv.d.x ft3, a0\n\t"                              \
                         "li a0, 0x0123456789abcdef\n\t"                    \
                         "fsflags zero\n\t"                                 \
                         setup "\n\t"                                       \
                         insn "\n\t"                                        \
                         "frflags %[fl]\n\t"                                \
                         "fsrm zero\n\t"                                    \
                         "fmv.x.d %[fx], ft3\n\t"                           \
                         "mv %[xx], a0"                                     \
                         : [fx] "=&r"(fx_), [xx] "=&r"(xx_), [fl] "=&r"(fl_) \
                         : : "a0", "t0", FP_CLOBBERS, "memory");             \
        if (trap_count != before_) {                                        \
            printf("%-30s TRAPPED mcause=%lu\n", name, trap_cause);         \
            failures++;                                                     \
        } else {                                                            \
            printf("%-30s no trap, ft3=%016lx a0=%016lx flags ", name, fx_, \
                   xx_);                                                    \
            put_flags(fl_);                                                 \
            putchar('\n');                                                  \
        }                                                                   \
    } while (0)

/* 1.0f and 3.0f, boxed, in ft0/ft1 */
#define LOAD_1_3 "li t0, 0xffffffff3f800000\n\tfmv.d.x ft0, t0\n\t"          \
                 "li t0, 0xffffffff40400000\n\tfmv.d.x ft1, t0\n\t"
/* 1.0 and 3.0 (double) in ft0/ft1 */
#define LOAD_1_3_D "li t0, 0x3ff0000000000000\n\tfmv.d.x ft0, t0\n\t"        \
                   "li t0, 0x4008000000000000\n\tfmv.d.x ft1, t0\n\t"

/* ---- CSRs ---------------------------------------------------------------- */

static void __attribute__((noinline)) csrs(void)
{
    uint64_t old, v1, v2, v3;

    puts("-- fflags/frm/fcsr");
#define SHOW(what)                                                          \
    printf("%-34s fflags=%02lx frm=%lx fcsr=%02lx\n", what,                 \
           read_csr(fflags), read_csr(frm), read_csr(fcsr))

    write_csr(fcsr, 0);
    SHOW("fcsr = 0");
    write_csr(fcsr, 0xffffffffffffffffUL);
    SHOW("fcsr = all ones");
    write_csr(fcsr, 0x1e5);
    SHOW("fcsr = 0x1e5");
    write_csr(fcsr, 0);
    write_csr(fflags, 0xff);
    SHOW("fflags = 0xff");
    write_csr(frm, 0xfd);
    SHOW("frm = 0xfd");
    write_csr(fcsr, 0);
    for (uint64_t m = 5; m <= 7; m++) {
        write_csr(frm, m);
        printf("frm = %lu reads %lu\n", m, read_csr(frm));
    }

    write_csr(fcsr, 0x2a);               /* frm=1 fflags=0x0a */
    __asm__ volatile("fsflags %0, %1" : "=r"(old) : "r"(0x15UL));
    SHOW("fsflags 0x15 (after fcsr = 0x2a)");
    printf("  fsflags returned %02lx\n", old);
    __asm__ volatile("fsrm %0, %1" : "=r"(old) : "r"(4UL));
    SHOW("fsrm 4");
    printf("  fsrm returned %lx\n", old);
    __asm__ volatile("fscsr %0, %1" : "=r"(old) : "r"(0x61UL));
    SHOW("fscsr 0x61");
    printf("  fscsr returned %02lx\n", old);
    __asm__ volatile("frcsr %0\n\tfrrm %1\n\tfrflags %2"
                     : "=r"(v1), "=r"(v2), "=r"(v3));
    printf("frcsr %02lx frrm %lx frflags %02lx\n", v1, v2, v3);
    __asm__ volatile("fsflagsi %0, 0x1f" : "=r"(old));
    SHOW("fsflagsi 0x1f");
    printf("  fsflagsi returned %02lx\n", old);
    __asm__ volatile("fsrmi %0, 2" : "=r"(old));
    SHOW("fsrmi 2");
    printf("  fsrmi returned %lx\n", old);
    __asm__ volatile("csrrci %0, fflags, 0x5" : "=r"(old));
    SHOW("csrrci fflags, 5");
    __asm__ volatile("csrrs %0, fflags, %1" : "=r"(old) : "r"(0xe4UL));
    SHOW("csrrs fflags, 0xe4");
    __asm__ volatile("csrrc %0, fcsr, %1" : "=r"(old) : "r"(0x41UL));
    SHOW("csrrc fcsr, 0x41");
    __asm__ volatile("csrrsi %0, frm, 0x1d" : "=r"(old));
    SHOW("csrrsi frm, 0x1d");

    /* flags accumulate: nothing clears them but a CSR write */
    puts("-- flags accumulate");
    write_csr(fcsr, 0);
    __asm__ volatile(LOAD_1_3
                     "fmv.w.x ft2, zero\n\t"
                     "fdiv.s ft3, ft0, ft2\n\t"      /* 1/0: DZ */
                     "frflags %0\n\t"
                     "fdiv.s ft3, ft0, ft1\n\t"      /* 1/3: NX */
                     "frflags %1\n\t"
                     "fadd.s ft3, ft0, ft0\n\t"      /* exact: nothing new */
                     "frflags %2"
                     : "=r"(v1), "=r"(v2), "=r"(v3) : : "t0", FP_CLOBBERS);
    printf("after 1/0 %02lx, then 1/3 %02lx, then 1+1 %02lx\n", v1, v2, v3);

    /* the dynamic rounding mode, written through fcsr and through frm */
    puts("-- dynamic rounding from fcsr/frm: 1/3 (single)");
    for (uint64_t m = 0; m < 5; m++) {
        write_csr(fcsr, m << 5);
        __asm__ volatile(LOAD_1_3
                         "fdiv.s ft3, ft0, ft1, dyn\n\t"
                         "fmv.x.d %0, ft3\n\t"
                         "frflags %1"
                         : "=r"(v1), "=r"(v2) : : "t0", FP_CLOBBERS);
        write_csr(fcsr, 0);
        write_csr(frm, m);
        __asm__ volatile(LOAD_1_3
                         "fdiv.s ft3, ft0, ft1, dyn\n\t"
                         "fmv.x.d %0, ft3"
                         : "=r"(v3) : : "t0", FP_CLOBBERS);
        printf("frm %lu via fcsr: %08lx flags %02lx, via frm: %08lx\n", m,
               v1 & 0xffffffff, v2, v3 & 0xffffffff);
    }
    write_csr(fcsr, 0);
}

/* ---- illegal rounding modes ---------------------------------------------- */

static void __attribute__((noinline)) rounding_modes(void)
{
    puts("-- reserved rounding modes (mcause 2, mtval = instruction)");
    /* .insn r OPCODE, FUNCT3 (= rm), FUNCT7, rd, rs1, rs2 */
    TRAP_CASE("fadd.s rm=5", LOAD_1_3, ".insn r 0x53, 5, 0x00, ft3, ft0, ft1");
    TRAP_CASE("fadd.s rm=6", LOAD_1_3, ".insn r 0x53, 6, 0x00, ft3, ft0, ft1");
    TRAP_CASE("fdiv.d rm=5", LOAD_1_3_D, ".insn r 0x53, 5, 0x0d, ft3, ft0, ft1");
    TRAP_CASE("fsqrt.s rm=6", LOAD_1_3, ".insn r 0x53, 6, 0x2c, ft3, ft0, x0");
    TRAP_CASE("fmadd.d rm=5", LOAD_1_3_D, ".insn r4 0x43, 5, 1, ft3, ft0, ft1, ft1");
    TRAP_CASE("fnmsub.s rm=6", LOAD_1_3, ".insn r4 0x4b, 6, 0, ft3, ft0, ft1, ft1");
    TRAP_CASE("fcvt.w.s rm=5", LOAD_1_3, ".insn r 0x53, 5, 0x60, a0, ft0, x0");
    TRAP_CASE("fcvt.s.l rm=6", "", ".insn r 0x53, 6, 0x68, ft3, a0, x2");
    TRAP_CASE("fcvt.s.d rm=5", LOAD_1_3_D, ".insn r 0x53, 5, 0x20, ft3, ft0, x1");
    TRAP_CASE("fcvt.d.s rm=5 (exact op)", LOAD_1_3, ".insn r 0x53, 5, 0x21, ft3, ft0, x0");
    TRAP_CASE("fcvt.d.w rm=6 (exact op)", "", ".insn r 0x53, 6, 0x69, ft3, a0, x0");

    puts("-- rm = dyn with frm = 5, 6, 7");
    TRAP_CASE("fadd.s dyn frm=5", LOAD_1_3 "fsrmi 5", "fadd.s ft3, ft0, ft1, dyn");
    TRAP_CASE("fadd.s dyn frm=6", LOAD_1_3 "fsrmi 6", "fadd.s ft3, ft0, ft1, dyn");
    TRAP_CASE("fadd.s dyn frm=7", LOAD_1_3 "fsrmi 7", "fadd.s ft3, ft0, ft1, dyn");
    TRAP_CASE("fmul.d dyn frm=7", LOAD_1_3_D "fsrmi 7", "fmul.d ft3, ft0, ft1, dyn");
    TRAP_CASE("fmsub.d dyn frm=5", LOAD_1_3_D "fsrmi 5", "fmsub.d ft3, ft0, ft1, ft1, dyn");
    TRAP_CASE("fsqrt.d dyn frm=6", LOAD_1_3_D "fsrmi 6", "fsqrt.d ft3, ft0, dyn");
    TRAP_CASE("fcvt.l.d dyn frm=7", LOAD_1_3_D "fsrmi 7", "fcvt.l.d a0, ft0, dyn");
    TRAP_CASE("fcvt.s.wu dyn frm=5", "fsrmi 5", "fcvt.s.wu ft3, a0, dyn");
    TRAP_CASE("fcvt.d.s dyn frm=7 (exact op)", LOAD_1_3 "fsrmi 7", ".insn r 0x53, 7, 0x21, ft3, ft0, x0");
    TRAP_CASE("fcvt.d.wu dyn frm=6 (exact)", "fsrmi 6", ".insn r 0x53, 7, 0x69, ft3, a0, x1");

    puts("-- frm = 7 does not matter without rm = dyn");
    NOTRAP_CASE("fadd.s rne frm=7", LOAD_1_3 "fsrmi 7", "fadd.s ft3, ft0, ft1, rne");
    NOTRAP_CASE("fdiv.d rup frm=7", LOAD_1_3_D "fsrmi 7", "fdiv.d ft3, ft0, ft1, rup");
    NOTRAP_CASE("fsgnjn.s frm=7", LOAD_1_3 "fsrmi 7", "fsgnjn.s ft3, ft0, ft1");
    NOTRAP_CASE("fmax.d frm=7", LOAD_1_3_D "fsrmi 7", "fmax.d ft3, ft0, ft1");
    NOTRAP_CASE("flt.s frm=7", LOAD_1_3 "fsrmi 7", "flt.s a0, ft0, ft1");
    NOTRAP_CASE("fclass.d frm=7", LOAD_1_3_D "fsrmi 7", "fclass.d a0, ft1");
    NOTRAP_CASE("fmv.x.w frm=7", LOAD_1_3 "fsrmi 7", "fmv.x.w a0, ft1");
    NOTRAP_CASE("frm=6 read", "fsrmi 6", "frrm a0");
}

/* ---- mstatus.FS ------------------------------------------------------------ */

static uint64_t fp_mem[2] __attribute__((aligned(16)));

#define OFF_CASE(name, insn)                                                \
    do {                                                                    \
        uint64_t before_ = trap_count;                                      \
        set_fs(0);                                                          \
        __asm__ volatile("mv a5, %0\n\t" insn                               \
                         : : "r"(fp_mem) : "a0", "a5", "fa4", "memory");     \
        uint64_t after_ = fs_sd();                                          \
        report_trap(name, before_, 0, 0, 0, 0);                             \
        if (after_ != 0) {                                                  \
            printf("  FS/SD after the trap: %lx\n", after_);                \
            failures++;                                                     \
        }                                                                   \
    } while (0)

static void __attribute__((noinline)) fs_field(void)
{
    puts("-- mstatus.FS (printed: mstatus & (FS | SD))");
    for (uint64_t fs = 0; fs < 4; fs++) {
        set_fs(fs);
        printf("FS written %lu: %016lx\n", fs, fs_sd());
    }

    puts("-- FS = Off: FP instructions and FP CSRs are illegal, FS stays Off");
    OFF_CASE("fadd.s", "fadd.s ft3, ft0, ft1");
    OFF_CASE("fmadd.d", "fmadd.d ft3, ft0, ft1, ft2");
    OFF_CASE("fsgnj.d (fmv.d)", "fmv.d ft3, ft0");
    OFF_CASE("fmv.x.w", "fmv.x.w a0, ft0");
    OFF_CASE("fmv.d.x", "fmv.d.x ft0, zero");
    OFF_CASE("fcvt.d.w", "fcvt.d.w ft0, zero");
    OFF_CASE("feq.d", "feq.d a0, ft0, ft0");
    OFF_CASE("fclass.s", "fclass.s a0, ft0");
    OFF_CASE("flw", "flw ft0, 0(a5)");
    OFF_CASE("fsd", "fsd ft0, 0(a5)");
    OFF_CASE("c.fld", "c.fld fa4, 0(a5)");
    OFF_CASE("c.fsdsp", "addi sp, sp, -16\n\tc.fsdsp fa4, 0(sp)\n\taddi sp, sp, 16");
    OFF_CASE("csrr fflags", "csrr a0, fflags");
    OFF_CASE("csrw frm", "csrw frm, zero");
    OFF_CASE("csrr fcsr", "csrr a0, fcsr");
    OFF_CASE("fsflagsi", "fsflagsi 0");

    puts("-- an f register write makes FS Dirty (SD = 1)");
    uint64_t fs_before, fs_after;
#define DIRTY_CASE(name, fs, insn)                                          \
    do {                                                                    \
        set_fs(fs);                                                         \
        fs_before = fs_sd();                                                \
        __asm__ volatile("mv a5, %0\n\t" insn                               \
                         : : "r"(fp_mem) : "a0", "a5", "fa4", "ft0",         \
                           "ft1", "memory");                                \
        fs_after = fs_sd();                                                 \
        printf("%-30s before %016lx after %016lx\n", name, fs_before,       \
               fs_after);                                                   \
    } while (0)
    DIRTY_CASE("Initial, fadd.d", 1, "fadd.d ft0, ft1, ft1");
    DIRTY_CASE("Clean, fadd.s", 2, "fadd.s ft0, ft1, ft1");
    DIRTY_CASE("Clean, fmv.w.x", 2, "fmv.w.x ft0, zero");
    DIRTY_CASE("Clean, flw", 2, "flw ft0, 0(a5)");
    DIRTY_CASE("Clean, c.fld", 2, "c.fld fa4, 0(a5)");
    DIRTY_CASE("Clean, fcvt.s.l", 2, "fcvt.s.l ft1, a5");
    DIRTY_CASE("Dirty, fadd.s", 3, "fadd.s ft0, ft1, ft1");
    DIRTY_CASE("Clean, integer add only", 2, "add a0, a5, a5");

    set_fs(1);
}

int main(void)
{
    fp_enable();
    puts("fp_csr: FP CSRs, reserved rounding modes, mstatus.FS");
    write_csr(mtvec, (uint64_t)trap_entry);
    csrs();
    rounding_modes();
    fs_field();
    if (failures) {
        printf("FAIL: %d checks\n", failures);
        return 1;
    }
    puts("fp_csr: done");
    return 0;
}
