//! Shrinking in the simulation build: a planted bug's failing run, shrunk, fails the same
//! property with a smaller trace that replays. Run it with `sim/test`.

#[cfg(all(madsim, feature = "mutants"))]
mod simulation {
    use quiesce_sim::planted::Planted;
    use quiesce_sim::runner::{recorded_trace, run_scenario, run_seed, Sweep};
    use quiesce_sim::scenario::{Options, Scenario};
    use quiesce_sim::shrink::{shrink, Limits, Shrunk, TraceFile};
    use quiesce_sim::tracefile::replay_text;

    /// The trace of the first seed from `start` on which `name` is caught.
    fn failing_trace(name: &str, start: u64) -> (Planted, String) {
        let planted = Planted::from_name(name).expect("a known bug");
        let sweep = Sweep {
            start_seed: start,
            seeds: 1,
            planted: Some(planted),
            opt_in_faults: false,
            fail_fast: true,
            check_determinism: false,
            shard: Default::default(),
        };
        let seed = (start..start + 2_000)
            .find(|&seed| run_seed(&sweep, seed).outcome.is_err())
            .unwrap_or_else(|| panic!("{name} is caught within 2,000 seeds"));
        let scenario = Scenario::generate(seed, Options::default());
        let recorded = recorded_trace(&scenario, Some(planted)).expect("recorded");
        (planted, recorded.text)
    }

    fn shrunk(planted: Planted, text: &str) -> Shrunk {
        let limits = Limits {
            max_runs: 300,
            max_replays: 20_000,
        };
        let s = shrink(text, limits, |_| {}).expect("it shrinks");
        assert_eq!(s.failure.property, planted.property(), "{}", s.failure);
        assert!(s.runs <= limits.max_runs, "{} runs", s.runs);
        // The smaller trace replays, names the property, and its scenario, run again, still
        // fails it.
        replay_text(&s.text).expect("the smaller trace replays");
        let file = TraceFile::parse(&s.text).expect("it has its scenario line");
        assert_eq!(file.property, Some(planted.property()));
        let again = run_scenario(file.scenario, Some(planted)).outcome;
        let property = again.map_err(|f| f.property);
        assert_eq!(property, Err(planted.property().into()));
        s
    }

    /// A bug of the controller's own invariants: the faults go, then the controller's steps
    /// are cut in pure replay.
    #[test]
    fn a_controller_bug_shrinks_down_to_the_controller_steps_that_break_it() {
        let (planted, text) = failing_trace("commit-before-persist", 7);
        let before = TraceFile::parse(&text).expect("parses").size;
        let s = shrunk(planted, &text);
        assert!(s.controller_only);
        assert!(
            s.after.steps < before.steps,
            "{:?} -> {:?}",
            before,
            s.after
        );
        assert!(
            s.after.kinds < before.kinds,
            "{:?} -> {:?}",
            before,
            s.after
        );
        assert!(
            s.after.bytes < before.bytes,
            "{:?} -> {:?}",
            before,
            s.after
        );
    }

    /// A bug caught at a worker's shell: the run shrinks, its steps stay as run.
    #[test]
    fn a_worker_bug_shrinks_in_the_world() {
        let (planted, text) = failing_trace("accept-other-generation", 0);
        let before = TraceFile::parse(&text).expect("parses").size;
        let s = shrunk(planted, &text);
        assert!(!s.controller_only);
        assert!(
            s.after.kinds < before.kinds && s.after.bytes < before.bytes,
            "{:?} -> {:?}",
            before,
            s.after
        );
    }
}
