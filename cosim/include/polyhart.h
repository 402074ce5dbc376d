/*
 * polyhart.h - the C ABI of polyhart's cosimulation layer.
 *
 * Link with libpolyhart_cosim.a (and -lpthread -ldl -lm) or
 * libpolyhart_cosim.so, both built by `cargo build -p polyhart-cosim`.
 * cosim/src/capi.rs is the implementation; cosim/tests/c_abi.rs checks that
 * this header declares exactly its functions and lays out its structures
 * the same way.
 *
 * A machine is a RISC-V virt board (QEMU's memory map) whose harts run on
 * host threads, driven by an outside simulator in quanta of simulated time:
 *
 *     polyhart_builder *b;
 *     polyhart_builder_new(&b);
 *     polyhart_builder_set_kernel_file(b, "guest.elf");
 *     polyhart_builder_add_region(b, "devices", 0x20000000, 0x10000, serve, ctx, NULL);
 *     polyhart_cosim *m;
 *     if (polyhart_build(b, &m, err, sizeof err) != POLYHART_OK) ...
 *     for (;;) {
 *         polyhart_advance_result r;
 *         polyhart_advance(m, quantum_ps, &r);   // serve() is called in here
 *         wait(r.time_ps - now);                  // bring the outside's time along
 *         if (r.end == POLYHART_STOPPED) break;
 *     }
 *     polyhart_free(m);
 *
 * Time is in picoseconds. The outside's time stands still during
 * polyhart_advance (as SystemC's does while a process runs); each hart's
 * local time runs ahead of it, and a transaction's delay_ps is that offset.
 *
 * Errors: every call returns a polyhart_status; nothing unwinds across the
 * boundary. A pointer argument may be null only where a call says so
 * (null where one is required gives POLYHART_ERR_NULL).
 *
 * Threads:
 *  - A machine is driven from one thread at a time (any thread, but not two
 *    at once): polyhart_advance and the calls that read or write hart state
 *    or memory.
 *  - Transaction callbacks (polyhart_transport_fn) run on the thread inside
 *    polyhart_advance, one at a time, whichever hart thread made the
 *    access; so they may call into a single-threaded simulator (SystemC's
 *    b_transport, even wait()).
 *  - From inside a transaction callback only the calls marked
 *    "callback-safe" may be made on the same machine; the others answer
 *    POLYHART_ERR_BUSY. Callback-safe calls may also be made from any other
 *    thread at any time.
 *  - The console callback runs on hart threads, one call at a time.
 *  - Machines are independent: many may exist in one process, each driven
 *    from its own thread.
 */
#ifndef POLYHART_H
#define POLYHART_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum polyhart_status {
    POLYHART_OK = 0,
    POLYHART_ERR_NULL = 1,      /* a required pointer was null */
    POLYHART_ERR_INVALID = 2,   /* an argument out of range */
    POLYHART_ERR_BUILD = 3,     /* the machine could not be built (see the message) */
    POLYHART_ERR_IO = 4,        /* a file could not be read */
    POLYHART_ERR_PANIC = 5,     /* polyhart failed inside: free the machine */
    POLYHART_ERR_BUSY = 6,      /* not callback-safe, called from a callback */
    POLYHART_ERR_POISONED = 7   /* an earlier call failed inside: only polyhart_free is left */
} polyhart_status;

/* polyhart_advance_result.end */
#define POLYHART_REACHED 0u     /* every hart reached the time asked for */
#define POLYHART_SYNC    1u     /* a hart asked to synchronise (hart says which) */
#define POLYHART_STOPPED 2u     /* the machine stopped (stop says why) */

/* polyhart_advance_result.stop */
#define POLYHART_STOP_EXIT      0u  /* the guest exited with exit_code */
#define POLYHART_STOP_RESET     1u  /* the guest asked for a reset */
#define POLYHART_STOP_TRAP_LOOP 2u  /* hart `hart` traps forever without retiring */
#define POLYHART_STOP_DEADLOCK  3u  /* every hart waits and nothing can wake one */
#define POLYHART_STOP_STOPPED   4u  /* stopped from outside */
#define POLYHART_STOP_JIT_DIVERGENCE 5u  /* lockstep: the JIT and the interpreter disagree on hart `hart` */

