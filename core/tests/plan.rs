//! The job plan: every task placed exactly once, round-robin in job order, and the same
//! placement whichever way it is asked (plan, job, controller, worker).

use proptest::prelude::*;
use quiesce_core::controller::Controller;
use quiesce_core::*;

/// A chain source -> transforms -> sink with the given parallelisms, on `workers` workers.
fn chain(parallelisms: &[u32], workers: u32) -> Job {
    let last = parallelisms.len() - 1;
    let operators = parallelisms
        .iter()
        .enumerate()
        .map(|(i, &parallelism)| Operator {
            name: format!("op{i}"),
            kind: match i {
                0 => OperatorKind::Source,
                _ if i == last => OperatorKind::Sink {
                    two_phase_commit: true,
                },
                _ => OperatorKind::Transform,
            },
            parallelism,
        })
        .collect();
    let edges = (0..last as u32)
        .map(|i| Edge {
            from: OperatorId(i),
            to: OperatorId(i + 1),
        })
        .collect();
    Job {
        name: "chain".into(),
        operators,
        edges,
        workers,
    }
}

fn job() -> impl Strategy<Value = Job> {
    prop::collection::vec(1..9u32, 2..5).prop_flat_map(|parallelisms| {
        let tasks: u32 = parallelisms.iter().sum();
        (1..=tasks).prop_map(move |workers| chain(&parallelisms, workers))
    })
}

proptest! {
    #[test]
    fn every_task_is_placed_once_round_robin_in_job_order(job in job()) {
        let plan = Plan::new(&job).unwrap();
        let tasks: Vec<TaskId> = job.tasks().collect();
        prop_assert_eq!(plan.len(), tasks.len());
        prop_assert_eq!(plan.workers(), job.workers);
        for (i, &task) in tasks.iter().enumerate() {
            let worker = WorkerId((i % job.workers as usize) as u32);
            prop_assert_eq!(plan.locate(task), Some(Placement { index: i, worker }));
            prop_assert_eq!(plan.worker_of(task), Some(worker));
            prop_assert_eq!(plan.index_of(task), Some(i));
            prop_assert_eq!(plan.hosts()[i], worker);
            prop_assert_eq!(job.worker_of(task), Some(worker));
        }
        let mut placed = Vec::new();
        for w in 0..job.workers {
            let hosted = plan.tasks_of(WorkerId(w));
            prop_assert!(!hosted.is_empty(), "worker {} hosts nothing", w);
            prop_assert_eq!(hosted, &job.tasks_of(WorkerId(w))[..]);
            prop_assert!(hosted.windows(2).all(|p| p[0] < p[1]), "job order");
            for &task in hosted {
                prop_assert_eq!(plan.worker_of(task), Some(WorkerId(w)));
            }
            placed.extend_from_slice(hosted);
        }
        placed.sort();
        prop_assert_eq!(placed, tasks);
        prop_assert!(plan.tasks_of(WorkerId(job.workers)).is_empty());
    }

    #[test]
    fn tasks_the_job_does_not_have_are_not_placed(job in job(), op in 0..6u32, subtask in 0..10u32) {
        let plan = Plan::new(&job).unwrap();
        let task = TaskId { operator: OperatorId(op), subtask };
        let exists = job.operator(task.operator).is_some_and(|o| subtask < o.parallelism);
        prop_assert_eq!(plan.locate(task).is_some(), exists);
        prop_assert_eq!(job.worker_of(task).is_some(), exists);
    }
}

#[test]
fn an_invalid_job_has_no_plan() {
    let mut job = chain(&[2, 2], 2);
    job.workers = 0;
    assert_eq!(Plan::new(&job), Err(JobError::NoWorkers));
    assert_eq!(job.worker_of(job.tasks().next().unwrap()), None);
    assert!(job.tasks_of(WorkerId(0)).is_empty());
}

/// The controller and each worker place tasks as the plan does: the controller accepts a
/// report only from the task's worker, and each worker hosts the plan's tasks.
#[test]
fn controller_and_workers_use_the_plan() {
    let job = chain(&[3, 5, 2], 4);
    let plan = Plan::new(&job).unwrap();
    let mut c = Controller::new(ControllerSetup::new(
        job.clone(),
        Config::default(),
        Time(0),
    ))
    .unwrap();
    assert_eq!(c.plan(), &plan);
    let g = c.status().generation;
    let from = |worker, event| {
        Input::Worker(FromWorker {
            worker,
            generation: g,
            event,
        })
    };
    for w in 0..job.workers {
        c.handle(Time(0), from(WorkerId(w), WorkerEvent::Ready))
            .unwrap();
    }
    assert_eq!(c.state(), State::Running);
    for task in job.tasks().filter(|t| t.operator == OperatorId(0)) {
        for w in (0..job.workers).map(WorkerId) {
            let result = c
                .clone()
                .handle(Time(0), from(w, WorkerEvent::InputEnded { task }));
            if plan.worker_of(task) == Some(w) {
                assert_eq!(result, Ok(()));
            } else {
                assert_eq!(result, Err(Rejected::TaskNotOnWorker { task, worker: w }));
            }
        }
    }
    for w in 0..job.workers {
        let worker = Worker::new(WorkerSetup::new(
            job.clone(),
            WorkerId(w),
            Generation(1),
            WorkerConfig::default(),
            Time(0),
        ))
        .unwrap();
        assert_eq!(
            worker.tasks().collect::<Vec<_>>(),
            plan.tasks_of(WorkerId(w))
        );
    }
}
