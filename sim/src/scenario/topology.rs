//! The job of a scenario: chains and fan-ins of operators, their parallelism, the sinks, and
//! how many workers host them.

use crate::choices::Stream;
use quiesce_core::{Job, OperatorKind};
use serde::{Deserialize, Serialize};

/// The shape of the operator graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// One source, then operators one after the other, then the sinks.
    Chain,
    /// Several sources feeding one operator, then a chain, then the sinks.
    FanIn,
}

/// The most operators between the sources and the sinks.
const MAX_MIDDLE: u64 = 3;
/// The most parallelism of an operator.
pub const MAX_PARALLELISM: u32 = 6;
/// The most workers.
pub const MAX_WORKERS: u32 = 6;

/// Draws a job: a chain or a fan-in, with 0 to 3 operators (stateless or keyed) between the
/// sources and the sinks, one sink (two-phase commit or not) or two side by side (fed by the
/// same last operator), parallelism 1 to 6 each, and 1 to 6 workers (never more than tasks).
pub fn draw(s: &mut Stream) -> (Shape, Job) {
    let shape = if s.percent(30) {
        Shape::FanIn
    } else {
        Shape::Chain
    };
    let sources = match shape {
        Shape::Chain => 1,
        Shape::FanIn => s.range(2, 3),
    };
    // A fan-in needs an operator where the sources meet, unless they meet in the sink.
    let middle = s.range(0, MAX_MIDDLE);
    let sinks = if s.percent(25) { 2 } else { 1 };
    let mut parallelism = || s.range_u32(1, MAX_PARALLELISM);
    let mut ops: Vec<(String, OperatorKind, u32)> = Vec::new();
    for i in 0..sources {
        ops.push((format!("src{i}"), OperatorKind::Source, parallelism()));
    }
    for i in 0..middle {
        // Which are keyed is drawn below, once every parallelism is.
        ops.push((format!("op{i}"), OperatorKind::Transform, parallelism()));
    }
    for i in 0..sinks {
        let sink = OperatorKind::Sink {
            two_phase_commit: true,
        };
        ops.push((format!("sink{i}"), sink, parallelism()));
    }
    for (_, kind, _) in ops.iter_mut() {
        match kind {
            OperatorKind::Transform if s.percent(40) => *kind = OperatorKind::KeyedCount,
            OperatorKind::Sink { two_phase_commit } => *two_phase_commit = !s.percent(30),
            _ => {}
        }
    }
    let tasks: u32 = ops.iter().map(|(_, _, p)| p).sum();
    let workers = s.range_u32(1, MAX_WORKERS.min(tasks));
    let mut builder = Job::builder(format!("{shape:?}").to_lowercase(), workers);
    for (name, kind, p) in &ops {
        builder = builder.operator(name.clone(), *kind, *p);
    }
    let sources: Vec<&String> = ops[..sources as usize].iter().map(|o| &o.0).collect();
    let middles: Vec<&String> = ops[sources.len()..sources.len() + middle as usize]
        .iter()
        .map(|o| &o.0)
        .collect();
    let sink_names: Vec<&String> = ops[sources.len() + middles.len()..]
        .iter()
        .map(|o| &o.0)
        .collect();
    // Every source feeds the first middle operator (or every sink when there is none); each
    // middle operator feeds the next; the last feeds every sink. No two paths ever join.
    let mut last: Vec<&String> = sources;
    for m in middles {
        for from in &last {
            builder = builder.edge(from.as_str(), m.as_str());
        }
        last = vec![m];
    }
    for sink in &sink_names {
        for from in &last {
            builder = builder.edge(from.as_str(), sink.as_str());
        }
    }
    // The shape is valid by construction: sources feed forward only, sinks are fed, no
    // operator is reached on two paths, and there are at least as many tasks as workers.
    let job = builder
        .build()
        .unwrap_or_else(|e| unreachable!("a drawn job is valid by construction: {e}"));
    (shape, job)
}
