/*
 * dhry_port.c - Dhrystone 2.1 port to the polyhart bare-metal guest runtime:
 * the library functions dhry_1.c / dhry_2.c call that runtime.c does not
 * have (malloc, strcpy, time; strcmp is strcmp.S), and the integer report.
 * Written for polyhart (see README.md).
 */
#include "dhry_port.h"

/* ---- malloc: main() allocates two records once, before the timed loop ---- */

static unsigned char heap[256] __attribute__((aligned(16)));
static size_t heap_used;

void *malloc(size_t n)
{
    size_t size = (n + 15) & ~(size_t)15;

    if (size > sizeof(heap) - heap_used)
        fail(1, "dhrystone: malloc out of memory");
    void *p = &heap[heap_used];
    heap_used += size;
    return p;
}

/* ---- strcpy: unused; GCC turns dhry_1.c's calls (constant strings, see
   dhry_port.h) into inline loads and stores or a memcpy ------------------ */

char *(strcpy)(char *dst, const char *src)
{
    char *d = dst;
    while ((*d++ = *src++) != '\0')
        ;
    return dst;
}

/* ---- Timer: Dhrystone's TIME variant (-DTIME) reads time() -------------- */

/*
 * main() sets Begin_Time = time(0) before the timed loop and End_Time =
 * time(0) after it.  Here time() is the hart's mcycle CSR, so User_Time =
 * End_Time - Begin_Time is in cycles (Too_Small_Time, 2, is then 2 cycles).
 */
long time(long *t)
{
    long now = (long)read_csr(mcycle);
    if (t)
        *t = now;
    return now;
}

/* ---- Report: integers only (runtime.c's printf has no %f) ---------------- */

/* DMIPS are Dhrystones per second / 1757 (the VAX 11/780's score). */
#define VAX_DHRYSTONES_PER_SEC 1757

static void put_tenths(uint64_t num, uint64_t den)
{
    uint64_t tenths = (num * 10 + den / 2) / den;
    /* like the original's printf ("%6.1f \n", ...) */
    printf("%4lu.%lu \n", (unsigned long)(tenths / 10),
           (unsigned long)(tenths % 10));
}

/*
 * The original, with -DTIME, prints
 *     Microseconds for one run = User_Time * 1e6 / Number_Of_Runs
 *     Dhrystones per Second    = Number_Of_Runs / User_Time
 * with %6.1f, User_Time in seconds.  Here User_Time is cycles, taken as
 * microseconds of a nominal 1 MHz clock: the first figure is cycles per run
 * and the second Dhrystones per 1e6 cycles, so the second divided by 1757
 * is DMIPS/MHz, printed last to three decimals (rounded):
 *     DMIPS/MHz = Number_Of_Runs * 1e6 / cycles / 1757
 */
void Dhry_Report(long number_of_runs, long user_time)
{
    uint64_t runs = (uint64_t)number_of_runs;
    uint64_t cycles = (uint64_t)user_time;

    if (runs == 0 || cycles == 0)
        return;
    printf("Microseconds for one run through Dhrystone: ");
    put_tenths(cycles, runs);
    printf("Dhrystones per Second:                      ");
    put_tenths(runs * 1000000, cycles);
    printf("\n");

    uint64_t den = cycles * VAX_DHRYSTONES_PER_SEC;
    uint64_t milli = (runs * 1000000000ULL + den / 2) / den;
    printf("Number of runs:      %lu\n", (unsigned long)runs);
    printf("Cycles (mcycle):     %lu\n", (unsigned long)cycles);
    printf("DMIPS/MHz : %lu.%03lu\n", (unsigned long)(milli / 1000),
           (unsigned long)(milli % 1000));

    /* The report is the last thing main() does.  main () has no return
       statement, and in a freestanding build (unlike a hosted one) falling
       off its end returns no defined value to crt0's exit(), so end here. */
    exit(0);
}
