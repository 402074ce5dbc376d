/*
 * smoke.c - the C ABI end to end: runs tests/guest/cosim.elf (argv[1])
 * with the devices of its external region modelled here in C, and prints
 * the guest's console output, the layout of the header's structures and
 * the run's figures for cosim/tests/c_abi.rs to check. Before the run it
 * makes the calls a careless or hostile caller might (invalid enums,
 * wrapping ranges, lines the board drives) and checks each is refused
 * with an error code, not a crash.
 */
/* mkstemp and unlink, under -std=c11. */
#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

#define EXPECT(call, status) do { polyhart_status s_ = (call); if (s_ != (status)) { \
    fprintf(stderr, "%s: %s, not %s\n", #call, polyhart_status_name(s_), #status); return 1; } } while (0)

/* Calls that must be refused: each answers its error code. */
static int hostile_calls(void)
{
    if (strcmp(polyhart_status_name((polyhart_status)42), "POLYHART_UNKNOWN_STATUS") != 0
        || strcmp(polyhart_status_name(-1), "POLYHART_UNKNOWN_STATUS") != 0
        || strcmp(polyhart_status_name(POLYHART_ERR_BUSY), "POLYHART_ERR_BUSY") != 0) {
        fprintf(stderr, "status names\n");
        return 1;
    }
    polyhart_builder *b;
    EXPECT(polyhart_builder_new(&b), POLYHART_OK);
    EXPECT(polyhart_builder_add_region(b, "wraps", 0xfffffffffffff000ULL, 0x2000, serve, NULL, NULL),
           POLYHART_ERR_INVALID);
    EXPECT(polyhart_builder_add_region(b, "empty", EXT_BASE, 0, serve, NULL, NULL), POLYHART_ERR_INVALID);
    EXPECT(polyhart_builder_add_region(b, "no serve", EXT_BASE, 0x1000, NULL, NULL, NULL), POLYHART_ERR_NULL);
    EXPECT(polyhart_builder_add_region(NULL, "no builder", EXT_BASE, 0x1000, serve, NULL, NULL), POLYHART_ERR_NULL);
    /* 4 TiB of RAM: built lazily, or refused with a message; never an abort. */
    EXPECT(polyhart_builder_set_ram_size(b, 1ULL << 42), POLYHART_OK);
    polyhart_cosim *m = NULL;
    char error[256] = "";
    polyhart_status built = polyhart_build(b, &m, error, sizeof error);
    if (built == POLYHART_OK) {
        polyhart_free(m);
    } else if (built != POLYHART_ERR_BUILD || strstr(error, "4398046511104") == NULL) {
        fprintf(stderr, "4 TiB of RAM: %s: %s\n", polyhart_status_name(built), error);
        return 1;
    }
    return 0;
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

    if (hostile_calls() != 0)
        return 1;

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
    {
        /* The guest's device tree announces the region; a region that does
           not exist cannot be described. */
        const char *compatible[] = {"polyhart,smoke-devices"};
        CHECK(polyhart_builder_describe_region(b, region, "devices", compatible, 1, 0));
        EXPECT(polyhart_builder_describe_region(b, region + 1, "devices", compatible, 1, 0), POLYHART_ERR_INVALID);
        EXPECT(polyhart_builder_describe_region(b, region, "devices", NULL, 1, 0), POLYHART_ERR_NULL);
    }
    char error[256];
    CHECK(polyhart_build(b, &model.m, error, sizeof error));
    if (region != 0)
        return 1;

    /* Lines the board drives, and enums and ranges out of range. */
    EXPECT(polyhart_set_irq(model.m, 10, 1), POLYHART_ERR_INVALID);     /* the UART's */
    EXPECT(polyhart_set_irq(model.m, 11, 1), POLYHART_ERR_INVALID);     /* the RTC's */
    EXPECT(polyhart_set_irq(model.m, 96, 1), POLYHART_ERR_INVALID);
    EXPECT(polyhart_set_hart_irq(model.m, 0, 7, 1), POLYHART_ERR_INVALID); /* MTIP: the ACLINT's */
    EXPECT(polyhart_set_hart_irq(model.m, 0, 11, 1), POLYHART_ERR_INVALID); /* MEIP: the PLIC's */
    EXPECT(polyhart_set_hart_irq(model.m, 0, 4, 1), POLYHART_ERR_INVALID);
    EXPECT(polyhart_write_pc(model.m, 0, 0x80000001ULL), POLYHART_ERR_INVALID);
    EXPECT(polyhart_revoke_dmi(model.m, 0, EXT_BASE + 8, EXT_BASE), POLYHART_ERR_INVALID);
    EXPECT(polyhart_revoke_dmi(model.m, 5, 0, 0), POLYHART_ERR_INVALID);

    /* Snapshots: a file that cannot be written or read, or is not a
       snapshot, is an error with a reason; a saved machine restores. */
    {
        char reason[256] = "";
        char path[] = "/tmp/polyhart-smoke-XXXXXX";
        int fd = mkstemp(path);
        if (fd < 0)
            return 1;
        if (write(fd, "not a snapshot", 14) != 14)
            return 1;
        close(fd);
        EXPECT(polyhart_snapshot_restore(model.m, path, reason, sizeof reason), POLYHART_ERR_INVALID);
        if (strstr(reason, "not a polyhart snapshot") == NULL) {
            fprintf(stderr, "restore of a text file: %s\n", reason);
            return 1;
        }
        EXPECT(polyhart_snapshot_save(model.m, "/nonexistent/dir/m.snap", reason, sizeof reason), POLYHART_ERR_IO);
        EXPECT(polyhart_snapshot_save(model.m, NULL, reason, sizeof reason), POLYHART_ERR_INVALID);
        CHECK(polyhart_snapshot_save(model.m, path, reason, sizeof reason));
        CHECK(polyhart_snapshot_restore(model.m, path, NULL, 0));
        unlink(path);
    }

    /* DMI granted over the scratch memory, again and again, then revoked
       with TLM's "everything" (0 to ~0 inclusive, so ~0 + 1 exclusive):
       the guest's scratch accesses must all reach the model, none this
       memory. */
    static uint8_t dmi[0x1000];
    for (int i = 0; i < 3; i++)
        CHECK(polyhart_grant_dmi(model.m, 0, EXT_BASE + 0x2000, sizeof dmi, dmi, 1, 1, 0, 0));
    EXPECT(polyhart_grant_dmi(model.m, 0, EXT_BASE + 0x2000, sizeof dmi, NULL, 1, 1, 0, 0), POLYHART_ERR_NULL);
    CHECK(polyhart_revoke_dmi(model.m, 0, 0, ~0ULL + 1));

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
    for (size_t i = 0; i < sizeof dmi; i++) {
        if (dmi[i] != 0) {
            fprintf(stderr, "the guest wrote revoked DMI memory at offset %zu\n", i);
            return 1;
        }
    }

    model.console[model.console_len] = 0;
    printf("stop %u exit %d steps %u now_matches %d instructions %llu transactions %llu\n", r.stop, r.exit_code,
           steps, now == r.time_ps, (unsigned long long)instructions, (unsigned long long)model.transactions);
    printf("console:\n%s", model.console);
    return 0;
}
