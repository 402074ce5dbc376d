/*
 * bench_fp.c - double-precision floating-point benchmark for comparing
 * emulator speed (and a check of D arithmetic over many operations).
 *
 * Each round runs three kernels on data derived from the round number:
 *   n-body: the five-planet simulation of the Computer Language Benchmarks
 *     Game (fsqrt, fdiv and a lot of fmul/fadd), energy before and after
 *   matmul: a 40x40 double matrix product (fused multiply-adds) and its trace
 *   series: Newton square roots and a few divisions per element
 * All results are folded, as raw bit patterns, into a checksum printed in
 * hex (the runtime's printf has no %f), so a single wrong rounding anywhere
 * changes the output.  Default rounding mode (rne); compiled with -O2,
 * which contracts a*b+c into fmadd.d.  Built for rv64imafdc (Makefile);
 * crt0 leaves mstatus.FS = Off, so main enables the FPU first.
 *
 * BENCH_ROUNDS sets the amount of work: about 1.67 million instructions per
 * round (measured with QEMU -icount), so the default 100 rounds are about
 * 167 million instructions, about 1 s on QEMU 7.2.
 * Build e.g. with -DBENCH_ROUNDS=10 for a quick run (different checksum).
 */
#include "runtime.h"

#ifndef BENCH_ROUNDS
#define BENCH_ROUNDS 100
#endif

#define NBODY_STEPS 2000
#define MAT_N 40
#define SERIES_N 4000

static inline double fsqrt(double x)
{
    double r;
    __asm__("fsqrt.d %0, %1" : "=f"(r) : "f"(x));
    return r;
}

static inline uint64_t bits(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof(u));
    return u;
}

static uint64_t checksum;

static void fold(double x)
{
    checksum = (checksum ^ bits(x)) * 0x100000001b3ULL;
    checksum ^= checksum >> 29;
}

/* ---- n-body ------------------------------------------------------------ */

#define PI 3.141592653589793
#define SOLAR_MASS (4 * PI * PI)
#define DAYS_PER_YEAR 365.24
#define NBODIES 5

struct body {
    double x, y, z, vx, vy, vz, mass;
};

static const struct body initial[NBODIES] = {
    {0, 0, 0, 0, 0, 0, SOLAR_MASS},
    {4.84143144246472090e+00, -1.16032004402742839e+00, -1.03622044471123109e-01,
     1.66007664274403694e-03 * DAYS_PER_YEAR, 7.69901118419740425e-03 * DAYS_PER_YEAR,
     -6.90460016972063023e-05 * DAYS_PER_YEAR, 9.54791938424326609e-04 * SOLAR_MASS},
    {8.34336671824457987e+00, 4.12479856412430479e+00, -4.03523417114321381e-01,
     -2.76742510726862411e-03 * DAYS_PER_YEAR, 4.99852801234917238e-03 * DAYS_PER_YEAR,
     2.30417297573763929e-05 * DAYS_PER_YEAR, 2.85885980666130812e-04 * SOLAR_MASS},
    {1.28943695621391310e+01, -1.51111514016986312e+01, -2.23307578892655734e-01,
     2.96460137564761618e-03 * DAYS_PER_YEAR, 2.37847173959480950e-03 * DAYS_PER_YEAR,
     -2.96589568540237556e-05 * DAYS_PER_YEAR, 4.36624404335156298e-05 * SOLAR_MASS},
    {1.53796971148509165e+01, -2.59193146099879641e+01, 1.79258772950371181e-01,
     2.68067772490389322e-03 * DAYS_PER_YEAR, 1.62824170038242295e-03 * DAYS_PER_YEAR,
     -9.51592254519715870e-05 * DAYS_PER_YEAR, 5.15138902046611451e-05 * SOLAR_MASS},
};

static struct body bodies[NBODIES];

static double energy(void)
{
    double e = 0.0;
    for (int i = 0; i < NBODIES; i++) {
        struct body *b = &bodies[i];
        e += 0.5 * b->mass * (b->vx * b->vx + b->vy * b->vy + b->vz * b->vz);
        for (int j = i + 1; j < NBODIES; j++) {
            struct body *c = &bodies[j];
            double dx = b->x - c->x, dy = b->y - c->y, dz = b->z - c->z;
            e -= (b->mass * c->mass) / fsqrt(dx * dx + dy * dy + dz * dz);
        }
    }
    return e;
}

