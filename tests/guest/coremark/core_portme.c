/*
 * core_portme.c - CoreMark port to the polyhart bare-metal guest runtime
 * (see core_portme.h): seeds, the mcycle timer, init and fini.
 */
#include "coremark.h"

/* ---- Seeds (SEED_VOLATILE): read at run time, so nothing folds away ------- */

#if VALIDATION_RUN
volatile ee_s32 seed1_volatile = 0x3415;
volatile ee_s32 seed2_volatile = 0x3415;
volatile ee_s32 seed3_volatile = 0x66;
#endif
#if PERFORMANCE_RUN
volatile ee_s32 seed1_volatile = 0x0;
volatile ee_s32 seed2_volatile = 0x0;
volatile ee_s32 seed3_volatile = 0x66;
#endif
#if PROFILE_RUN
volatile ee_s32 seed1_volatile = 0x8;
volatile ee_s32 seed2_volatile = 0x8;
volatile ee_s32 seed3_volatile = 0x8;
#endif
volatile ee_s32 seed4_volatile = ITERATIONS;
volatile ee_s32 seed5_volatile = 0;     /* 0: run all three algorithms */

ee_u32 default_num_contexts = 1;

/* ---- Timer: mcycle -------------------------------------------------------- */

static CORE_TICKS start_cycle, stop_cycle;

static inline CORE_TICKS read_mcycle(void)
{
    return read_csr(mcycle);
}

void start_time(void)
{
    start_cycle = read_mcycle();
}

void stop_time(void)
{
    stop_cycle = read_mcycle();
}

CORE_TICKS get_time(void)
{
    return stop_cycle - start_cycle;
}

secs_ret time_in_secs(CORE_TICKS ticks)
{
    return (secs_ret)(ticks / EE_TICKS_PER_SEC);
}

/* ---- Init and fini ---------------------------------------------------------- */

#define MSTATUS_FS      (3UL << 13)
#define MSTATUS_FS_INIT (1UL << 13)

void portable_init(core_portable *p, int *argc, char *argv[])
{
    (void)argc;
    (void)argv;
    /* crt0 leaves mstatus.FS Off; the code is built for rv64imafdc, so let
       any FP instruction the compiler might choose run (FS = Initial). */
    clear_csr(mstatus, MSTATUS_FS);
    set_csr(mstatus, MSTATUS_FS_INIT);
    p->portable_id = 1;
}

/*
 * After CoreMark's report, one line with CoreMark/MHz = Iterations * 1e6 /
 * Total ticks (ticks = mcycle), to three decimals.  main() passes
 * &results[0].port, which gives the results (for the iteration count).
 */
void portable_fini(core_portable *p)
{
    const core_results *res
        = (const core_results *)((char *)p - offsetof(core_results, port));
    uint64_t ticks = get_time();
    uint64_t iterations = (uint64_t)default_num_contexts * res->iterations;

    p->portable_id = 0;
    if (ticks == 0)
        return;
    uint64_t milli = (iterations * 1000000000ULL + ticks / 2) / ticks;
    ee_printf("CoreMark/MHz     : %lu.%03lu (Iterations * 1000000 / Total ticks)\n",
              (unsigned long)(milli / 1000), (unsigned long)(milli % 1000));
}
