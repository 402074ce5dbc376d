/*
 * runtime.h - tiny freestanding runtime shared by the guest test programs.
 *
 * Devices (QEMU virt layout, which polyhart reproduces):
 *   UART ns16550a    0x10000000  (THR at +0, LSR at +5)
 *   SiFive test      0x00100000  (the "finisher": ends the simulation)
 *   CLINT            0x02000000  (msip, mtimecmp at +0x4000, mtime at +0xbff8)
 */
#ifndef POLYHART_GUEST_RUNTIME_H
#define POLYHART_GUEST_RUNTIME_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define UART_BASE      0x10000000UL
#define UART_THR       0
#define UART_LSR       5
#define UART_LSR_THRE  0x20   /* transmit holding register empty */
#define UART_LSR_TEMT  0x40   /* transmitter empty */

#define FINISHER_BASE  0x00100000UL
#define FINISHER_PASS  0x5555
#define FINISHER_FAIL  0x3333

#define CLINT_BASE     0x02000000UL
#define CLINT_MSIP(h)      (CLINT_BASE + 4UL * (h))
#define CLINT_MTIMECMP(h)  (CLINT_BASE + 0x4000UL + 8UL * (h))
#define CLINT_MTIME        (CLINT_BASE + 0xbff8UL)

#define MMIO8(a)   (*(volatile uint8_t  *)(uintptr_t)(a))
#define MMIO32(a)  (*(volatile uint32_t *)(uintptr_t)(a))
#define MMIO64(a)  (*(volatile uint64_t *)(uintptr_t)(a))

#define read_csr(name) ({ uint64_t v_; \
    __asm__ volatile ("csrr %0, " #name : "=r"(v_)); v_; })
#define write_csr(name, val) \
    __asm__ volatile ("csrw " #name ", %0" :: "rK"((uint64_t)(val)) : "memory")
#define set_csr(name, bits) \
    __asm__ volatile ("csrs " #name ", %0" :: "rK"((uint64_t)(bits)) : "memory")
#define clear_csr(name, bits) \
    __asm__ volatile ("csrc " #name ", %0" :: "rK"((uint64_t)(bits)) : "memory")

int putchar(int c);
int puts(const char *s);                 /* like libc: appends '\n' */
void putstr(const char *s);              /* no newline */
int printf(const char *fmt, ...);
int vprintf(const char *fmt, va_list ap);
void exit(int code) __attribute__((noreturn));

void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

/* Report a failed check: prints "FAIL: <what>" and exits with `code`. */
void fail(int code, const char *what) __attribute__((noreturn));

/* The C trap vector in runtime.c: set mtvec to trap_entry and define
   handle_trap to use it. */
extern char trap_entry[];
void handle_trap(uint64_t cause, uint64_t epc, uint64_t tval);

#endif
