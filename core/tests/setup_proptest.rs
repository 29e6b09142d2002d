//! Building a controller from anything: arbitrary jobs, configurations, times and restore
//! points (read from disk as JSON) either build or are refused with an error value. Nothing
//! panics, and a controller that builds runs from there (its workers ready, then its own
//! timers only) with its invariants holding after every step.

use proptest::prelude::*;
use quiesce_core::controller::invariants;
use quiesce_core::controller::{Controller, ControllerSetup, RestorePoint};
use quiesce_core::{
    Config, Edge, FromWorker, Input, Job, Operator, OperatorId, OperatorKind, RestartStrategy,
    Time, WorkerEvent, WorkerId,
};

/// Small values, and values at the edges of every range the core checks.
fn count() -> BoxedStrategy<u64> {
    prop_oneof![
        12 => 0u64..20,
        1 => Just(1 << 40),
        1 => Just((1 << 40) + 1),
        1 => Just(1 << 62),
        1 => Just((1 << 62) + 1),
        1 => Just(u64::MAX - 1),
        1 => Just(u64::MAX),
    ]
    .boxed()
}

fn duration_ms() -> BoxedStrategy<u64> {
    prop_oneof![6 => 1u64..20_000, 1 => count()].boxed()
}

fn time() -> BoxedStrategy<Time> {
    prop_oneof![6 => 0u64..100_000, 1 => count()]
        .prop_map(Time)
        .boxed()
}

fn small_u32() -> BoxedStrategy<u32> {
    prop_oneof![6 => 0u32..6, 1 => Just(16), 1 => Just(17), 1 => Just(u32::MAX)].boxed()
}

/// A chain from a source through transforms to a sink: valid, unless the workers outnumber
/// the tasks.
fn chain() -> BoxedStrategy<Job> {
    let sink = any::<bool>().prop_map(|two_phase_commit| OperatorKind::Sink { two_phase_commit });
    (0usize..3, sink, prop::collection::vec(1u32..4, 4), 1u32..5)
        .prop_map(|(transforms, sink, parallelism, workers)| {
            let kinds = std::iter::once(OperatorKind::Source)
                .chain(std::iter::repeat_n(OperatorKind::Transform, transforms))
                .chain(std::iter::once(sink));
            let operators: Vec<Operator> = kinds
                .zip(&parallelism)
                .map(|(kind, &parallelism)| Operator {
                    name: "op".into(),
                    kind,
                    parallelism,
                })
                .collect();
            let edges = (1..operators.len() as u32)
                .map(|i| Edge {
                    from: OperatorId(i - 1),
                    to: OperatorId(i),
                })
                .collect();
            Job {
                name: "chain".into(),
                operators,
                edges,
                workers,
            }
        })
        .boxed()
}

/// Any operators and edges at all: mostly refused.
fn any_job() -> BoxedStrategy<Job> {
    let kind = prop_oneof![
        Just(OperatorKind::Source),
        Just(OperatorKind::Transform),
        any::<bool>().prop_map(|two_phase_commit| OperatorKind::Sink { two_phase_commit }),
    ];
    let parallelism = prop_oneof![6 => 0u32..4, 1 => Just(u32::MAX), 1 => Just((1 << 24) + 1)];
    let operator = (kind, parallelism).prop_map(|(kind, parallelism)| Operator {
        name: "op".into(),
        kind,
        parallelism,
    });
    let edge = (0u32..6, 0u32..6).prop_map(|(from, to)| Edge {
        from: OperatorId(from),
        to: OperatorId(to),
    });
    (
        prop::collection::vec(operator, 0..5),
        prop::collection::vec(edge, 0..6),
        small_u32(),
    )
        .prop_map(|(operators, edges, workers)| Job {
            name: "any".into(),
            operators,
            edges,
            workers,
        })
        .boxed()
}

fn job() -> BoxedStrategy<Job> {
    prop_oneof![3 => chain(), 1 => any_job()].boxed()
}

fn restart_strategy() -> BoxedStrategy<RestartStrategy> {
    prop_oneof![
        (duration_ms(), small_u32()).prop_map(|(delay_ms, max_restarts)| {
            RestartStrategy::FixedDelay {
                delay_ms,
                max_restarts,
            }
        }),
        (duration_ms(), duration_ms(), any::<u8>(), small_u32()).prop_map(
            |(initial_delay_ms, max_delay_ms, jitter_percent, max_restarts)| {
                RestartStrategy::ExponentialDelay {
                    initial_delay_ms,
                    max_delay_ms,
                    jitter_percent,
                    max_restarts,
                }
            }
        ),
        (duration_ms(), small_u32(), duration_ms()).prop_map(
            |(delay_ms, max_failures, window_ms)| RestartStrategy::FailureRate {
                delay_ms,
                max_failures,
                window_ms,
            }
        ),
    ]
    .boxed()
}

