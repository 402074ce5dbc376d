/*
 * polyhart-plugin.h: instrumentation plugins for polyhart, written in C.
 *
 * A plugin is a shared library that polyhart loads with
 * `--plugin PATH.so[,key=value...]` (or `polyhart::machine::plugins::load`
 * from Rust). It exports two symbols:
 *
 *   const uint32_t polyhart_plugin_version = POLYHART_PLUGIN_VERSION;
 *   int polyhart_plugin_install(const polyhart_plugin_api *api,
 *                               polyhart_plugin *plugin,
 *                               int argc, const char *const *argv,
 *                               char *error, size_t error_len);
 *
 * `polyhart_plugin_install` is called once, with the `key=value` arguments
 * of the command line as argv (argv[0] is the library's path). It fills in
 * `plugin` (zeroed beforehand): a name, a user pointer, and the callbacks it
 * wants; any callback may stay NULL. It returns 0, or writes a message of at
 * most error_len bytes (NUL included) to `error` and returns non-zero.
 * `api` stays valid for as long as the plugin is loaded; everything else
 * polyhart passes (blocks, plans, harts, events) is valid only during the
 * callback it is passed to.
 *
 * The model is the Rust one (`polyhart_iss::plugin`):
 *
 *  - translate() sees each block once, when a hart translates it, and plans
 *    what it wants while the block runs: calls before the block or an
 *    instruction, calls after an instruction's memory accesses, and inline
 *    counters that polyhart (compiled code included) adds to without any
 *    call. Blocks are shared by the harts of a machine.
 *  - hart_init() makes each hart's user data. Every other per-hart callback
 *    gets that hart's data and runs on that hart's thread only: no locks are
 *    needed between harts.
 *  - finish() runs when the plugin is removed or the machine ends: it gets
 *    each hart's data and counters, and is where a plugin reports.
 *
 * Threads: translate() may run on several harts' threads at once; setup()
 * and finish() run on the thread that installs or removes the plugins.
 * Callbacks must not unwind (C++ exceptions) into polyhart.
 */
#ifndef POLYHART_PLUGIN_H
#define POLYHART_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this interface: a plugin built for another is refused. */
#define POLYHART_PLUGIN_VERSION 1

/* Opaque handles, valid during the callback they are given to. */
typedef struct polyhart_setup polyhart_setup;
typedef struct polyhart_block polyhart_block;
typedef struct polyhart_plan polyhart_plan;
typedef struct polyhart_hart polyhart_hart;
typedef struct polyhart_finished polyhart_finished;

/* What kind of work an instruction does (polyhart_iss::decode::Class). */
typedef enum polyhart_class {
    POLYHART_CLASS_ALU = 0,
    POLYHART_CLASS_MUL = 1,
    POLYHART_CLASS_DIV = 2,
    POLYHART_CLASS_BRANCH = 3,
    POLYHART_CLASS_JUMP = 4,
    POLYHART_CLASS_LOAD = 5,
    POLYHART_CLASS_STORE = 6,
    POLYHART_CLASS_ATOMIC = 7,
    POLYHART_CLASS_FENCE = 8,
    POLYHART_CLASS_CSR = 9,
    POLYHART_CLASS_SYSTEM = 10,
    POLYHART_CLASS_FP_ADD = 11,
    POLYHART_CLASS_FP_MUL = 12,
    POLYHART_CLASS_FP_FMA = 13,
    POLYHART_CLASS_FP_DIV = 14,
    POLYHART_CLASS_FP_SQRT = 15,
    POLYHART_CLASS_FP_MOVE = 16,
    POLYHART_CLASS_FP_COMPARE = 17,
    POLYHART_CLASS_FP_CONVERT = 18,
    POLYHART_CLASS_ILLEGAL = 19,
    POLYHART_CLASS_COUNT = 20
} polyhart_class;

/* What a memory access did. */
typedef enum polyhart_memory_kind {
    POLYHART_MEMORY_LOAD = 0,
    POLYHART_MEMORY_STORE = 1,
    /* lr */
    POLYHART_MEMORY_LOAD_RESERVED = 2,
    /* a successful sc (a failed one makes no access) */
    POLYHART_MEMORY_STORE_CONDITIONAL = 3,
    /* an AMO: value is what memory held before it */
    POLYHART_MEMORY_AMO = 4
} polyhart_memory_kind;

/* One instruction of a block, at translation. */
typedef struct polyhart_insn_info {
    /* Its virtual address, as the translating hart fetched it. */
    uint64_t pc;
    /* Its physical address. */
    uint64_t physical;
    /* Its encoding, 16 or 32 bits. */
    uint32_t raw;
    /* 2 or 4. */
    uint32_t len;
    /* A polyhart_class. */
    uint32_t insn_class;
    /* Bytes its memory access reaches, 0 when it makes none. */
    uint32_t memory_size;
    /* Its disassembly, as objdump writes it, NUL-terminated (cut short to
     * fit). */
    char disassembly[64];
} polyhart_insn_info;

/* A memory access an instruction made. */
typedef struct polyhart_memory_event {
    uint64_t vaddr;
    /* Physical address of the first byte. */
    uint64_t paddr;
    /* The value loaded or stored (see polyhart_memory_kind). */
    uint64_t value;
    /* Bytes: 1, 2, 4 or 8. */
    uint32_t size;
    /* A polyhart_memory_kind. */
    uint32_t kind;
    /* 1 when it reached a device rather than RAM. */
    uint32_t device;
    uint32_t reserved;
} polyhart_memory_event;

