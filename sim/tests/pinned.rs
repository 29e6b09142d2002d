//! The pinned-seed suite: fixed seeds through the simulated world, in the simulation build.
//!
//! Run it with `sim/test` (or `RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR=target/sim cargo test
//! -p quiesce-sim --features sim-suite,mutants`). Built without `--cfg madsim` it would have
//! nothing to run; its one test then fails and says how to build it, so that a lost cfg (the
//! `RUSTFLAGS` variable replaces every other source of rustflags) never passes as "0 tests".

#[cfg(not(madsim))]
#[test]
fn built_with_cfg_madsim() {
    panic!(
        "the pinned-seed suite runs only in the simulation build: run `sim/test`, or \
         RUSTFLAGS=\"--cfg madsim\" CARGO_TARGET_DIR=target/sim cargo test -p quiesce-sim \
         --features sim-suite,mutants"
    );
}

#[cfg(madsim)]
mod simulation {
    #[cfg(feature = "mutants")]
    use quiesce_core::Property;
    use quiesce_sim::coverage::Coverage;
    use quiesce_sim::planted::Planted;
    use quiesce_sim::runner::{run_seed, SeedResult, Sweep};
    use quiesce_sim::scenario::{FaultKind, Scenario};
    use quiesce_sim::world;

    /// The seeds every build must pass: a fixed block, plus the seeds that once failed.
    const PINNED: std::ops::Range<u64> = 0..500;

    fn sweep(planted: Option<Planted>) -> Sweep {
        Sweep {
            start_seed: 0,
            seeds: 1,
            planted,
            opt_in_faults: false,
            fail_fast: false,
            check_determinism: false,
            shard: Default::default(),
        }
    }

    /// Seeds that once failed, one per line (`#` starts a comment), kept like proptest's
    /// regressions.
    fn regressions() -> Vec<u64> {
        include_str!("pinned-seeds.txt")
            .lines()
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .filter(|l| !l.is_empty())
            .map(|l| l.parse().expect("pinned-seeds.txt holds one seed per line"))
            .collect()
    }

