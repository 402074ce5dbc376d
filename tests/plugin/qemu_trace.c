/*
 * A QEMU TCG plugin (plugin interface version 1, as QEMU 7.2 offers it),
 * for tests/plugins.rs: counts, per instruction address, how often QEMU
 * ran the instruction and how many loads and stores it made, and writes
 * "pc runs loads stores" lines to out=PATH at exit. One vCPU.
 *
 * QEMU's plugin header is not installed by Debian's packages: the few
 * declarations this plugin needs are written out below, from QEMU's
 * documented plugin interface.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
typedef uint32_t qemu_plugin_meminfo_t;
struct qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;

enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_mem_rw { QEMU_PLUGIN_MEM_R = 1, QEMU_PLUGIN_MEM_W, QEMU_PLUGIN_MEM_RW };

typedef void (*tb_trans_cb)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*vcpu_udata_cb)(unsigned int vcpu, void *udata);
typedef void (*vcpu_mem_cb)(unsigned int vcpu, qemu_plugin_meminfo_t info, uint64_t vaddr, void *udata);
typedef void (*udata_cb)(qemu_plugin_id_t id, void *udata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, tb_trans_cb cb);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, vcpu_udata_cb cb,
                                            enum qemu_plugin_cb_flags flags, void *udata);
void qemu_plugin_register_vcpu_mem_cb(struct qemu_plugin_insn *insn, vcpu_mem_cb cb, enum qemu_plugin_cb_flags flags,
                                      enum qemu_plugin_mem_rw rw, void *udata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
bool qemu_plugin_mem_is_store(qemu_plugin_meminfo_t info);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, udata_cb cb, void *udata);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

/* Per instruction address: open addressing, never resized (guests here are
 * small). */
#define SLOTS (1 << 16)
struct slot {
    uint64_t pc;
    uint64_t runs, loads, stores;
    int used;
};
static struct slot table[SLOTS];
static char out[512];

static struct slot *slot_of(uint64_t pc) {
    size_t i = (size_t)(pc >> 1) & (SLOTS - 1);
    while (table[i].used && table[i].pc != pc) {
        i = (i + 1) & (SLOTS - 1);
    }
    if (!table[i].used) {
        table[i].used = 1;
        table[i].pc = pc;
    }
    return &table[i];
}

static void on_exec(unsigned int vcpu, void *udata) {
    (void)vcpu;
    ((struct slot *)udata)->runs++;
}

static void on_mem(unsigned int vcpu, qemu_plugin_meminfo_t info, uint64_t vaddr, void *udata) {
    (void)vcpu;
    (void)vaddr;
    struct slot *s = udata;
    if (qemu_plugin_mem_is_store(info)) {
        s->stores++;
    } else {
        s->loads++;
    }
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        struct slot *s = slot_of(qemu_plugin_insn_vaddr(insn));
        qemu_plugin_register_vcpu_insn_exec_cb(insn, on_exec, QEMU_PLUGIN_CB_NO_REGS, s);
        qemu_plugin_register_vcpu_mem_cb(insn, on_mem, QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_MEM_RW, s);
    }
}

static void at_exit_report(qemu_plugin_id_t id, void *udata) {
    (void)id;
    (void)udata;
    FILE *f = fopen(out, "w");
    if (!f) {
        return;
    }
    for (size_t i = 0; i < SLOTS; i++) {
        if (table[i].used && table[i].runs) {
            fprintf(f, "%llx %llu %llu %llu\n", (unsigned long long)table[i].pc, (unsigned long long)table[i].runs,
                    (unsigned long long)table[i].loads, (unsigned long long)table[i].stores);
        }
    }
    fclose(f);
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const struct qemu_info_t *info,
                                                               int argc, char **argv) {
    (void)info;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "out=", 4) == 0) {
            snprintf(out, sizeof out, "%s", argv[i] + 4);
        }
    }
    if (!out[0]) {
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, at_exit_report, NULL);
    return 0;
}
