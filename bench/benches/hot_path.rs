//! The hot path, side by side in one run: a bare call, this crate's strategies through `call`
//! and `execute`, an annotated async fn, recloser 1.4 and failsafe 1.3 on the same work,
//! rejection while open, and closed-state calls from 2 threads on one shared breaker.
//!
//! Run: `cargo bench -p plexspaces-circuit-breaker-bench`. After criterion's own report, a
//! table of ns per call and of the ratios behind each target is printed and written to
//! `target/criterion/summary.md`.

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::Criterion;
use failsafe::CircuitBreaker as _;
use plexspaces_circuit_breaker::{
    circuit_breaker, CircuitBreaker, CircuitBreakerConfig, CircuitBreakerError, FailureStrategy,
};

/// The protected work: as small as a call gets, so that the breaker's cost is what shows.
#[inline(never)]
fn work(x: u64) -> Result<u64, ()> {
    Ok(black_box(x).wrapping_add(1))
}

/// What a caller does with a result: reads the value or notes the error. (`black_box` on the
/// whole `Result` would time a store-forwarding stall of the harness instead: the callee
/// writes the result field by field and `black_box` reads it back in one wide load.)
#[inline(always)]
fn value<E>(r: Result<u64, E>) -> u64 {
    r.unwrap_or(u64::MAX)
}

async fn work_async(x: u64) -> Result<u64, ()> {
    work(x)
}

#[derive(Debug)]
struct BenchError;

impl From<CircuitBreakerError> for BenchError {
    fn from(_: CircuitBreakerError) -> Self {
        BenchError
    }
}

async fn plain_fn(x: u64) -> Result<u64, BenchError> {
    work(x).map_err(|()| BenchError)
}

#[circuit_breaker(name = "bench-annotated", threshold = 1_000_000, timeout_secs = 3600)]
async fn annotated_fn(x: u64) -> Result<u64, BenchError> {
    work(x).map_err(|()| BenchError)
}

fn breaker(name: &str, strategy: FailureStrategy) -> CircuitBreaker {
    let window = strategy != FailureStrategy::FailureStrategyConsecutive;
    CircuitBreaker::new(CircuitBreakerConfig {
        name: name.into(),
        failure_strategy: strategy as i32,
        failure_threshold: if window { 0 } else { 1_000_000 },
        window_size: if strategy == FailureStrategy::FailureStrategyCountWindow {
            100
        } else {
            0
        },
        window_secs: if strategy == FailureStrategy::FailureStrategyTimeWindow {
            60
        } else {
            0
        },
        timeout_secs: 3600,
        ..Default::default()
    })
}

