/*
 * bench_int.c - integer benchmark for comparing emulator speed.
 *
 * Each round runs five small kernels on freshly generated data:
 *   matrix multiply (48x48 int32), quicksort (8192 ints), bitwise CRC-32
 *   (8 KiB), sieve of Eratosthenes (below 65536) and an open-addressing hash
 *   table of ints (4096 inserts, 8192 lookups).
 * Every result is folded into a checksum that is printed at the end, so no
 * round can be optimised away and a wrong result is visible.
 *
 * BENCH_ROUNDS sets the amount of work: about 5 million instructions per
 * round (4.75 million measured), so the default 400 rounds are about 1.9
 * billion instructions.
 * Build e.g. with -DBENCH_ROUNDS=10 for a quick run (different checksum).
 */
#include "runtime.h"

#ifndef BENCH_ROUNDS
#define BENCH_ROUNDS 400
#endif

#define MAT_N      48
#define SORT_N     8192
#define CRC_N      8192
#define SIEVE_N    65536
#define HASH_SIZE  8192             /* slots, a power of two */
#define HASH_KEYS  4096

static uint64_t rng_state;

static uint32_t rng(void)
{
    /* xorshift64*, top 32 bits */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545f4914f6cdd1dULL) >> 32);
}

/* ---- matrix multiply --------------------------------------------------- */

static int32_t mat_a[MAT_N][MAT_N], mat_b[MAT_N][MAT_N], mat_c[MAT_N][MAT_N];

static uint32_t matmul(void)
{
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++) {
            mat_a[i][j] = (int32_t)(rng() % 2001) - 1000;
            mat_b[i][j] = (int32_t)(rng() % 2001) - 1000;
        }
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++) {
            int32_t sum = 0;
            for (int k = 0; k < MAT_N; k++)
                sum += mat_a[i][k] * mat_b[k][j];
            mat_c[i][j] = sum;
        }
    uint32_t h = 0;
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++)
            h = h * 31 + (uint32_t)mat_c[i][j];
    return h;
}

/* ---- quicksort --------------------------------------------------------- */

static int32_t sort_buf[SORT_N];

static void quicksort(int32_t *v, long lo, long hi)
{
    while (lo < hi) {
        int32_t pivot = v[lo + (hi - lo) / 2];
        long i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot)
                i++;
            while (v[j] > pivot)
                j--;
            if (i <= j) {
                int32_t t = v[i];
                v[i] = v[j];
                v[j] = t;
                i++;
                j--;
            }
        }
        /* recurse into the smaller half, loop on the larger one */
        if (j - lo < hi - i) {
            quicksort(v, lo, j);
            lo = i;
        } else {
            quicksort(v, i, hi);
            hi = j;
        }
    }
}

static uint32_t sort(void)
{
    for (int i = 0; i < SORT_N; i++)
        sort_buf[i] = (int32_t)rng();
    quicksort(sort_buf, 0, SORT_N - 1);
    uint32_t h = 0, sorted = 1;
    for (int i = 0; i < SORT_N; i++) {
        if (i && sort_buf[i - 1] > sort_buf[i])
            sorted = 0;
        h = h * 33 + (uint32_t)sort_buf[i];
    }
    return sorted ? h : 0xdead;
}

/* ---- CRC-32 ------------------------------------------------------------ */

static uint8_t crc_buf[CRC_N];

static uint32_t crc(void)
{
    for (int i = 0; i < CRC_N; i += 4) {
        uint32_t r = rng();
        crc_buf[i] = (uint8_t)r;
        crc_buf[i + 1] = (uint8_t)(r >> 8);
        crc_buf[i + 2] = (uint8_t)(r >> 16);
        crc_buf[i + 3] = (uint8_t)(r >> 24);
    }
    uint32_t c = 0xffffffff;
    for (int i = 0; i < CRC_N; i++) {
        c ^= crc_buf[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320 & -(c & 1));
    }
    return ~c;
}

/* ---- sieve ------------------------------------------------------------- */

static uint8_t sieve_buf[SIEVE_N];

static uint32_t sieve(void)
{
    for (int i = 0; i < SIEVE_N; i++)
        sieve_buf[i] = 0;
    uint32_t count = 0, sum = 0;
    for (uint32_t i = 2; i < SIEVE_N; i++) {
        if (sieve_buf[i])
            continue;
        count++;
        sum += i;
        for (uint32_t j = i * i; j < SIEVE_N; j += i)
            sieve_buf[j] = 1;
    }
    return count * 65537 + sum;
}

/* ---- hash table -------------------------------------------------------- */

static uint32_t hash_keys[HASH_SIZE];
static uint32_t hash_vals[HASH_SIZE];
static uint8_t hash_used[HASH_SIZE];

static uint32_t hash_slot(uint32_t key)
{
    return (key * 2654435761u) >> (32 - 13);    /* 13 bits: HASH_SIZE */
}

static uint32_t hashtable(void)
{
    for (int i = 0; i < HASH_SIZE; i++)
        hash_used[i] = 0;
    uint64_t saved = rng_state;
    for (int i = 0; i < HASH_KEYS; i++) {
        uint32_t key = rng() & 0xffff;      /* collisions on purpose */
        uint32_t s = hash_slot(key);
        while (hash_used[s] && hash_keys[s] != key)
            s = (s + 1) & (HASH_SIZE - 1);
        if (hash_used[s]) {
            hash_vals[s]++;
        } else {
            hash_used[s] = 1;
            hash_keys[s] = key;
            hash_vals[s] = 1;
        }
    }
    /* look up the same keys again, and as many random ones */
    rng_state = saved;
    uint32_t found = 0, total = 0;
    for (int i = 0; i < 2 * HASH_KEYS; i++) {
        uint32_t key = rng() & 0xffff;
        uint32_t s = hash_slot(key);
        while (hash_used[s] && hash_keys[s] != key)
            s = (s + 1) & (HASH_SIZE - 1);
        if (hash_used[s]) {
            found++;
            total += hash_vals[s];
        }
    }
    return found * 31 + total;
}

/* ------------------------------------------------------------------------ */

int main(void)
{
    printf("bench_int: %d rounds of matmul/quicksort/crc32/sieve/hash\n",
           BENCH_ROUNDS);
    uint64_t checksum = 0;
    rng_state = 0x0123456789abcdefULL;
    for (int r = 0; r < BENCH_ROUNDS; r++) {
        uint32_t m = matmul();
        uint32_t s = sort();
        uint32_t c = crc();
        uint32_t p = sieve();
        uint32_t h = hashtable();
        if (r == 0)
            printf("round 0: matmul 0x%08x sort 0x%08x crc 0x%08x sieve 0x%08x hash 0x%08x\n",
                   m, s, c, p, h);
        checksum = (checksum * 0x100000001b3ULL) ^ m;
        checksum = (checksum * 0x100000001b3ULL) ^ s;
        checksum = (checksum * 0x100000001b3ULL) ^ c;
        checksum = (checksum * 0x100000001b3ULL) ^ p;
        checksum = (checksum * 0x100000001b3ULL) ^ h;
    }
    printf("bench_int: checksum 0x%016lx\n", checksum);
    return 0;
}
