/*
 * dhry_port.h - Dhrystone 2.1 port to the polyhart bare-metal guest runtime
 * (../crt0.S, ../runtime.c).  Written for polyhart; the benchmark sources
 * next to this file are Weicker's, changed only as README.md lists.
 *
 * Declares what dhry.h expects from <stdio.h> (it includes this file through
 * include/stdio.h): printf (runtime.c), strcpy and strcmp (dhry_port.c,
 * strcmp.S), and the port's report function.
 */
#ifndef POLYHART_DHRY_PORT_H
#define POLYHART_DHRY_PORT_H

#include "../runtime.h"         /* printf, read_csr, stdint/stddef types */

char *strcpy(char *dst, const char *src);   /* dhry_port.c */
int strcmp(const char *a, const char *b);   /* strcmp.S */

/*
 * The guest programs are compiled freestanding (-ffreestanding, hence
 * -fno-builtin), while SiFive builds Dhrystone hosted, where GCC knows the
 * string functions and expands strcpy of a constant string inline.  The C
 * standard lets a library header define its functions as macros; these two
 * give dhry_1.c and dhry_2.c the hosted code generation.  (GCC still calls
 * strcmp for the strings Func_2 compares, which are not constants.)
 */
#define strcpy(dst, src) __builtin_strcpy(dst, src)
#define strcmp(a, b)     __builtin_strcmp(a, b)

/*
 * Called by main() after the benchmark's own output, with the number of
 * runs and User_Time = End_Time - Begin_Time in mcycle cycles (time() is
 * mcycle here, see dhry_port.c).  Prints the figures the original prints
 * with %f, in integer arithmetic, and DMIPS/MHz.
 */
void Dhry_Report(long number_of_runs, long user_time);

#endif /* POLYHART_DHRY_PORT_H */