/// The defaults, with a time to live, a restart strategy and short waits drawn at will.
fn usual_config() -> BoxedStrategy<Config> {
    (
        restart_strategy(),
        prop::option::of(duration_ms()),
        prop::collection::vec(1u64..5_000, 3),
        0u32..4,
    )
        .prop_map(|(restart_strategy, ttl_ms, waits, retries)| Config {
            restart_strategy,
            ttl_ms,
            checkpoint_interval_ms: waits[0],
            min_pause_ms: waits[0] / 2,
            checkpoint_timeout_ms: waits[1],
            heartbeat_timeout_ms: waits[2],
            force_retries: retries,
            ..Config::default()
        })
        .boxed()
}

fn config() -> BoxedStrategy<Config> {
    prop_oneof![3 => usual_config(), 1 => any_config()].boxed()
}

/// Every field drawn at will: mostly refused.
fn any_config() -> BoxedStrategy<Config> {
    let timeouts = prop::collection::vec(duration_ms(), 9);
    let counts = (small_u32(), small_u32(), small_u32());
    let rest = (
        restart_strategy(),
        prop::option::of(duration_ms()),
        any::<u64>(),
        0u64..40_000,
    );
    (timeouts, counts, rest)
        .prop_map(
            |(t, (tolerable, retained, retries), (restart_strategy, ttl_ms, seed, pause))| Config {
                checkpoint_interval_ms: t[0],
                min_pause_ms: pause,
                checkpoint_timeout_ms: t[1],
                tolerable_checkpoint_failures: tolerable,
                retained_checkpoints: retained,
                cleanup_timeout_ms: t[2],
                stop_timeout_ms: t[3],
                force_timeout_ms: t[4],
                force_retries: retries,
                force_retry_backoff_ms: t[5],
                heartbeat_timeout_ms: t[6],
                scheduling_timeout_ms: t[7],
                restart_strategy,
                healthy_duration_ms: t[8],
                ttl_ms,
                jitter_seed: seed,
            },
        )
        .boxed()
}

/// A restore point as it would be read from disk: any numbers at all.
fn stored_restore_point() -> BoxedStrategy<Option<serde_json::Value>> {
    prop::option::of(
        (
            count(),
            count(),
            count(),
            prop::option::of(0u64..3),
            any::<bool>(),
            time(),
        )
            .prop_map(
                |(generation, epoch, last_started, ahead, committed, created_at)| {
                    // Mostly a last started epoch at or a little above the completed one.
                    let last_started = ahead.map_or(last_started, |a| epoch.saturating_add(a));
                    serde_json::json!({
                        "generation": generation,
                        "epoch": epoch,
                        "last_started": last_started,
                        "committed": committed,
                        "created_at": created_at.0,
                    })
                },
            ),
    )
    .boxed()
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(512)
}

/// Steps a built controller takes on its own timers.
const STEPS: usize = 200;

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn building_from_anything_never_panics_and_what_builds_runs(
        job in job(),
        config in config(),
        now in time(),
        stored in stored_restore_point(),
    ) {
        let restore: Option<RestorePoint> = stored
            .map(|value| serde_json::from_value(value).expect("every field is a u64 or bool"));
        let setup = ControllerSetup::new(job, config, now);
        let setup = match restore {
            Some(restore) => setup.with_restore(restore),
            None => setup,
        };
        let Ok(mut c) = Controller::new(setup) else {
            return Ok(());
        };
        invariants::check(None, &c).map_err(|v| TestCaseError::fail(v.to_string()))?;
        let generation = c.status().generation;
        for w in 0..c.job().workers {
            let before = c.status();
            let input = Input::Worker(FromWorker {
                worker: WorkerId(w),
                generation,
                event: WorkerEvent::Ready,
            });
            let result = c.handle(now, input.clone());
            invariants::check_input(&before, &input, &result, &c)
                .map_err(|v| TestCaseError::fail(v.to_string()))?;
        }
        for _ in 0..STEPS {
            while c.poll_output().is_some() {}
            let Some(at) = c.poll_timeout() else { break };
            let before = c.status();
            c.handle_timeout(at);
            invariants::check(Some(&before), &c).map_err(|v| TestCaseError::fail(v.to_string()))?;
        }
    }
}
