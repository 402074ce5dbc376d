/*
 * AMO and SC faults, checked against the privileged spec rather than QEMU:
 * the trap harness of traps.c, running only its amo_exceptions() cases.
 */
#define AMO_FAULTS 1
#include "traps.c"