    /// Every pinned seed passes; together they reach most legal transitions and make every
    /// fault kind strike (so a change that quietly stops exercising something shows here).
    #[test]
    fn the_pinned_seeds_pass() {
        let plain = sweep(None);
        let mut coverage = Coverage::default();
        let mut failures = Vec::new();
        for seed in PINNED.chain(regressions()) {
            let r: SeedResult = run_seed(&plain, seed);
            coverage.merge(&r.coverage);
            if let Err(f) = r.outcome {
                failures.push(format!(
                    "seed {}: {f}\n  {}",
                    r.seed,
                    plain.reproduce(r.seed)
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        let unreached = coverage.unreached_transitions();
        assert!(
            unreached.len() <= 5,
            "legal transitions never taken: {unreached:?}"
        );
        for kind in FaultKind::ALL.into_iter().filter(|k| !k.opt_in()) {
            assert!(coverage.faults.contains_key(&kind), "{kind} never struck");
        }
    }

    /// The same seed takes the same steps: run twice, alone or after other seeds in the same
    /// thread; and neighbouring seeds differ.
    #[test]
    fn a_seed_runs_the_same_alone_and_after_others() {
        let hash = |seed| world::run(&Scenario::from_seed(seed), None).hash;
        let alone = hash(12);
        for seed in 0..12 {
            hash(seed);
        }
        assert_eq!(hash(12), alone, "after other seeds in this thread");
        let elsewhere = std::thread::spawn(move || hash(12))
            .join()
            .expect("no panic");
        assert_eq!(elsewhere, alone, "on another thread");
        assert_ne!(hash(13), alone);
    }

    /// A failing seed's trace is written from a recorded re-run that takes the same steps
    /// (a re-run that hashes otherwise than the sweep's run writes nothing), holds the scenario as its second line, the
    /// controller and every worker incarnation, and replays from the file alone: every
    /// machine at once and each on its own, every output as recorded.
    #[cfg(feature = "mutants")]
    #[test]
    fn a_failing_seed_writes_a_trace_that_replays_every_machine() {
        use quiesce_core::trace::MachineId;
        use quiesce_sim::tracefile::{replay_machines, replay_text, Only};
        let planted = Planted::from_name("commit-before-persist").expect("a known bug");
        let s = sweep(Some(planted));
        let failing = (0..2_000)
            .map(|seed| run_seed(&s, seed))
            .find(|r| r.outcome.is_err())
            .expect("the bug is found within 2,000 seeds");
        let dir = std::env::temp_dir().join(format!("quiesce-sim-trace-{}", std::process::id()));
        let other = SeedResult {
            hash: failing.hash ^ 1,
            ..failing.clone()
        };
        let refused = quiesce_sim::runner::write_trace(&s, &other, &dir).unwrap_err();
        assert!(refused.contains("took other steps"), "{refused}");
        assert!(!dir.join(format!("seed-{}.jsonl", failing.seed)).exists());
        let path = quiesce_sim::runner::write_trace(&s, &failing, &dir).expect("written");
        let text = std::fs::read_to_string(&path).expect("readable");
        let _ = std::fs::remove_dir_all(&dir);
        let second = text.lines().nth(1).expect("a second line");
        let scenario = format!(
            r#"{{"type":"env","at":0,"event":{{"kind":"scenario","mutant":"commit-before-persist","scenario":{{"seed":{},"#,
            failing.seed
        );
        assert!(second.starts_with(&scenario), "{second}");
        let all = replay_text(&text).expect("replays");
        assert!(all.footer.is_some(), "a footer, its hash checked");
        assert_eq!(all.steps(), failing.steps, "every core step of the run");
        assert!(
            all.present
                .iter()
                .any(|m| matches!(m, MachineId::Worker { .. })),
            "workers too"
        );
        assert_eq!(all.machines.len(), all.present.len());
        let failure = failing.outcome.clone().expect_err("a failing seed");
        let footer = text.lines().last().expect("a last line");
        let property = format!(r#""check_failed":{{"property":"{}""#, failure.property);
        assert!(
            footer.contains(&property),
            "the footer names the property: {footer}"
        );
        for &machine in &all.present {
            let one = replay_machines(&text, Only::Machine(machine)).expect("replays");
            assert_eq!(one.machines.keys().copied().collect::<Vec<_>>(), [machine]);
            assert_eq!(one.machines[&machine], all.machines[&machine]);
        }
    }

    /// A sweep reports the same results, in seed order, whatever its number of jobs.
    #[test]
    fn a_sweep_is_the_same_on_any_number_of_jobs() {
        let s = Sweep {
            start_seed: 40,
            seeds: 30,
            ..sweep(None)
        };
        let results = |jobs| {
            let mut seen = Vec::new();
            quiesce_sim::runner::run(&s, jobs, |r| seen.push((r.seed, r.hash, r.outcome.clone())));
            seen
        };
        let one = results(1);
        assert_eq!(
            one.iter().map(|r| r.0).collect::<Vec<_>>(),
            (40..70).collect::<Vec<_>>()
        );
        assert_eq!(results(3), one);
    }

    #[cfg(feature = "mutants")]
    /// A known bug, and where the pinned suite must find it.
    struct Bug {
        name: &'static str,
        /// With the opt-in faults: the bug needs a message to overtake another.
        opt_in_faults: bool,
        /// The seed of the first failure naming the bug's property, in a sweep from seed 0
        /// (its seeds to first failure, less one).
        found_at: u64,
    }

    #[cfg(feature = "mutants")]
    const fn bug(name: &'static str, found_at: u64) -> Bug {
        Bug {
            name,
            opt_in_faults: false,
            found_at,
        }
    }

    /// Each known bug the simulator finds at its pinned seed, named by the property named for
    /// it: the oracles bite (controller invariants, fencing at the worker shell, timers before
    /// inputs at both machines, the sink ledger as commits happen, keyed state at each
    /// completed checkpoint, what the sinks hold when the controller ends). Every seed before
    /// passes: the first failure a sweep meets is the bug's own.
    #[cfg(feature = "mutants")]
    #[test]
    fn planted_bugs_are_found_by_their_property() {
        let bugs = [
            bug("no-final-checkpoint-timeout", 35),
            bug("force-ignored-in-final-checkpoint", 55),
            bug("second-checkpoint-in-flight", 55),
            bug("commit-before-persist", 7),
            bug("accept-old-generation-ack", 0),
            bug("wait-on-dead-task", 127),
            bug("input-outruns-timers", 3),
            // A finish overtakes the ack its worker sent before it only when a control
            // message may overtake another.
            Bug {
                opt_in_faults: true,
                ..bug("uncounted-early-finish", 0)
            },
            bug("request-beside-inflight", 3),
            bug("abort-drops-records", 81),
            bug("commit-keeps-pre-commits", 13),
            bug("no-alignment", 13),
            bug("accept-other-generation", 0),
            bug("worker:input-outruns-timers", 1),
            bug("keyed-state-not-restored", 20),
        ];
        assert_eq!(bugs.len(), Planted::all().len(), "every known bug");
        for b in bugs {
            let planted = Planted::from_name(b.name).expect("a known bug");
            let s = Sweep {
                opt_in_faults: b.opt_in_faults,
                ..sweep(Some(planted))
            };
            for seed in 0..=b.found_at {
                let Err(failure) = run_seed(&s, seed).outcome else {
                    assert!(seed < b.found_at, "{}: seed {seed} passed", b.name);
                    continue;
                };
                assert_eq!(
                    seed, b.found_at,
                    "{}: seed {seed} failed before its pinned seed: {failure}",
                    b.name
                );
                assert_eq!(
                    failure.property,
                    planted.property(),
                    "{}: seed {seed} failed otherwise: {failure}",
                    b.name
                );
            }
        }
    }

    /// A graceful stop delivers every record read before it: with the bug that drops an
    /// abort's records, a seed that ends by a graceful drain is caught by that check alone (the
    /// checks of the last checkpoint, which run first, pass).
    #[cfg(feature = "mutants")]
    #[test]
    fn a_graceful_drain_that_lost_records_is_caught() {
        let planted = Planted::from_name("abort-drops-records").expect("a known bug");
        let s = sweep(Some(planted));
        let caught = (0..=GRACEFUL_CATCH)
            .filter_map(|seed| run_seed(&s, seed).outcome.err())
            .find(|f| f.detail.contains("graceful stop drained"))
            .expect("a graceful drain lost records");
        assert_eq!(caught.property, Property::ExactlyOnce, "{caught}");
    }

    /// The first seed at which the bug that drops an abort's records is caught by the check of
    /// a graceful drain.
    const GRACEFUL_CATCH: u64 = 129;

    /// The scenario of `seed` without a fault, a stop request before the closing stop, or an
    /// on-demand checkpoint.
    fn quiet(seed: u64) -> Scenario {
        let mut s = Scenario::from_seed(seed);
        s.swarm.rates.clear();
        s.swarm.permanent.clear();
        s.plan.faults.clear();
        s.stops.requests.clear();
        s.stops.checkpoints.clear();
        s
    }

    /// A seed whose job sends records between workers for a while, never ends its input, and
    /// waits for heartbeats longer than `heartbeat_ms`.
    fn busy_across_workers(heartbeat_ms: u64) -> Scenario {
        (0..1_000)
            .map(quiet)
            .find(|s| {
                s.job.workers >= 2
                    && s.workload.batch > 0
                    && s.workload.read_every_ms <= 400
                    && s.workload.end_of_input_ms.is_none()
                    && s.config.heartbeat_timeout_ms > heartbeat_ms
                    && s.phases.chaos_ms >= 20_000
            })
            .expect("such a seed among the first thousand")
    }

    /// Clogs and resets strike the data links between workers too: records held in flight by
    /// a clog are lost when every worker's connections break; the receiving task refuses the
    /// gap as a broken channel, fails, and the job recovers with no record lost or repeated.
    #[test]
    fn a_reset_data_link_breaks_its_channel_and_nothing_is_lost() {
        use quiesce_core::{Input, WorkerEvent};
        use quiesce_sim::scenario::{Fault, PlannedFault};
        let mut s = busy_across_workers(3_000);
        for w in 0..s.job.workers {
            let worker = quiesce_core::WorkerId(w);
            let clog = Fault::Clog {
                worker,
                for_ms: 1_000,
            };
            s.plan.faults.push(PlannedFault {
                at_ms: 10_000,
                fault: clog,
            });
            s.plan.faults.push(PlannedFault {
                at_ms: 10_500,
                fault: Fault::Reset { worker },
            });
        }
        let (report, steps) = world::run_recorded(&s, None);
        assert!(
            matches!(report.verdict, world::Verdict::Passed(_)),
            "seed {}: {:?}",
            s.seed,
            report.verdict
        );
        let broken = steps.iter().any(|step| {
            matches!(step, quiesce_core::trace::Step::Input {
                input: Input::Worker(m), ..
            } if matches!(&m.event, WorkerEvent::TaskFailed { reason, .. }
                if reason.contains("broke")))
        });
        assert!(broken, "seed {}: no channel broke", s.seed);
    }

    /// A stop that escalates by its timeout though no fault struck is its own failure class:
    /// a graceful stop given 1 ms cannot drain over links that take milliseconds, and is found
    /// needless; the same run with the stop timeout it drew passes.
    #[test]
    fn a_stop_that_times_out_with_no_fault_is_a_needless_escalation() {
        use quiesce_sim::oracle::{Check, Class};
        let mut s = busy_across_workers(0);
        s.stops.closing = quiesce_core::StopMode::Graceful;
        let passed = world::run(&s, None);
        assert!(
            matches!(passed.verdict, world::Verdict::Passed(_)),
            "seed {}: {:?}",
            s.seed,
            passed.verdict
        );
        s.config.stop_timeout_ms = 1;
        match world::run(&s, None).verdict {
            world::Verdict::Failed(f) => {
                assert_eq!(f.class, Class::NeedlessEscalation, "{f}");
                assert_eq!(f.property, Check::NoNeedlessEscalation, "{f}");
            }
            other => panic!("seed {}: {other:?}", s.seed),
        }
    }
}
