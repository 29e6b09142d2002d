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

    /// A failing seed's controller trace is written from a recorded re-run that takes the same
    /// steps, and replays from the file alone, every output as recorded.
    #[cfg(feature = "mutants")]
    #[test]
    fn a_failing_seed_writes_a_trace_that_replays() {
        let planted = Planted::from_name("accept-old-generation-ack").expect("a known bug");
        let s = sweep(Some(planted));
        let failing = (0..100)
            .map(|seed| run_seed(&s, seed))
            .find(|r| r.outcome.is_err())
            .expect("the bug is found within 100 seeds");
        let dir = std::env::temp_dir().join(format!("quiesce-sim-trace-{}", std::process::id()));
        let path = quiesce_sim::runner::write_trace(&s, &failing, &dir).expect("written");
        let text = std::fs::read_to_string(&path).expect("readable");
        let replayed = quiesce_sim::tracefile::replay_text(&text).expect("replays");
        assert!(replayed.steps > 0);
        assert!(
            text.contains("stale_generation_inert"),
            "the footer names the property"
        );
        let _ = std::fs::remove_dir_all(&dir);
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

    /// Each known bug the simulator finds within 600 seeds, found by the property named for
    /// it: the oracles bite (controller invariants, fencing at the worker shell, the sink
    /// ledger as commits happen, keyed state at each completed checkpoint, and what the sinks
    /// hold when the controller ends).
    #[cfg(feature = "mutants")]
    #[test]
    fn planted_bugs_are_found_by_their_property() {
        // With the opt-in faults where the bug needs a message to overtake another.
        let bugs = [
            ("accept-old-generation-ack", false),
            ("accept-other-generation", false),
            ("wait-on-dead-task", false),
            ("second-checkpoint-in-flight", false),
            ("no-alignment", false),
            ("commit-keeps-pre-commits", false),
            ("abort-drops-records", false),
            ("keyed-state-not-restored", false),
            ("worker:input-outruns-timers", false),
            ("input-outruns-timers", false),
            ("force-ignored-in-final-checkpoint", false),
            ("uncounted-early-finish", true),
        ];
        for (name, opt_in_faults) in bugs {
            let planted = Planted::from_name(name).expect("a known bug");
            let s = Sweep {
                opt_in_faults,
                ..sweep(Some(planted))
            };
            let found =
                (0..600).find_map(|seed| run_seed(&s, seed).outcome.err().map(|f| (seed, f)));
            let (seed, failure) = found.unwrap_or_else(|| panic!("{name}: not found"));
            assert_eq!(
                failure.property,
                planted.property(),
                "{name}: seed {seed} failed otherwise: {failure}"
            );
        }
    }
}
