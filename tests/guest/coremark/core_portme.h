/*
 * core_portme.h - CoreMark port to the polyhart bare-metal guest runtime.
 *
 * Written for polyhart (not derived from another port).  The benchmark
 * sources next to this file are EEMBC's, unmodified (README.md).
 *
 * Target: RV64GC, M-mode, one hart, QEMU virt memory map; crt0.S calls
 * main(), ../runtime.c provides printf (UART) and exit() (test finisher).
 *
 * Timing: CORE_TICKS are the hart's mcycle CSR, so "Total ticks" in the
 * report is cycles.  EE_TICKS_PER_SEC is a nominal 1 MHz clock: "Total time
 * (secs)" is then megacycles and
 *
 *     CoreMark/MHz = Iterations * 1e6 / Total ticks
 *
 * (portable_fini prints that figure as a last line).  Only integer
 * arithmetic is used (HAS_FLOAT = 0), so "Iterations/Sec" is that figure
 * truncated, over whole megacycles.
 */
#ifndef POLYHART_CORE_PORTME_H
#define POLYHART_CORE_PORTME_H

#include "../runtime.h"         /* printf, read_csr, stdint/stddef types */

/* ---- Features ------------------------------------------------------------ */

#define HAS_FLOAT   0           /* runtime.c's printf has no %f */
#define HAS_TIME_H  0
#define USE_CLOCK   0
#define HAS_STDIO   0           /* no <stdio.h>: freestanding */
#define HAS_PRINTF  1           /* coremark.h: #define ee_printf printf */

/* ---- Run configuration ----------------------------------------------------- */

/* The standard 2K performance run (seeds 0, 0, 0x66: seedcrc 0xe9f5). */
#if !defined(PROFILE_RUN) && !defined(PERFORMANCE_RUN) && !defined(VALIDATION_RUN)
#define PERFORMANCE_RUN 1
#endif

/* Fixed, never 0: 0 would make CoreMark calibrate against the clock. */
#ifndef ITERATIONS
#define ITERATIONS 40
#endif

#define SEED_METHOD     SEED_VOLATILE
#define MEM_METHOD      MEM_STATIC
#define MULTITHREAD     1
#define MAIN_HAS_NOARGC 1
#define MAIN_HAS_NORETURN 0

/* ---- Report strings -------------------------------------------------------- */

#ifndef COMPILER_VERSION
#ifdef __GNUC__
#define COMPILER_VERSION "GCC" __VERSION__
#else
#define COMPILER_VERSION "unknown compiler"
#endif
#endif

/* The Makefile passes the exact flags as FLAGS_STR. */
#ifndef FLAGS_STR
#define FLAGS_STR "(FLAGS_STR not set)"
#endif
#ifndef COMPILER_FLAGS
#define COMPILER_FLAGS FLAGS_STR
#endif

#ifndef MEM_LOCATION
#define MEM_LOCATION "STATIC"
#endif

/* ---- Data types ------------------------------------------------------------ */

typedef int16_t   ee_s16;
typedef uint16_t  ee_u16;
typedef int32_t   ee_s32;
typedef uint32_t  ee_u32;
typedef uint8_t   ee_u8;
typedef uintptr_t ee_ptr_int;   /* 64 bits: holds a pointer */
typedef size_t    ee_size_t;
typedef uint64_t  CORE_TICKS;   /* mcycle */

/* Round a pointer up to the next multiple of 4 (what core_matrix.c needs
   for its 32-bit results). */
#define align_mem(x) ((void *)(((ee_ptr_int)(x) + 3) & ~(ee_ptr_int)3))

/* ---- Timer ------------------------------------------------------------------ */

/* Nominal: 1,000,000 mcycle ticks per "second", see above. */
#define EE_TICKS_PER_SEC 1000000UL
#define CLOCKS_PER_SEC   EE_TICKS_PER_SEC

/* ---- Port state ------------------------------------------------------------- */

typedef struct CORE_PORTABLE_S
{
    ee_u8 portable_id;
} core_portable;

extern ee_u32 default_num_contexts;

void portable_init(core_portable *p, int *argc, char *argv[]);
void portable_fini(core_portable *p);

#endif /* POLYHART_CORE_PORTME_H */