typedef struct polyhart_advance_result {
    uint32_t end;
    uint32_t hart;
    uint32_t stop;
    int32_t exit_code;
    uint64_t time_ps;           /* the time reached */
} polyhart_advance_result;

/* polyhart_transaction.command */
#define POLYHART_READ  0u
#define POLYHART_WRITE 1u

/* What a transport callback returns (TLM-2.0's response status). Anything
   but POLYHART_RESP_OK makes the hart take an access fault. */
#define POLYHART_RESP_OK            0
#define POLYHART_RESP_ADDRESS_ERROR 1
#define POLYHART_RESP_COMMAND_ERROR 2
#define POLYHART_RESP_GENERIC_ERROR 3

typedef struct polyhart_transaction {
    uint32_t command;           /* POLYHART_READ or POLYHART_WRITE */
    uint32_t hart;              /* the issuing hart's mhartid */
    uint64_t address;           /* guest physical address */
    uint8_t data[8];            /* little-endian; the first `size` bytes count */
    uint8_t size;               /* 1, 2, 4 or 8 */
    uint8_t byte_enables;       /* bit i: byte i takes part (all, for a hart) */
    uint8_t sync;               /* out: non-zero makes the hart synchronise */
    uint8_t reserved;
    uint64_t delay_ps;          /* in: the hart's local time offset; out: plus latency */
} polyhart_transaction;

/* Serves one transaction (b_transport): fills data for a read, may add to
   delay_ps and set sync. Returns a POLYHART_RESP_* value. An AMO arrives as
   a read and a write back to back. */
typedef int32_t (*polyhart_transport_fn)(void *user, polyhart_transaction *tx);

/* Receives `len` bytes of guest console output. */
typedef void (*polyhart_console_fn)(void *user, const uint8_t *bytes, size_t len);

typedef struct polyhart_builder polyhart_builder;
typedef struct polyhart_cosim polyhart_cosim;

/* ---- building ---------------------------------------------------------- */

/* A configuration: 1 hart, 128 MiB of RAM, 1 GHz, a 10 us quantum, a host
   thread per hart, the interpreter, console to standard output. */
polyhart_status polyhart_builder_new(polyhart_builder **out);
/* Frees a configuration that was not built. b may be null. */
void polyhart_builder_free(polyhart_builder *b);
polyhart_status polyhart_builder_set_harts(polyhart_builder *b, uint32_t harts);
polyhart_status polyhart_builder_set_ram_size(polyhart_builder *b, uint64_t bytes);
polyhart_status polyhart_builder_set_cpu_frequency(polyhart_builder *b, uint64_t hz);
/* How far harts may drift apart inside an advance. */
polyhart_status polyhart_builder_set_quantum(polyhart_builder *b, uint64_t quantum_ps);
/* Non-zero: all harts on the thread calling polyhart_advance, in turn
   (bit-identical runs); zero: a host thread per hart. */
polyhart_status polyhart_builder_set_deterministic(polyhart_builder *b, int32_t on);
/* Non-zero: compile blocks run `threshold` times with the JIT, on its own
   thread (the default, threshold 50); zero: the interpreter alone. */
