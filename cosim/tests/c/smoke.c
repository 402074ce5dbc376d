/*
 * smoke.c - the C ABI end to end: runs tests/guest/cosim.elf (argv[1])
 * with the devices of its external region modelled here in C, and prints
 * the guest's console output, the layout of the header's structures and
 * the run's figures for cosim/tests/c_abi.rs to check.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "polyhart.h"

#define EXT_BASE 0x20000000ULL
#define ALARM_IRQ 32

struct model {
    polyhart_cosim *m;
    uint64_t now_ps;            /* the outside's time */
    char console[4096];
    size_t console_len;
    uint8_t scratch[4096];
    uint64_t transactions;
};

static uint64_t value_of(const polyhart_transaction *tx)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < tx->size; i++)
        v |= (uint64_t)tx->data[i] << (8 * i);
    return v;
}

static int32_t serve(void *user, polyhart_transaction *tx)
{
    struct model *model = user;
    uint64_t at = model->now_ps + tx->delay_ps;
    uint64_t offset = tx->address - EXT_BASE;
    model->transactions++;
    tx->delay_ps += 10000; /* 10 ns per access */
    if (offset == 0 && tx->command == POLYHART_WRITE) {
        if (model->console_len < sizeof model->console - 1)
            model->console[model->console_len++] = (char)tx->data[0];
    } else if (offset == 0x1000 && tx->command == POLYHART_READ) {
        uint64_t ns = at / 1000;
        for (unsigned i = 0; i < 8; i++)
            tx->data[i] = (uint8_t)(ns >> (8 * i));
    } else if (offset == 0x1008 && tx->command == POLYHART_WRITE) {
        /* Callback-safe: schedule the line for its time. */
        if (polyhart_set_irq_at(model->m, ALARM_IRQ, 1, at + value_of(tx) * 1000) != POLYHART_OK)
            return POLYHART_RESP_GENERIC_ERROR;
    } else if (offset == 0x1010 && tx->command == POLYHART_WRITE) {
        polyhart_set_irq(model->m, ALARM_IRQ, 0);
    } else if (offset >= 0x2000 && offset + tx->size <= 0x3000) {
        uint8_t *cell = &model->scratch[offset - 0x2000];
        if (tx->command == POLYHART_READ)
            memcpy(tx->data, cell, tx->size);
        else
            memcpy(cell, tx->data, tx->size);
    } else {
        return POLYHART_RESP_ADDRESS_ERROR;
    }
    return POLYHART_RESP_OK;
}

static void console(void *user, const uint8_t *bytes, size_t len)
{
    (void)user;
    fwrite(bytes, 1, len, stderr);
}

#define CHECK(call) do { polyhart_status s_ = (call); if (s_ != POLYHART_OK) { \
    fprintf(stderr, "%s: %s\n", #call, polyhart_status_name(s_)); return 1; } } while (0)

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: smoke GUEST.elf\n");
        return 2;
    }
    printf("layout advance_result %zu %zu %zu %zu %zu %zu\n", sizeof(polyhart_advance_result),
           offsetof(polyhart_advance_result, end), offsetof(polyhart_advance_result, hart),
           offsetof(polyhart_advance_result, stop), offsetof(polyhart_advance_result, exit_code),
           offsetof(polyhart_advance_result, time_ps));
    printf("layout transaction %zu %zu %zu %zu %zu %zu %zu %zu %zu\n", sizeof(polyhart_transaction),
           offsetof(polyhart_transaction, command), offsetof(polyhart_transaction, hart),
           offsetof(polyhart_transaction, address), offsetof(polyhart_transaction, data),
           offsetof(polyhart_transaction, size), offsetof(polyhart_transaction, byte_enables),
           offsetof(polyhart_transaction, sync), offsetof(polyhart_transaction, delay_ps));

    static struct model model;
    polyhart_builder *b;
    CHECK(polyhart_builder_new(&b));
    CHECK(polyhart_builder_set_harts(b, 2));
    CHECK(polyhart_builder_set_quantum(b, 2000000)); /* 2 us */
    CHECK(polyhart_builder_set_console(b, console, NULL));
    if (polyhart_builder_set_kernel_file(b, "/nonexistent/guest.elf") != POLYHART_ERR_IO) {
        fprintf(stderr, "a missing file is not an I/O error\n");
        return 1;
    }
    CHECK(polyhart_builder_set_kernel_file(b, argv[1]));
    uint32_t region = 99;
    CHECK(polyhart_builder_add_region(b, "devices", EXT_BASE, 0x4000, serve, &model, &region));
    char error[256];
    CHECK(polyhart_build(b, &model.m, error, sizeof error));
    if (region != 0)
        return 1;

    polyhart_advance_result r;
    unsigned steps = 0;
    do {
        CHECK(polyhart_advance(model.m, 5000000, &r)); /* 5 us */
        if (r.time_ps < model.now_ps) {
            fprintf(stderr, "time ran backwards\n");
            return 1;
        }
        model.now_ps = r.time_ps;
        steps++;
    } while (r.end != POLYHART_STOPPED && steps < 100000);

    uint64_t now, instructions, a0;
    CHECK(polyhart_now(model.m, &now));
    CHECK(polyhart_instructions(model.m, &instructions));
    CHECK(polyhart_read_reg(model.m, 0, 10, &a0));
    if (polyhart_read_reg(model.m, 7, 10, &a0) != POLYHART_ERR_INVALID) {
        fprintf(stderr, "hart 7 exists?\n");
        return 1;
    }
    uint8_t word[4];
    CHECK(polyhart_read_memory(model.m, 0x80000000ULL, word, sizeof word));
    polyhart_free(model.m);

    model.console[model.console_len] = 0;
    printf("stop %u exit %d steps %u now_matches %d instructions %llu transactions %llu\n", r.stop, r.exit_code,
           steps, now == r.time_ps, (unsigned long long)instructions, (unsigned long long)model.transactions);
    printf("console:\n%s", model.console);
    return 0;
}