static void advance(double dt)
{
    for (int i = 0; i < NBODIES; i++) {
        struct body *b = &bodies[i];
        for (int j = i + 1; j < NBODIES; j++) {
            struct body *c = &bodies[j];
            double dx = b->x - c->x, dy = b->y - c->y, dz = b->z - c->z;
            double d2 = dx * dx + dy * dy + dz * dz;
            double mag = dt / (d2 * fsqrt(d2));
            b->vx -= dx * c->mass * mag;
            b->vy -= dy * c->mass * mag;
            b->vz -= dz * c->mass * mag;
            c->vx += dx * b->mass * mag;
            c->vy += dy * b->mass * mag;
            c->vz += dz * b->mass * mag;
        }
    }
    for (int i = 0; i < NBODIES; i++) {
        struct body *b = &bodies[i];
        b->x += dt * b->vx;
        b->y += dt * b->vy;
        b->z += dt * b->vz;
    }
}

static void nbody(int round)
{
    for (int i = 0; i < NBODIES; i++)
        bodies[i] = initial[i];
    /* offset the sun's momentum */
    double px = 0, py = 0, pz = 0;
    for (int i = 0; i < NBODIES; i++) {
        px += bodies[i].vx * bodies[i].mass;
        py += bodies[i].vy * bodies[i].mass;
        pz += bodies[i].vz * bodies[i].mass;
    }
    bodies[0].vx = -px / SOLAR_MASS;
    bodies[0].vy = -py / SOLAR_MASS;
    bodies[0].vz = -pz / SOLAR_MASS;

    double dt = 0.01 + 0.0001 * round;
    double e0 = energy();
    for (int s = 0; s < NBODY_STEPS; s++)
        advance(dt);
    double e1 = energy();
    fold(e0);
    fold(e1);
    for (int i = 0; i < NBODIES; i++) {
        fold(bodies[i].x);
        fold(bodies[i].vy);
    }
    if (round == 0)
        printf("round 0: nbody energy 0x%016lx -> 0x%016lx\n", bits(e0),
               bits(e1));
}

/* ---- matrix multiply --------------------------------------------------- */

static double mat_a[MAT_N][MAT_N], mat_b[MAT_N][MAT_N], mat_c[MAT_N][MAT_N];

static void matmul(int round)
{
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++) {
            /* integer -> double conversions and a division */
            mat_a[i][j] = (double)((i * 37 + j * 11 + round) % 101 - 50) / 7.0;
            mat_b[i][j] = (double)((i * 13 + j * 29 + 3 * round) % 97 - 48) / 3.0;
        }
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++) {
            double sum = 0.0;
            for (int k = 0; k < MAT_N; k++)
                sum += mat_a[i][k] * mat_b[k][j];
            mat_c[i][j] = sum;
        }
    double trace = 0.0, norm = 0.0;
    for (int i = 0; i < MAT_N; i++) {
        trace += mat_c[i][i];
        for (int j = 0; j < MAT_N; j++)
            norm += mat_c[i][j] * mat_c[i][j];
    }
    fold(trace);
    fold(fsqrt(norm));
    if (round == 0)
        printf("round 0: matmul trace 0x%016lx norm 0x%016lx\n", bits(trace),
               bits(fsqrt(norm)));
}

/* ---- series ------------------------------------------------------------ */

static void series(int round)
{
    double harmonic = 0.0, roots = 0.0, newton_err = 0.0;
    for (int i = 1; i <= SERIES_N; i++) {
        double x = (double)(i + round);
        harmonic += 1.0 / x;
        /* Newton's method for sqrt(x), compared with fsqrt.d */
        double r = x > 1.0 ? x * 0.5 : 1.0;
        for (int k = 0; k < 8; k++)
            r = 0.5 * (r + x / r);
        double s = fsqrt(x);
        roots += s;
        newton_err += r - s;
    }
    fold(harmonic);
    fold(roots);
    fold(newton_err);
    /* a double -> integer conversion (fcvt.l.d, rtz) */
    long h = (long)(harmonic * 1e12);
    checksum ^= (uint64_t)h;
    if (round == 0)
        printf("round 0: series harmonic 0x%016lx roots 0x%016lx err 0x%016lx\n",
               bits(harmonic), bits(roots), bits(newton_err));
}

/* ------------------------------------------------------------------------ */

/* The kernels are out of line, so main touches no f register before it
   has enabled the FPU. */
static void __attribute__((noinline)) run(void)
{
    for (int r = 0; r < BENCH_ROUNDS; r++) {
        nbody(r);
        matmul(r);
        series(r);
    }
}

int main(void)
{
    set_csr(mstatus, 1UL << 13);         /* mstatus.FS = Initial */
    printf("bench_fp: %d rounds of nbody/matmul/series\n", BENCH_ROUNDS);
    checksum = 0xcbf29ce484222325ULL;
    run();
    printf("bench_fp: checksum 0x%016lx\n", checksum);
    return 0;
}