polyhart_status polyhart_builder_set_jit(polyhart_builder *b, int32_t on, uint32_t threshold);
/* The kernel (ELF or raw binary), copied. */
polyhart_status polyhart_builder_set_kernel(polyhart_builder *b, const uint8_t *data, size_t len);
polyhart_status polyhart_builder_set_kernel_file(polyhart_builder *b, const char *path);
/* Firmware at the start of RAM (e.g. OpenSBI's fw_dynamic). */
polyhart_status polyhart_builder_set_firmware_file(polyhart_builder *b, const char *path);
/* Guest console output to write(user, ...) instead of standard output. */
polyhart_status polyhart_builder_set_console(polyhart_builder *b, polyhart_console_fn write, void *user);
/* Claims [base, base + size) as an external region served by serve(user,
   tx); its index (0, 1, ... in order) goes to *index unless index is null.
   name may be null. An empty region, or one that runs past the end of the
   address space, is POLYHART_ERR_INVALID. */
polyhart_status polyhart_builder_add_region(polyhart_builder *b, const char *name, uint64_t base, uint64_t size,
                                            polyhart_transport_fn serve, void *user, uint32_t *index);
/* Announces region `index` in the guest's device tree as /soc/NAME@BASE
   with `count` compatible strings (most specific first), its window as
   reg and, unless irq is 0, PLIC source irq (not 1-8, 10 or 11: the
   board's own) as its interrupt, so Linux and U-Boot can find it. */
polyhart_status polyhart_builder_describe_region(polyhart_builder *b, uint32_t index, const char *name,
                                                 const char *const *compatible, size_t count, uint32_t irq);
/* Builds the machine; b is consumed either way. On failure a message goes
   to error (NUL-terminated, cut to error_len bytes) unless it is null. */
polyhart_status polyhart_build(polyhart_builder *b, polyhart_cosim **out, char *error, size_t error_len);
/* Frees a machine. m may be null. From inside a transaction callback of
   the machine's own advance it does nothing. */
void polyhart_free(polyhart_cosim *m);

/* ---- running ----------------------------------------------------------- */

/* Runs every hart until its local time reaches the outside's time plus
   duration_ps, a hart asks to synchronise, or the machine stops.
   Transaction callbacks run on this thread meanwhile. */
polyhart_status polyhart_advance(const polyhart_cosim *m, uint64_t duration_ps, polyhart_advance_result *result);
/* The outside's time: where the last advance ended. Callback-safe. */
polyhart_status polyhart_now(const polyhart_cosim *m, uint64_t *ps);
/* Hart `hart`'s local time. */
polyhart_status polyhart_local_time(const polyhart_cosim *m, uint32_t hart, uint64_t *ps);

/* ---- lines, resets, DMI: callback-safe --------------------------------- */

/* PLIC source `source` (1 to 95) to `level` now; a source the board's own
   devices drive (10 the UART's, 11 the RTC's) is POLYHART_ERR_INVALID. */
polyhart_status polyhart_set_irq(const polyhart_cosim *m, uint32_t source, int32_t level);
/* ... when simulated time reaches at_ps (now, if it has): harts behind that
   time see it on time. */
polyhart_status polyhart_set_irq_at(const polyhart_cosim *m, uint32_t source, int32_t level, uint64_t at_ps);
/* Hart `hart`'s mip bit `irq` now: 1 (SSIP) or 5 (STIP), the lines nothing
   on the board drives; 3, 7, 9 and 11 (the ACLINT's and the PLIC's) are
   POLYHART_ERR_INVALID. */
polyhart_status polyhart_set_hart_irq(const polyhart_cosim *m, uint32_t hart, uint32_t irq, int32_t level);
/* Resets hart `hart` when simulated time reaches at_ps: it restarts at the
   reset vector. */
polyhart_status polyhart_reset_hart_at(const polyhart_cosim *m, uint32_t hart, uint64_t at_ps);
/* Accesses to [start, start + len) of region `region` go to `host` directly
   (reads if `read`, writes if `write`), adding the latencies. `host` must
   stay valid, from any thread, until a revoke covering it returns. A grant
   replaces the earlier ones it covers and allows as much as, so granting
   the same range again adds nothing. A null host: POLYHART_ERR_NULL. */
polyhart_status polyhart_grant_dmi(const polyhart_cosim *m, uint32_t region, uint64_t start, uint64_t len,
                                   uint8_t *host, int32_t read, int32_t write, uint64_t read_latency_ps,
                                   uint64_t write_latency_ps);
