//! The embedded scheduler's processes as coroutines: the classic lifecycle,
//! nesting and yield micro-benchmarks, plus a timed wait and an event ping-pong.
//!
//! Every benchmark times one operation per criterion iteration (through
//! `iter_custom`), so criterion's "time" is the cost of one operation:
//! - `lifecycle/*`: create a process and run it to completion;
//! - `nesting/*/D`: one level of an `async fn` chain D deep in which every
//!   level awaits a yield, then calls the next (stackless: resuming at depth
//!   d re-enters d frames, so the cost per level grows with D);
//! - `yield/P`: one `yield_now` among P processes taking turns;
//! - `timed_wait/P`: one `wait(1 ns)` among P processes;
//! - `event/*`: one notify-and-wake hand-over between two processes.
//!
//! Times are the benchmark thread's CPU time, not the wall clock: on a machine
//! shared with other work (as builds here are) the wall clock also counts the
//! time the thread waited for a core, which says nothing about the scheduler. On
//! an idle machine the two agree.
//!
//! Run with `cargo bench -p polyhart-cosim --bench coroutines`.

use std::future::Future;
use std::hint::black_box;
use std::marker::PhantomData;
use std::pin::Pin;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use polyhart_cosim::SimTime;
use polyhart_cosim::scheduler::{Scheduler, SchedulerHandle};

/// A stopwatch on the CPU time of the calling thread.
struct Stopwatch(Duration);

impl Stopwatch {
    fn start() -> Stopwatch {
        Stopwatch(thread_cpu_time())
    }

    fn elapsed(&self) -> Duration {
        thread_cpu_time() - self.0
    }
}

fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid, writable `timespec` for the whole call, and
    // `clock_gettime` writes nothing else.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(status, 0, "Linux always has a CPU-time clock for the calling thread");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// Processes spawned between two runs in the batched lifecycle benchmark.
const BATCH: u64 = 256;

fn lifecycle(c: &mut Criterion) {
    let mut group = c.benchmark_group("lifecycle");
    group.bench_function("spawn_run_one_by_one", |b| {
        b.iter_custom(|iters| {
            let mut scheduler = Scheduler::new();
            let start = Stopwatch::start();
            for _ in 0..iters {
                let sim = scheduler.handle();
                scheduler.spawn(async move {
                    black_box(sim.now());
                });
                scheduler.run().unwrap();
            }
            start.elapsed()
        })
    });
    group.bench_function("spawn_run_batched", |b| {
        b.iter_custom(|iters| {
            let mut scheduler = Scheduler::new();
            spawn_batches(&mut scheduler, BATCH);
            let start = Stopwatch::start();
            spawn_batches(&mut scheduler, iters);
            start.elapsed()
        })
    });
    group.bench_function("spawned_by_a_process", |b| {
        b.iter_custom(|iters| {
            let mut scheduler = Scheduler::new();
            let sim = scheduler.handle();
            scheduler.spawn(async move {
                // Children run in the same evaluation phase; yielding now and
                // then lets their slots be reused.
                for batch in 0..iters.div_ceil(BATCH) {
                    for _ in 0..BATCH.min(iters - batch * BATCH) {
                        let child = sim.clone();
                        sim.spawn(async move {
                            black_box(child.now());
                        });
                    }
                    sim.yield_now().await;
                }
            });
            let start = Stopwatch::start();
            scheduler.run().unwrap();
            start.elapsed()
        })
    });
    group.bench_function("spawn_yield_finish", |b| {
        b.iter_custom(|iters| {
            let mut scheduler = Scheduler::new();
            let start = Stopwatch::start();
            for batch in 0..iters.div_ceil(BATCH) {
                for _ in 0..BATCH.min(iters - batch * BATCH) {
                    let sim = scheduler.handle();
                    scheduler.spawn(async move { sim.yield_now().await });
                }
                scheduler.run().unwrap();
            }
            start.elapsed()
        })
    });
    group.finish();
}

/// Spawns `count` processes that read the time and finish, `BATCH` at a time.
fn spawn_batches(scheduler: &mut Scheduler, count: u64) {
    for batch in 0..count.div_ceil(BATCH) {
        for _ in 0..BATCH.min(count - batch * BATCH) {
            let sim = scheduler.handle();
            scheduler.spawn(async move {
                black_box(sim.now());
            });
        }
        scheduler.run().unwrap();
    }
}

/// One level of a statically nested `async fn` chain: the type says the depth,
/// and every level's frame lives inside its caller's, with no allocation.
trait Level: 'static {
    const DEPTH: u64;
    fn enter(sim: &SchedulerHandle) -> impl Future<Output = ()> + '_;
}

/// The innermost level.
struct Leaf;

impl Level for Leaf {
    const DEPTH: u64 = 1;
    async fn enter(sim: &SchedulerHandle) {
        sim.yield_now().await;
    }
}

/// A level that yields, then calls `L`.
struct Calls<L>(PhantomData<L>);

