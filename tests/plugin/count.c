/*
 * A polyhart plugin in C, for tests/plugins.rs: counts instructions by
 * class with inline counters, and (with memory=on) loads and stores with
 * memory callbacks, adding stall=N cycles to the hart's time at each; counts
 * traps; writes its totals to out=PATH.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "polyhart-plugin.h"

const uint32_t polyhart_plugin_version = POLYHART_PLUGIN_VERSION;

struct plugin {
    const polyhart_plugin_api *api;
    char out[512];
    int memory;
    uint64_t stall;
    int64_t classes[POLYHART_CLASS_COUNT];
};

struct hart {
    uint64_t id;
    uint64_t loads, stores, traps;
    /* a0 read through the API at the hart's stop: checks hart_x. */
    uint64_t a0_at_stop;
};

static void setup(void *user, polyhart_setup *setup) {
    struct plugin *p = user;
    for (int i = 0; i < POLYHART_CLASS_COUNT; i++) {
        p->classes[i] = p->api->setup_counter(setup);
    }
}

static void translate(void *user, const polyhart_block *block, polyhart_plan *plan) {
    struct plugin *p = user;
    size_t n = p->api->block_len(block);
    for (size_t i = 0; i < n; i++) {
        polyhart_insn_info info;
        if (!p->api->block_insn(block, i, &info) || info.insn_class >= POLYHART_CLASS_COUNT) {
            continue;
        }
        if (p->classes[info.insn_class] >= 0) {
            p->api->plan_count_insn(plan, i, (uint32_t)p->classes[info.insn_class], 1);
        }
        if (p->memory && info.memory_size != 0) {
            p->api->plan_on_memory(plan, i, info.pc);
        }
    }
}

static void *hart_init(void *user, uint64_t id) {
    (void)user;
    struct hart *h = calloc(1, sizeof *h);
    if (h) {
        h->id = id;
    }
    return h;
}

static const polyhart_plugin_api *api_of_stop;
static uint64_t stall_cycles;

static void memory(void *hart_user, const polyhart_hart *hart, const polyhart_memory_event *event, uint64_t tag) {
    struct hart *h = hart_user;
    (void)tag;
    if (!h) {
        return;
    }
    if (stall_cycles) {
        api_of_stop->hart_add_cycles(hart, stall_cycles);
    }
    if (event->kind == POLYHART_MEMORY_LOAD || event->kind == POLYHART_MEMORY_LOAD_RESERVED) {
        h->loads++;
    } else {
        h->stores++;
    }
}

static void trap(void *hart_user, const polyhart_hart *hart, const polyhart_trap_event *event) {
    struct hart *h = hart_user;
    (void)hart;
    (void)event;
    if (h) {
        h->traps++;
    }
}

static void hart_stop(void *hart_user, const polyhart_hart *hart) {
    struct hart *h = hart_user;
    if (h && api_of_stop) {
        h->a0_at_stop = api_of_stop->hart_x(hart, 10);
    }
}

static void finish(void *user, const polyhart_finished *finished, size_t harts) {
    struct plugin *p = user;
    FILE *f = fopen(p->out, "w");
    uint64_t loads = 0, stores = 0, traps = 0;
    for (size_t i = 0; i < harts; i++) {
        struct hart *h = p->api->finished_user(finished, i);
        if (h) {
            loads += h->loads;
            stores += h->stores;
            traps += h->traps;
            if (f) {
                fprintf(f, "hart %llu a0 %llu\n", (unsigned long long)p->api->finished_hart(finished, i),
                        (unsigned long long)h->a0_at_stop);
            }
            free(h);
        }
    }
    if (f) {
        for (int c = 0; c < POLYHART_CLASS_COUNT; c++) {
            uint64_t total = 0;
            for (size_t i = 0; i < harts; i++) {
                if (p->classes[c] >= 0) {
                    total += p->api->finished_counter(finished, i, (uint32_t)p->classes[c]);
                }
            }
            fprintf(f, "class %d %llu\n", c, (unsigned long long)total);
        }
        fprintf(f, "loads %llu\nstores %llu\ntraps %llu\n", (unsigned long long)loads, (unsigned long long)stores,
                (unsigned long long)traps);
        fclose(f);
    }
}

int polyhart_plugin_install(const polyhart_plugin_api *api, polyhart_plugin *plugin, int argc,
                            const char *const *argv, char *error, size_t error_len) {
    if (api->version != POLYHART_PLUGIN_VERSION || api->size < sizeof *api) {
        snprintf(error, error_len, "interface %u is not this plugin's", api->version);
        return 1;
    }
    struct plugin *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(error, error_len, "out of memory");
        return 1;
    }
    p->api = api;
    api_of_stop = api;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "out=", 4) == 0) {
            snprintf(p->out, sizeof p->out, "%s", argv[i] + 4);
        } else if (strcmp(argv[i], "memory=on") == 0) {
            p->memory = 1;
        } else if (strncmp(argv[i], "stall=", 6) == 0) {
            stall_cycles = strtoull(argv[i] + 6, NULL, 10);
        } else {
            snprintf(error, error_len, "unknown argument %s", argv[i]);
            free(p);
            return 1;
        }
    }
    if (!p->out[0]) {
        snprintf(error, error_len, "out=PATH is required");
        free(p);
        return 1;
    }
    plugin->name = "count";
    plugin->user = p;
    plugin->setup = setup;
    plugin->translate = translate;
    plugin->hart_init = hart_init;
    plugin->hart_stop = hart_stop;
    plugin->memory = memory;
    plugin->trap = trap;
    plugin->finish = finish;
    return 0;
}