/* Revokes the grants overlapping [start, end) (invalidate_direct_mem_ptr);
   once it returns no hart touches their memory. end is exclusive, and 0
   stands for 2^64, the end of the address space: TLM's inclusive range
   for everything, 0 to ~0ull, becomes (0, ~0ull + 1) = (0, 0), which
   revokes every grant. start >= end otherwise: POLYHART_ERR_INVALID. */
polyhart_status polyhart_revoke_dmi(const polyhart_cosim *m, uint32_t region, uint64_t start, uint64_t end);

/* ---- state, between advances -------------------------------------------- */

polyhart_status polyhart_read_reg(const polyhart_cosim *m, uint32_t hart, uint32_t index, uint64_t *value);
polyhart_status polyhart_write_reg(const polyhart_cosim *m, uint32_t hart, uint32_t index, uint64_t value);
polyhart_status polyhart_read_pc(const polyhart_cosim *m, uint32_t hart, uint64_t *value);
/* An odd pc (no instruction starts there): POLYHART_ERR_INVALID. */
polyhart_status polyhart_write_pc(const polyhart_cosim *m, uint32_t hart, uint64_t value);
/* Instructions retired by all harts together. */
polyhart_status polyhart_instructions(const polyhart_cosim *m, uint64_t *count);
/* Serves GDB's remote protocol: listens on address ("HOST:PORT"; NULL:
   "127.0.0.1:1234"), waits for GDB to connect and holds the machine until
   GDB continues it. From then on a breakpoint, a watchpoint or GDB's Ctrl-C
   stops the machine inside polyhart_advance, which serves GDB there:
   simulated time stands still while GDB holds the machine, and the advance
   ends where it would have. A kill ends the machine (POLYHART_STOP_STOPPED
   at the next advance); a detach lets it run on. Cannot listen or accept:
   POLYHART_ERR_IO. */
polyhart_status polyhart_debug(const polyhart_cosim *m, const char *address);
/* Saves the whole machine (harts, devices, RAM, simulated time and the
   interrupt changes queued with polyhart_set_irq_at and the like) to the
   file at path, between advances. RAM goes in sparsely: pages of zeros
   take no room. On failure the reason goes to error (up to error_len
   bytes, NUL-terminated) when it is not NULL: POLYHART_ERR_IO for a file
   that cannot be written. */
polyhart_status polyhart_snapshot_save(const polyhart_cosim *m, const char *path, char *error, size_t error_len);
/* Makes the machine the one saved at path, between advances. The machine
   must be built as the saved one was (harts, RAM, images, regions,
   devices; disks stay the user's files). RAM is mapped copy-on-write from
   the file, so a restore costs little and many machines can share one
   snapshot. The SystemC side must bring its own state, its time included,
   back to the snapshot's point (polyhart_now says where that is). On
   failure the machine is as it was: POLYHART_ERR_IO for a file that cannot
   be read, POLYHART_ERR_INVALID for another machine's snapshot or a
   damaged one, the reason in error. */
polyhart_status polyhart_snapshot_restore(const polyhart_cosim *m, const char *path, char *error, size_t error_len);
/* Guest RAM at physical addresses (translated code there is dropped on a
   write, as on a hart's store). */
polyhart_status polyhart_read_memory(const polyhart_cosim *m, uint64_t addr, uint8_t *buf, size_t len);
polyhart_status polyhart_write_memory(const polyhart_cosim *m, uint64_t addr, const uint8_t *data, size_t len);

/* "POLYHART_OK", "POLYHART_ERR_BUSY", ... (static storage), or
   "POLYHART_UNKNOWN_STATUS" for a value no polyhart_status has. Takes an
   int32_t rather than the enum, so any value may be passed. */
const char *polyhart_status_name(int32_t status);

#ifdef __cplusplus
}
#endif

#endif
