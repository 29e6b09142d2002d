//! `Job::validate` refuses two paths between two operators, and the controller and the worker
//! refuse such a job alike: a record would reach the operator where the paths meet twice.

mod worker_common;

use quiesce_core::controller::{Controller, ControllerSetup, SetupError};
use quiesce_core::worker::{Worker, WorkerConfig, WorkerError, WorkerSetup};
use quiesce_core::{Config, Generation, Job, JobError, OperatorId, Time, WorkerId};
use worker_common::*;

#[track_caller]
fn refuse(job: Job, from: u32, to: u32) {
    let expected = JobError::MultiplePaths {
        from: OperatorId(from),
        to: OperatorId(to),
    };
    assert_eq!(job.validate(), Err(expected.clone()));
    let message = expected.to_string();
    assert!(message.contains(&format!("op{from}")), "{message}");
    assert!(message.contains(&format!("op{to}")), "{message}");
    let setup = Controller::new(ControllerSetup::new(
        job.clone(),
        Config::default(),
        Time(0),
    ))
    .err();
    assert_eq!(setup, Some(SetupError::Job(expected.clone())));
    for w in 0..job.workers {
        let worker = Worker::new(WorkerSetup::new(
            job.clone(),
            WorkerId(w),
            Generation(1),
            WorkerConfig::default(),
            Time(0),
        ));
        assert_eq!(worker.err(), Some(WorkerError::Job(expected.clone())));
    }
}

#[track_caller]
fn accept(job: Job) {
    assert_eq!(job.validate(), Ok(()));
    assert!(Controller::new(ControllerSetup::new(
        job.clone(),
        Config::default(),
        Time(0)
    ))
    .is_ok());
    for w in 0..job.workers {
        let worker = Worker::new(WorkerSetup::new(
            job.clone(),
            WorkerId(w),
            Generation(1),
            WorkerConfig::default(),
            Time(0),
        ));
        assert!(worker.is_ok());
    }
}

#[test]
fn job_with_a_diamond_is_refused() {
    // read -> a -> join, read -> b -> join.
    refuse(
        job(
            vec![
                source("read", 1),
                transform("a", 1),
                transform("b", 1),
                transform("join", 1),
                sink("out", 1, true),
            ],
            &[(0, 1), (0, 2), (1, 3), (2, 3), (3, 4)],
            1,
        ),
        0,
        3,
    );
}

#[test]
fn job_with_a_shortcut_past_an_operator_is_refused() {
    // t -> s directly and t -> u -> s.
    refuse(
        job(
            vec![
                source("a", 1),
                source("b", 1),
                transform("t", 1),
                transform("u", 1),
                sink("s", 1, true),
            ],
            &[(0, 2), (1, 2), (2, 3), (2, 4), (3, 4)],
            2,
        ),
        2,
        4,
    );
}

#[test]
fn job_with_paths_meeting_far_from_where_they_split_is_refused() {
    // read fans out to two chains of two maps each that join before the sink.
    refuse(
        job(
            vec![
                source("read", 2),
                transform("a1", 1),
                transform("a2", 1),
                transform("b1", 1),
                transform("b2", 1),
                transform("join", 2),
                sink("out", 1, true),
            ],
            &[(0, 1), (1, 2), (0, 3), (3, 4), (2, 5), (4, 5), (5, 6)],
            2,
        ),
        0,
        5,
    );
}

#[test]
fn jobs_with_one_path_between_any_two_operators_are_accepted() {
    // Two sources joined, fanned out to two sinks.
    accept(job(
        vec![
            source("left", 1),
            source("right", 2),
            transform("join", 2),
            sink("a", 1, true),
            sink("b", 2, true),
        ],
        &[(0, 2), (1, 2), (2, 3), (2, 4)],
        2,
    ));
    // Fan-in of independent branches, each with its own source; and a fan-out tree.
    accept(job(
        vec![
            source("x", 1),
            transform("x1", 1),
            source("y", 1),
            transform("y1", 1),
            transform("join", 1),
            sink("out", 1, false),
            sink("tap", 1, true),
        ],
        &[(0, 1), (2, 3), (1, 4), (3, 4), (4, 5), (1, 6)],
        3,
    ));
}
