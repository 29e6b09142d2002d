//! End to end: the controller's recorded trace (`--record`) replays through the core to the
//! same decisions, and to the state the run ended in.

mod support;

use quiesce_core::trace::{replay, Line};
use quiesce_core::{Controller, State};
use std::io::BufRead;
use support::{serial, Fixture};

#[test]
fn a_recorded_run_replays_to_the_same_outputs_and_ends_stopped() {
    let _serial = serial();
    let mut f = Fixture::new();
    let trace = f.root().join("trace.jsonl");
    let mut run = f.run(&["--stop-after", "1s", "--record", trace.to_str().unwrap()]);
    let status = run.wait_exit(f.run_bound(std::time::Duration::from_secs(1)));
    assert!(
        status.success(),
        "the run exited {status:?}\n{}",
        run.summary()
    );
    run.assert_stopped_at_final_checkpoint();
    drop(run);

    let file = std::fs::File::open(&trace).expect("the trace was written");
    let lines: Vec<Line<Controller>> = std::io::BufReader::new(file)
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let line = line.expect("a readable trace");
            serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("trace line {}: {e}: {line}", i + 1))
        })
        .collect();
    assert!(lines.len() > 10, "a trace of {} lines", lines.len());
    let replayed = replay(lines).unwrap_or_else(|e| panic!("the trace does not replay: {e}"));
    assert!(
        replayed.footer.is_some(),
        "the trace has no footer: cut short"
    );
    assert_eq!(replayed.machine.state(), State::Stopped);
    assert!(replayed.steps > 0);
}
