//! The edges out of Stopping(StopWorkers): the kill is confirmed, or never is.

use super::*;
use quiesce_core::{Config, Event, Output, Reason, StopMode};

/// Running, then a force stop at time `ms`.
fn force_stopped_at(ms: u64) -> Harness {
    let mut h = running();
    h.at(ms);
    h.stop(StopMode::Force).unwrap();
    h
}

fn kill_retried(attempt: u32) -> [Output; 2] {
    [
        Output::Event(Event::KillRetried {
            generation: g(1),
            attempt,
        }),
        kill(1),
    ]
}

/// The test config but with the default force settings.
fn default_force_settings() -> Config {
    let defaults = Config::default();
    Config {
        force_timeout_ms: defaults.force_timeout_ms,
        force_retries: defaults.force_retries,
        force_retry_backoff_ms: defaults.force_retry_backoff_ms,
        ..config()
    }
}

pub fn cases() -> Vec<Case> {
    // force_timeout_ms = 2000, force_retries = 2, force_retry_backoff_ms = 500 (doubling).
    const START: u64 = 100;
    vec![
        case("stop_workers -> stopped on workers stopped", || {
            force_stopped_at(0)
        })
        .before(at(1_500), [quiet()])
        .edge(
            STOP_WORKERS,
            When::WorkersStopped,
            STOPPED,
            Reason::WorkersStopped,
        )
        .expect([
            effects([]).why("killed workers need no release"),
            stopped_generation(Some(1)),
            no_timers(),
        ]),
        case("stop_workers -> failed on kill unconfirmed", running)
            .before(at(START), [quiet()])
            .before(stop(StopMode::Force), [effects([kill(1)])])
            // Attempt 1 waits 2000 ms, then a pause of 500 ms.
            .before(
                deadline(START + 2_000),
                [
                    quiet().why("the first re-ask comes after a pause"),
                    armed(Timer::Kill, START + 2_500),
                ],
            )
            .before(at(START + 2_500), [outputs(kill_retried(2))])
            // Attempt 2 waits 2000 ms, then a pause of 1000 ms.
            .before(
                at(START + 4_500),
                [quiet(), armed(Timer::Kill, START + 5_500)],
            )
            .before(at(START + 5_500), [outputs(kill_retried(3))])
            // Attempt 3 (the last retry) waits 2000 ms, then the job has failed.
            .edge(
                STOP_WORKERS,
                deadline(START + 7_500),
                FAILED,
                Reason::KillUnconfirmed { attempts: 3 },
            )
            .expect([
                effects([]),
                no_timers(),
                force_bound(7_500).why("the kill took exactly the force bound"),
            ]),
        // A driver that only wakes long after every deadline gets the same retries, each as of
        // its own deadline, and the job fails within the force bound.
        case(
            "stop_workers -> failed on kill unconfirmed when woken late",
            || force_stopped_at(0),
        )
        .edge(
            STOP_WORKERS,
            at(100_000),
            FAILED,
            Reason::KillUnconfirmed { attempts: 3 },
        )
        .expect([
            outputs(
                [
                    kill_retried(2).to_vec(),
                    kill_retried(3).to_vec(),
                    vec![Output::Event(Event::Transition {
                        from: Some(STOP_WORKERS),
                        to: FAILED,
                        reason: Reason::KillUnconfirmed { attempts: 3 },
                    })],
                ]
                .concat(),
            ),
            now_within_force_bound(),
        ]),
        // 30 s wait, 1 s pause, 30 s, 2 s, 30 s, 4 s, 30 s.
        case(
            "stop_workers -> failed on kill unconfirmed with default force settings",
            || {
                let mut h = running_with(default_force_settings());
                h.stop(StopMode::Force).unwrap();
                h
            },
        )
        .before(deadline(31_000), [outputs(kill_retried(2))])
        .before(deadline(63_000), [outputs(kill_retried(3))])
        .before(deadline(97_000), [outputs(kill_retried(4))])
        .edge(
            STOP_WORKERS,
            deadline(127_000),
            FAILED,
            Reason::KillUnconfirmed { attempts: 4 },
        )
        .expect([effects([]), no_timers(), force_bound(127_000)]),
    ]
}