fn strategies() -> [(&'static str, CircuitBreaker); 3] {
    [
        (
            "consecutive",
            breaker(
                "bench-consecutive",
                FailureStrategy::FailureStrategyConsecutive,
            ),
        ),
        (
            "count_window",
            breaker("bench-count", FailureStrategy::FailureStrategyCountWindow),
        ),
        (
            "time_window",
            breaker("bench-time", FailureStrategy::FailureStrategyTimeWindow),
        ),
    ]
}

fn recloser() -> recloser::Recloser {
    // Its default, the nearest peer of a count window: a ring of the last 100 calls.
    recloser::Recloser::custom()
        .closed_len(100)
        .open_wait(Duration::from_secs(3600))
        .build()
}

fn failsafe() -> impl failsafe::CircuitBreaker + Sync {
    failsafe::Config::new()
        .failure_policy(failsafe::failure_policy::consecutive_failures(
            1_000_000,
            failsafe::backoff::constant(Duration::from_secs(3600)),
        ))
        .build()
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

/// The same loop for every sync benchmark, on 1 or 2 threads, so that the rows compare.
fn sync_group(c: &mut Criterion, group: &str, threads: usize) {
    let mut g = c.benchmark_group(group);
    g.bench_function("bare", |b| {
        b.iter_custom(|n| {
            threads_loop(threads, n, |i| {
                black_box(value(work(i)));
            })
        })
    });
    for (name, cb) in strategies() {
        g.bench_function(name, |b| {
            b.iter_custom(|n| {
                threads_loop(threads, n, |i| {
                    black_box(value(cb.call(|| work(i))));
                })
            })
        });
    }
    let rc = recloser();
    g.bench_function("recloser", |b| {
        b.iter_custom(|n| {
            threads_loop(threads, n, |i| {
                black_box(value(rc.call(|| work(i))));
            })
        })
    });
    let fs = failsafe();
    g.bench_function("failsafe", |b| {
        b.iter_custom(|n| {
            threads_loop(threads, n, |i| {
                black_box(value(fs.call(|| work(i))));
            })
        })
    });
    g.finish();
}

fn single_thread_sync(c: &mut Criterion) {
    sync_group(c, "sync_1_thread", 1);
}

fn two_threads(c: &mut Criterion) {
    sync_group(c, "sync_2_threads", 2);
}

/// `iters` async calls of `one` on a current-thread runtime, timed inside the runtime.
fn async_loop<F, Fut, E>(rt: &tokio::runtime::Runtime, iters: u64, one: F) -> Duration
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = Result<u64, E>>,
{
    rt.block_on(async {
        let start = Instant::now();
        for i in 0..iters {
            black_box(value(one(i).await));
        }
        start.elapsed()
    })
}

fn single_thread_async(c: &mut Criterion) {
    let rt = current_thread();
    let mut g = c.benchmark_group("async_1_thread");
    g.bench_function("bare", |b| {
        b.iter_custom(|n| async_loop(&rt, n, work_async))
    });
    for (name, cb) in strategies() {
        g.bench_function(name, |b| {
            b.iter_custom(|n| async_loop(&rt, n, |i| cb.execute(move || work_async(i))))
        });
    }
    g.bench_function("plain_fn", |b| {
        b.iter_custom(|n| async_loop(&rt, n, plain_fn))
    });
    g.bench_function("annotated_fn", |b| {
        b.iter_custom(|n| async_loop(&rt, n, annotated_fn))
    });
    g.finish();
}

fn rejection(c: &mut Criterion) {
    let mut g = c.benchmark_group("rejected_while_open");
    let open = breaker("bench-open", FailureStrategy::FailureStrategyConsecutive);
    open.reconfigure(CircuitBreakerConfig {
        failure_threshold: 1,
        ..open.config()
    })
    .unwrap();
    let _ = open.call(|| Err::<(), _>(()));
    assert!(open.call(|| work(1)).is_err());
    g.bench_function("consecutive", |b| {
        b.iter(|| black_box(value(open.call(|| work(1)))))
    });
    let forced = breaker("bench-forced", FailureStrategy::FailureStrategyConsecutive);
    forced.force_open();
    g.bench_function("forced_open", |b| {
        b.iter(|| black_box(value(forced.call(|| work(1)))))
    });
    let rc = recloser::Recloser::custom()
        .closed_len(1)
        .open_wait(Duration::from_secs(3600))
        .build();
    for _ in 0..3 {
        let _ = rc.call(|| Err::<(), _>(()));
    }
    assert!(matches!(
        rc.call(|| work(1)),
        Err(recloser::Error::Rejected)
    ));
    g.bench_function("recloser", |b| {
        b.iter(|| black_box(value(rc.call(|| work(1)))))
    });
    let fs = failsafe::Config::new()
        .failure_policy(failsafe::failure_policy::consecutive_failures(
            1,
            failsafe::backoff::constant(Duration::from_secs(3600)),
        ))
        .build();
    let _ = fs.call(|| Err::<(), _>(()));
    assert!(matches!(
        fs.call(|| work(1)),
        Err(failsafe::Error::Rejected)
    ));
    g.bench_function("failsafe", |b| {
        b.iter(|| black_box(value(fs.call(|| work(1)))))
    });
    g.finish();
}

/// `iters` calls of `one` on each of `threads` threads at once; the slowest thread's time.
fn threads_loop<F>(threads: usize, iters: u64, one: F) -> Duration
where
    F: Fn(u64) + Sync,
{
    let barrier = Barrier::new(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    one(0); // take a thread slot before the clock starts
                    barrier.wait();
                    let start = Instant::now();
                    for i in 0..iters {
                        one(i);
                    }
                    start.elapsed()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .max()
            .unwrap()
    })
}

// ---- the summary table -------------------------------------------------------------------

fn criterion_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/criterion")
}

/// The mean of one benchmark, in ns per call, from criterion's estimates.
fn mean_ns(group: &str, id: &str) -> Option<f64> {
    let path = criterion_dir()
        .join(group)
        .join(id)
        .join("new/estimates.json");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    json["mean"]["point_estimate"].as_f64()
}

