/*
 * bench_par.c - embarrassingly parallel integer benchmark for measuring
 * multi-hart throughput.
 *
 * Every hart (any number, see smp.h; the manifest runs it with 4) runs the
 * same BENCH_PAR_ROUNDS rounds on its own private, page-aligned data, with
 * no shared writes until it stores its checksum, so the total work is
 * harts x (work per hart) and
 *
 *     throughput speedup(N) = N * time(1 hart) / time(N harts).
 *
 * One round, on freshly generated data (xorshift64*, seeded by the round):
 *   fill 2048 words, bitwise CRC-32 of the first 4 KiB, shell sort of 1024
 *   words, an open-addressing hash table (1024 inserts, 2048 lookups) and a
 *   16x16 int32 matrix multiply; every result is folded into the checksum.
 *
 * About 0.69 million instructions per round, 300 rounds: ~2.07e8 instructions
 * per hart (-DBENCH_PAR_ROUNDS=N to tune; the checksum changes with it).
 * Hart 0 waits for all harts, checks that every hart got the same checksum
 * and prints it once, so the output does not depend on the hart count.
 */
#include "smp.h"

#ifndef BENCH_PAR_ROUNDS
#define BENCH_PAR_ROUNDS 300
#endif

#define FILL_N   2048
#define CRC_N    4096               /* bytes of buf */
#define SORT_N   1024
#define HASH_SZ  2048               /* slots, a power of two */
#define HASH_K   1024
#define MAT_N    16

struct work {
    uint32_t buf[FILL_N];
    uint32_t sorted[SORT_N];
    uint32_t table[HASH_SZ];
    int32_t ma[MAT_N][MAT_N], mb[MAT_N][MAT_N];
    uint64_t rng;
} __attribute__((aligned(4096)));

static struct work works[SMP_MAX_HARTS];
static volatile uint64_t results[SMP_MAX_HARTS * 8] __attribute__((aligned(4096)));

static uint32_t rng(struct work *w)
{
    w->rng ^= w->rng >> 12;
    w->rng ^= w->rng << 25;
    w->rng ^= w->rng >> 27;
    return (uint32_t)((w->rng * 0x2545f4914f6cdd1dULL) >> 32);
}

static uint32_t crc32(const uint8_t *p, uint32_t n)
{
    uint32_t crc = 0xffffffffu;
    for (uint32_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++)
            crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1));
    }
    return ~crc;
}

static uint32_t shell_sort(uint32_t *a, uint32_t n)
{
    static const uint32_t gaps[] = { 701, 301, 132, 57, 23, 10, 4, 1 };
    for (uint32_t g = 0; g < sizeof gaps / sizeof gaps[0]; g++) {
        uint32_t gap = gaps[g];
        for (uint32_t i = gap; i < n; i++) {
            uint32_t v = a[i], j = i;
            for (; j >= gap && a[j - gap] > v; j -= gap)
                a[j] = a[j - gap];
            a[j] = v;
        }
    }
    uint32_t h = 0;
    for (uint32_t i = 0; i < n; i++)
        h = h * 31 + a[i];
    for (uint32_t i = 1; i < n; i++)
        if (a[i - 1] > a[i])
            return 0xbad;           /* not sorted: the checksum shows it */
    return h;
}

static uint32_t hash_table(struct work *w)
{
    for (uint32_t i = 0; i < HASH_SZ; i++)
        w->table[i] = 0;
    for (uint32_t i = 0; i < HASH_K; i++) {
        uint32_t key = w->buf[i] | 1;           /* 0 marks an empty slot */
        uint32_t s = (key * 0x9e3779b1u) & (HASH_SZ - 1);
        while (w->table[s] && w->table[s] != key)
            s = (s + 1) & (HASH_SZ - 1);
        w->table[s] = key;
    }
    uint32_t found = 0;
    for (uint32_t i = 0; i < 2 * HASH_K; i++) {
        uint32_t key = w->buf[i] | 1;
        uint32_t s = (key * 0x9e3779b1u) & (HASH_SZ - 1);
        while (w->table[s] && w->table[s] != key)
            s = (s + 1) & (HASH_SZ - 1);
        found += w->table[s] == key;
    }
    return found;
}

static uint32_t matmul(struct work *w)
{
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++) {
            w->ma[i][j] = (int32_t)(w->buf[i * MAT_N + j] % 201) - 100;
            w->mb[i][j] = (int32_t)(w->buf[1024 + i * MAT_N + j] % 201) - 100;
        }
    uint32_t h = 0;
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++) {
            int32_t sum = 0;
            for (int k = 0; k < MAT_N; k++)
                sum += w->ma[i][k] * w->mb[k][j];
            h = h * 33 + (uint32_t)sum;
        }
    return h;
}

static uint64_t run_round(struct work *w, uint32_t round)
{
    w->rng = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)round << 17) ^ round;
    for (uint32_t i = 0; i < FILL_N; i++)
        w->buf[i] = rng(w);
    uint64_t h = crc32((const uint8_t *)w->buf, CRC_N);
    for (uint32_t i = 0; i < SORT_N; i++)
        w->sorted[i] = w->buf[i] >> (i & 7);
    h = h * 0x100000001b3ULL ^ shell_sort(w->sorted, SORT_N);
    h = h * 0x100000001b3ULL ^ hash_table(w);
    h = h * 0x100000001b3ULL ^ matmul(w);
    return h;
}

static int smp_main(uint32_t me, uint32_t n)
{
    struct work *w = &works[me];
    uint64_t sum = 0;
    for (uint32_t r = 0; r < BENCH_PAR_ROUNDS; r++)
        sum = (sum << 7 | sum >> 57) ^ run_round(w, r);
    results[me * 8] = sum;
    smp_barrier();
    if (me != 0)
        return 0;

    for (uint32_t h = 1; h < n; h++)
        if (results[h * 8] != sum) {
            printf("FAIL: bench_par: hart %u checksum 0x%016lx, hart 0 0x%016lx\n",
                   h, results[h * 8], sum);
            return 1;
        }
    printf("bench_par: %u rounds per hart, checksum 0x%016lx, all harts agree: yes\n",
           BENCH_PAR_ROUNDS, sum);
    return 0;
}