impl<L: Level> Level for Calls<L> {
    const DEPTH: u64 = L::DEPTH + 1;
    async fn enter(sim: &SchedulerHandle) {
        sim.yield_now().await;
        L::enter(sim).await;
    }
}

type Depth2 = Calls<Leaf>;
type Depth4 = Calls<Calls<Depth2>>;
type Depth8 = Calls<Calls<Calls<Calls<Depth4>>>>;
type Depth16 = Calls<Calls<Calls<Calls<Calls<Calls<Calls<Calls<Depth8>>>>>>>>;

/// The same chain built at run time: every level a boxed recursive call.
fn boxed(sim: &SchedulerHandle, depth: u64) -> Pin<Box<dyn Future<Output = ()> + '_>> {
    Box::pin(async move {
        sim.yield_now().await;
        if depth > 1 {
            boxed(sim, depth - 1).await;
        }
    })
}

/// Times `iters` levels: whole chains of `depth` levels, scaled to `iters`.
fn time_levels<F: Future<Output = ()> + 'static>(
    iters: u64,
    depth: u64,
    chain: impl Fn(SchedulerHandle) -> F + 'static,
) -> Duration {
    let chains = iters.div_ceil(depth);
    let mut scheduler = Scheduler::new();
    let sim = scheduler.handle();
    scheduler.spawn(async move {
        for _ in 0..chains {
            chain(sim.clone()).await;
        }
    });
    let start = Stopwatch::start();
    scheduler.run().unwrap();
    start.elapsed().mul_f64(iters as f64 / (chains * depth) as f64)
}

fn nesting(c: &mut Criterion) {
    let mut group = c.benchmark_group("nesting");
    fn static_chain<L: Level>(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
        group.bench_function(BenchmarkId::new("static", L::DEPTH), |b| {
            b.iter_custom(|iters| time_levels(iters, L::DEPTH, |sim| async move { L::enter(&sim).await }))
        });
    }
    static_chain::<Leaf>(&mut group);
    static_chain::<Depth4>(&mut group);
    static_chain::<Depth16>(&mut group);
    for depth in [1, 4, 16] {
        group.bench_function(BenchmarkId::new("boxed", depth), |b| {
            b.iter_custom(|iters| time_levels(iters, depth, move |sim| async move { boxed(&sim, depth).await }))
        });
    }
    group.finish();
}

fn yields(c: &mut Criterion) {
    let mut group = c.benchmark_group("yield");
    for processes in [1, 2, 1000] {
        group.bench_function(BenchmarkId::from_parameter(processes), |b| {
            b.iter_custom(|iters| {
                let mut scheduler = Scheduler::new();
                for _ in 0..processes {
                    let sim = scheduler.handle();
                    scheduler.spawn(async move {
                        for _ in 0..iters.div_ceil(processes) {
                            sim.yield_now().await;
                        }
                    });
                }
                let start = Stopwatch::start();
                scheduler.run().unwrap();
                start.elapsed().mul_f64(iters as f64 / (iters.div_ceil(processes) * processes) as f64)
            })
        });
    }
    group.finish();
}

fn timed_waits(c: &mut Criterion) {
    let mut group = c.benchmark_group("timed_wait");
    for processes in [1, 100] {
        group.bench_function(BenchmarkId::from_parameter(processes), |b| {
            b.iter_custom(|iters| {
                let mut scheduler = Scheduler::new();
                for _ in 0..processes {
                    let sim = scheduler.handle();
                    scheduler.spawn(async move {
                        for _ in 0..iters.div_ceil(processes) {
                            sim.wait(SimTime(1_000)).await;
                        }
                    });
                }
                let start = Stopwatch::start();
                scheduler.run().unwrap();
                start.elapsed().mul_f64(iters as f64 / (iters.div_ceil(processes) * processes) as f64)
            })
        });
    }
    group.finish();
}

fn events(c: &mut Criterion) {
    let mut group = c.benchmark_group("event");
    for (name, delay) in [("immediate", None), ("delta", Some(SimTime::ZERO)), ("timed", Some(SimTime(1_000)))] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut scheduler = Scheduler::new();
                let (ping, pong) = (scheduler.event(), scheduler.event());
                let notify = move |event: &polyhart_cosim::Event| match delay {
                    None => event.notify(),
                    Some(delay) => event.notify_after(delay),
                };
                // Each round trip is two hand-overs.
                let rounds = iters.div_ceil(2);
                let (ping_b, pong_b) = (ping.clone(), pong.clone());
                scheduler.spawn(async move {
                    for _ in 0..rounds {
                        ping_b.wait().await;
                        notify(&pong_b);
                    }
                });
                scheduler.spawn(async move {
                    for _ in 0..rounds {
                        notify(&ping);
                        pong.wait().await;
                    }
                });
                let start = Stopwatch::start();
                scheduler.run().unwrap();
                start.elapsed().mul_f64(iters as f64 / (rounds * 2) as f64)
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = coroutines;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = lifecycle, nesting, yields, timed_waits, events
}
criterion_main!(coroutines);