fn summary() -> String {
    use std::fmt::Write;
    let mut out = String::new();
    const SYNC: &[&str] = &[
        "bare",
        "consecutive",
        "count_window",
        "time_window",
        "recloser",
        "failsafe",
    ];
    const ASYNC: &[&str] = &[
        "bare",
        "consecutive",
        "count_window",
        "time_window",
        "plain_fn",
        "annotated_fn",
    ];
    const REJECTED: &[&str] = &["consecutive", "forced_open", "recloser", "failsafe"];
    let groups = [
        ("sync_1_thread", SYNC),
        ("async_1_thread", ASYNC),
        ("rejected_while_open", REJECTED),
        ("sync_2_threads", SYNC),
    ];
    writeln!(
        out,
        "| group | benchmark | ns per call | vs bare | vs recloser | vs failsafe |"
    )
    .unwrap();
    writeln!(out, "| --- | --- | ---: | ---: | ---: | ---: |").unwrap();
    for (group, ids) in groups {
        let bare = mean_ns(group, "bare");
        let rc = mean_ns(group, "recloser");
        let fs = mean_ns(group, "failsafe");
        for id in ids {
            let Some(ns) = mean_ns(group, id) else {
                continue;
            };
            let ratio =
                |base: Option<f64>| base.map_or("".to_string(), |b| format!("{:.2}x", ns / b));
            writeln!(
                out,
                "| {group} | {id} | {ns:.2} | {} | {} | {} |",
                ratio(bare),
                ratio(rc),
                ratio(fs)
            )
            .unwrap();
        }
    }
    let get = |g: &str, id: &str| mean_ns(g, id).unwrap_or(f64::NAN);
    let s1 = |id| get("sync_1_thread", id);
    let s2 = |id| get("sync_2_threads", id);
    let a1 = |id| get("async_1_thread", id);
    let targets = [
        (
            "consecutive, closed, 1 thread: at most 3 ns above the bare call",
            format!("{:+.2} ns", s1("consecutive") - s1("bare")),
            s1("consecutive") - s1("bare") <= 3.0,
        ),
        (
            "consecutive, 2 threads: at most 1.5x its 1-thread cost",
            format!("{:.2}x", s2("consecutive") / s1("consecutive")),
            s2("consecutive") / s1("consecutive") <= 1.5,
        ),
        (
            "count window, 1 thread: no slower than recloser",
            format!("{:.2}x recloser", s1("count_window") / s1("recloser")),
            s1("count_window") <= s1("recloser"),
        ),
        (
            "count window, 2 threads: at least 3x faster than recloser",
            format!("{:.2}x faster", s2("recloser") / s2("count_window")),
            s2("recloser") / s2("count_window") >= 3.0,
        ),
        (
            "time window, 1 thread: within 2x of the count window",
            format!("{:.2}x", s1("time_window") / s1("count_window")),
            s1("time_window") / s1("count_window") <= 2.0,
        ),
        (
            "time window, 2 threads: within 2x of the count window",
            format!("{:.2}x", s2("time_window") / s2("count_window")),
            s2("time_window") / s2("count_window") <= 2.0,
        ),
        (
            "annotated async fn: at most 5 ns above the plain fn",
            format!("{:+.2} ns", a1("annotated_fn") - a1("plain_fn")),
            a1("annotated_fn") - a1("plain_fn") <= 5.0,
        ),
        (
            "rejection while open: at most 5 ns",
            format!("{:.2} ns", get("rejected_while_open", "consecutive")),
            get("rejected_while_open", "consecutive") <= 5.0,
        ),
    ];
    writeln!(out, "\n| target | measured | met |").unwrap();
    writeln!(out, "| --- | ---: | --- |").unwrap();
    for (target, measured, met) in targets {
        writeln!(
            out,
            "| {target} | {measured} | {} |",
            if met { "yes" } else { "**no**" }
        )
        .unwrap();
    }
    out
}

fn main() {
    let mut c = Criterion::default()
        .output_directory(&criterion_dir())
        .warm_up_time(Duration::from_millis(700))
        .measurement_time(Duration::from_secs(2))
        .sample_size(40)
        .configure_from_args();
    single_thread_sync(&mut c);
    single_thread_async(&mut c);
    rejection(&mut c);
    two_threads(&mut c);
    c.final_summary();
    let table = summary();
    println!("\n{table}");
    let _ = std::fs::write(criterion_dir().join("summary.md"), &table);
}
