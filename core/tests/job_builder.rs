//! `Job::builder`: the short way to describe a job builds exactly the job the struct spells
//! out, and refuses what it cannot resolve or what `Job::validate` refuses.

use quiesce_core::{Edge, Job, JobError, Operator, OperatorId, OperatorKind};

#[test]
fn a_built_job_is_the_job_spelled_out() {
    let built = Job::builder("clicks", 2)
        .source("read", 2)
        .transform("count", 3)
        .sink("write", 2)
        .operator(
            "log",
            OperatorKind::Sink {
                two_phase_commit: false,
            },
            1,
        )
        .edge("read", "count")
        .edge("count", "write")
        .edge("count", "log")
        .build();
    let op = |name: &str, kind, parallelism| Operator {
        name: name.into(),
        kind,
        parallelism,
    };
    let edge = |from, to| Edge {
        from: OperatorId(from),
        to: OperatorId(to),
    };
    let spelled_out = Job {
        name: "clicks".into(),
        operators: vec![
            op("read", OperatorKind::Source, 2),
            op("count", OperatorKind::Transform, 3),
            op(
                "write",
                OperatorKind::Sink {
                    two_phase_commit: true,
                },
                2,
            ),
            op(
                "log",
                OperatorKind::Sink {
                    two_phase_commit: false,
                },
                1,
            ),
        ],
        edges: vec![edge(0, 1), edge(1, 2), edge(1, 3)],
        workers: 2,
    };
    assert_eq!(built, Ok(spelled_out));
}

#[test]
fn an_edge_to_an_unknown_name_is_refused() {
    let built = Job::builder("typo", 1)
        .source("read", 1)
        .sink("write", 1)
        .edge("read", "wrte")
        .build();
    let expected = JobError::NoOperatorNamed {
        name: "wrte".into(),
    };
    assert_eq!(built, Err(expected.clone()));
    assert!(expected.to_string().contains("\"wrte\""), "{expected}");
}

#[test]
fn two_operators_of_one_name_are_refused() {
    let built = Job::builder("twice", 1)
        .source("read", 1)
        .sink("read", 1)
        .edge("read", "read")
        .build();
    let expected = JobError::DuplicateOperatorName {
        name: "read".into(),
    };
    assert_eq!(built, Err(expected));
}

#[test]
fn a_built_job_is_validated() {
    let no_edge = Job::builder("loose", 1)
        .source("read", 1)
        .sink("write", 1)
        .build();
    assert_eq!(
        no_edge,
        Err(JobError::SourceWithoutOutput {
            operator: OperatorId(0)
        })
    );
    let no_workers = Job::builder("idle", 0)
        .source("read", 1)
        .sink("write", 1)
        .edge("read", "write")
        .build();
    assert_eq!(no_workers, Err(JobError::NoWorkers));
}

#[test]
fn an_operator_feeds_every_operator_a_path_of_edges_leads_to() {
    let job = Job::builder("j", 1)
        .source("read", 1)
        .source("other", 1)
        .transform("count", 1)
        .sink("write", 1)
        .sink("log", 1)
        .edge("read", "count")
        .edge("count", "write")
        .edge("other", "log")
        .build()
        .unwrap();
    let [read, other, count, write, log] = [0, 1, 2, 3, 4].map(OperatorId);
    assert!(job.feeds(read, count) && job.feeds(read, write) && job.feeds(count, write));
    assert!(job.feeds(other, log));
    assert!(!job.feeds(read, log) && !job.feeds(other, write));
    assert!(!job.feeds(write, read) && !job.feeds(read, read));
}
