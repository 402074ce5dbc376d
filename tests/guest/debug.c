/*
 * debug.c - the guest the debugger tests drive (tests/debugger.rs through
 * the machine API, tests/gdb.rs through gdb-multiarch).
 *
 * Hart 0 runs a hot loop that calls mix() and now and then stores the loop
 * counter in the global `progress` (a watchpoint's target), then prints a
 * checksum and exits 0. The other harts count in `spins[hartid]` until hart
 * 0 is done, so a thread list shows each of them somewhere in spin(). A
 * debugger that sets `forever` keeps hart 0 in its loop.
 */
#include "runtime.h"

#define ROUNDS 20000

volatile uint64_t progress;
volatile int forever;
volatile uint64_t spins[8];
static volatile int done;

__attribute__((noinline)) uint64_t mix(uint64_t x)
{
    x ^= x >> 7;
    x *= 0x9e3779b97f4a7c15ull;
    return x ^ (x >> 29);
}

__attribute__((noinline)) static void spin(uint64_t hartid)
{
    while (!done)
        spins[hartid]++;
}

void secondary_main(uint64_t hartid)
{
    if (hartid < 8)
        spin(hartid);
    for (;;)
        __asm__ volatile ("wfi");
}

int main(void)
{
    uint64_t acc = 1;
    for (uint64_t i = 0; i < ROUNDS || forever; i++) {
        acc = mix(acc + i);
        if ((i & 1023) == 0)
            progress = i;
    }
    progress = ROUNDS;
    done = 1;
    printf("debug: %x\n", (unsigned)acc);
    return 0;
}
