//! A task ack allocates nothing: the controller tracks acks in per-task flags it reuses across
//! checkpoint rounds.
//!
//! The allocation counter is process-wide, so this check runs without the test harness
//! (`harness = false`): a plain `main` on one thread, with nothing else in the process that
//! could allocate while the acks are counted.

mod support;

use quiesce_core::{CheckpointStage, Epoch, FromWorker, Input, WorkerEvent, WorkerId};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;
use support::*;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn main() {
    controller_task_acks_do_not_allocate();
    println!("controller_task_acks_do_not_allocate ... ok");
}

fn controller_task_acks_do_not_allocate() {
    let mut h = Harness::with(job_with(300, true), config());
    h.ready_all();
    h.at(1_000);
    h.take();
    let acks: Vec<Input> = h
        .tasks()
        .into_iter()
        .map(|(w, task)| {
            Input::Worker(FromWorker {
                worker: WorkerId(w),
                generation: h.generation(),
                event: WorkerEvent::CheckpointAcked {
                    task,
                    epoch: Epoch(1),
                },
            })
        })
        .collect();
    let (last, rest) = acks.split_last().expect("the job has tasks");
    let region = Region::new(GLOBAL);
    for input in rest {
        h.c.handle(h.now, input.clone()).expect("ack");
    }
    let stats = region.change();
    assert_eq!(
        stats.allocations,
        0,
        "{} acks allocated: {stats:?}",
        rest.len()
    );

    h.c.handle(h.now, last.clone()).expect("last ack");
    assert!(h
        .c
        .status()
        .in_flight
        .is_some_and(|f| f.stage == CheckpointStage::Persisting));

    // The counter is live: one allocation in a region is seen.
    let region = Region::new(GLOBAL);
    std::hint::black_box(Vec::<u64>::with_capacity(4));
    assert_eq!(
        region.change().allocations,
        1,
        "the counter sees allocations"
    );
}