/* A trap a hart is about to take. */
typedef struct polyhart_trap_event {
    /* As mcause encodes it: the interrupt bit (63) and the code. */
    uint64_t cause;
    /* mtval / stval. */
    uint64_t tval;
    /* The instruction that raised it, or the next to run for an interrupt. */
    uint64_t pc;
} polyhart_trap_event;

/* What polyhart offers a plugin. Functions that can fail return a negative
 * number or 0 (see each). */
typedef struct polyhart_plugin_api {
    /* POLYHART_PLUGIN_VERSION. */
    uint32_t version;
    /* sizeof(polyhart_plugin_api) as polyhart built it. */
    uint32_t size;

    /* In setup(): a fresh counter (zero on every hart), or -1 when the
     * machine has no more (a million). */
    int64_t (*setup_counter)(polyhart_setup *setup);

    /* In translate(): the block's virtual and physical address, its number
     * of instructions, and instruction `index` (0 when index is out of
     * range, else 1). */
    uint64_t (*block_pc)(const polyhart_block *block);
    uint64_t (*block_physical)(const polyhart_block *block);
    size_t (*block_len)(const polyhart_block *block);
    int (*block_insn)(const polyhart_block *block, size_t index, polyhart_insn_info *out);

    /* In translate(): what to do while the block runs. `tag` comes back to
     * the callback. Indices out of range are ignored. */
    void (*plan_on_block)(polyhart_plan *plan, uint64_t tag);
    void (*plan_on_insn)(polyhart_plan *plan, size_t index, uint64_t tag);
    void (*plan_on_memory)(polyhart_plan *plan, size_t index, uint64_t tag);
    void (*plan_count_block)(polyhart_plan *plan, uint32_t counter, uint64_t amount);
    void (*plan_count_insn)(polyhart_plan *plan, size_t index, uint32_t counter, uint64_t amount);
    /* A fresh counter, or -1 when none is left. */
    int64_t (*plan_counter)(polyhart_plan *plan);

    /* In per-hart callbacks: the hart (read only). */
    uint64_t (*hart_id)(const polyhart_hart *hart);
    /* The pc of the event. */
    uint64_t (*hart_pc)(const polyhart_hart *hart);
    uint64_t (*hart_x)(const polyhart_hart *hart, uint32_t reg);
    uint64_t (*hart_f)(const polyhart_hart *hart, uint32_t reg);
    /* CSR `number` into *value: 1, or 0 for a CSR the hart lacks. */
    int (*hart_csr)(const polyhart_hart *hart, uint32_t number, uint64_t *value);
    /* 0 user, 1 supervisor, 3 machine. */
    uint32_t (*hart_privilege)(const polyhart_hart *hart);
    /* Instructions retired before the event. */
    uint64_t (*hart_retired)(const polyhart_hart *hart);
    /* Guest RAM at virtual `vaddr` through the hart's translation, without
     * side effects: 1, or 0 where unmapped or not RAM. */
    int (*hart_read_memory)(const polyhart_hart *hart, uint64_t vaddr, void *buf, size_t len);

    /* In finish(): each hart's ID, user data and counters. */
    uint64_t (*finished_hart)(const polyhart_finished *finished, size_t index);
    void *(*finished_user)(const polyhart_finished *finished, size_t index);
    uint64_t (*finished_counter)(const polyhart_finished *finished, size_t index, uint32_t counter);

    /* The hart's local time in cycles before the event. */
    uint64_t (*hart_cycle)(const polyhart_hart *hart);
    /* Adds `cycles` to the hart's local time, beyond the one cycle each
     * instruction takes (a timing model's stalls): mcycle, the board's
     * time and a cosimulation's clock follow. */
    void (*hart_add_cycles)(const polyhart_hart *hart, uint64_t cycles);
} polyhart_plugin_api;

/* What a plugin gives polyhart: filled in by polyhart_plugin_install. */
typedef struct polyhart_plugin {
    /* Its name, for messages (copied). */
    const char *name;
    /* Passed to setup, translate, hart_init and finish. */
    void *user;

    void (*setup)(void *user, polyhart_setup *setup);
    void (*translate)(void *user, const polyhart_block *block, polyhart_plan *plan);
    /* The user data of hart `hart` (its mhartid), passed to its callbacks. */
    void *(*hart_init)(void *user, uint64_t hart);
    void (*hart_start)(void *hart_user, const polyhart_hart *hart);
    void (*hart_stop)(void *hart_user, const polyhart_hart *hart);
    void (*block)(void *hart_user, const polyhart_hart *hart, uint64_t tag);
    void (*insn)(void *hart_user, const polyhart_hart *hart, uint64_t tag);
    void (*memory)(void *hart_user, const polyhart_hart *hart, const polyhart_memory_event *event, uint64_t tag);
    void (*trap)(void *hart_user, const polyhart_hart *hart, const polyhart_trap_event *event);
    /* `harts` harts' data and counters, through api->finished_*. The
     * plugin frees each hart's user data here (polyhart never does). */
    void (*finish)(void *user, const polyhart_finished *finished, size_t harts);
} polyhart_plugin;

/* Exported by the plugin: see the top of this file. */
extern const uint32_t polyhart_plugin_version;
int polyhart_plugin_install(const polyhart_plugin_api *api, polyhart_plugin *plugin, int argc,
                            const char *const *argv, char *error, size_t error_len);

#ifdef __cplusplus
}
#endif

#endif /* POLYHART_PLUGIN_H */
