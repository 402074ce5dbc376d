/*
 * stdio.h - stands in for the C library header that dhry.h includes
 * ("for strcpy, strcmp", and printf).  The guest programs are freestanding:
 * the toolchain has no C library headers, so the Makefile puts this
 * directory on the include path for Dhrystone.  Written for polyhart.
 */
#ifndef POLYHART_DHRY_STDIO_H
#define POLYHART_DHRY_STDIO_H

#include "../dhry_port.h"

#endif
