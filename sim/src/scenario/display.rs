//! A scenario for people: every knob, the way `quiesce-sim scenario --seed S` prints it.

use super::{rate_text, seconds, FaultKind, Scenario};
use quiesce_core::{Job, OperatorKind, RestartStrategy};
use std::fmt;

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self;
        writeln!(f, "seed {}", s.seed)?;
        write_job(f, &s.job)?;
        let c = &s.config;
        writeln!(
            f,
            "checkpoints: every {} ms, pause {} ms, timeout {} ms, {} tolerable failures, keep {}",
            c.checkpoint_interval_ms,
            c.min_pause_ms,
            c.checkpoint_timeout_ms,
            c.tolerable_checkpoint_failures,
            c.retained_checkpoints
        )?;
        writeln!(
            f,
            "stops: stop timeout {} ms, force timeout {} ms x {} retries (backoff {} ms); bound {} ms",
            c.stop_timeout_ms,
            c.force_timeout_ms,
            c.force_retries,
            c.force_retry_backoff_ms,
            c.stop_bound_ms()
        )?;
        writeln!(
            f,
            "health: heartbeat every {} ms, timeout {} ms; scheduling timeout {} ms; cleanup timeout {} ms",
            s.worker_config.heartbeat_interval_ms,
            c.heartbeat_timeout_ms,
            c.scheduling_timeout_ms,
            c.cleanup_timeout_ms
        )?;
        writeln!(
            f,
            "restarts: {}; healthy after {} ms; ttl {}",
            restart_text(&c.restart_strategy),
            c.healthy_duration_ms,
            c.ttl_ms.map_or("none".into(), |t| format!("{t} ms"))
        )?;
        let w = &s.workload;
        if w.batch == 0 {
            write!(f, "workload: none (control plane only)")?;
        } else {
            write!(
                f,
                "workload: {} records every {} ms per source task",
                w.batch, w.read_every_ms
            )?;
        }
        match w.end_of_input_ms {
            Some(at) => writeln!(f, "; input ends at {}", seconds(at))?,
            None => writeln!(f, "; input never ends")?,
        }
        writeln!(
            f,
            "phases: chaos until {}, closing stop ({:?}) at {}",
            seconds(s.phases.chaos_ms),
            s.stops.closing,
            seconds(s.closing_stop_ms())
        )?;
        if s.stops.requests.is_empty() {
            writeln!(f, "stop requests: none before the closing stop")?;
        } else {
            let requests: Vec<String> = s.stops.requests.iter().map(|r| r.to_string()).collect();
            writeln!(f, "stop requests: {}", requests.join(", "))?;
        }
        let checkpoints: Vec<String> = s.stops.checkpoints.iter().map(|&t| seconds(t)).collect();
        if !checkpoints.is_empty() {
            writeln!(f, "on-demand checkpoints: {}", checkpoints.join(", "))?;
        }
        write_swarm(f, s)
    }
}

fn write_job(f: &mut fmt::Formatter<'_>, job: &Job) -> fmt::Result {
    let ops: Vec<String> = job
        .operators
        .iter()
        .map(|o| {
            let kind = match o.kind {
                OperatorKind::Source => "source",
                OperatorKind::Transform => "transform",
                OperatorKind::KeyedCount => "keyed count",
                OperatorKind::Sink {
                    two_phase_commit: true,
                } => "2pc sink",
                OperatorKind::Sink { .. } => "sink",
                _ => "operator",
            };
            format!("{} ({kind}, x{})", o.name, o.parallelism)
        })
        .collect();
    let edges: Vec<String> = job
        .edges
        .iter()
        .map(|e| {
            let name = |op: quiesce_core::OperatorId| {
                job.operator(op)
                    .map_or("?", |o| o.name.as_str())
                    .to_string()
            };
            format!("{}->{}", name(e.from), name(e.to))
        })
        .collect();
    writeln!(
        f,
        "job {:?}: {} tasks on {} workers",
        job.name,
        job.tasks().count(),
        job.workers
    )?;
    writeln!(f, "  operators: {}", ops.join(", "))?;
    writeln!(f, "  edges: {}", edges.join(", "))
}

fn restart_text(r: &RestartStrategy) -> String {
    match *r {
        RestartStrategy::FixedDelay {
            delay_ms,
            max_restarts,
        } => format!("fixed {delay_ms} ms, at most {max_restarts}"),
        RestartStrategy::ExponentialDelay {
            initial_delay_ms,
            max_delay_ms,
            jitter_percent,
            max_restarts,
        } => format!(
            "exponential {initial_delay_ms}..{max_delay_ms} ms, jitter {jitter_percent}%, at most {max_restarts}"
        ),
        RestartStrategy::FailureRate {
            delay_ms,
            max_failures,
            window_ms,
        } => format!("failure rate: {delay_ms} ms, at most {max_failures} in {window_ms} ms"),
        _ => format!("{r:?}"),
    }
}

fn write_swarm(f: &mut fmt::Formatter<'_>, s: &Scenario) -> fmt::Result {
    let on: Vec<String> = FaultKind::ALL
        .iter()
        .filter_map(|&k| {
            let rate = s.swarm.rate(k)?;
            let permanent = if s.swarm.permanent.contains(&k) {
                ", permanent"
            } else {
                ""
            };
            Some(format!("{k} {}{permanent}", rate_text(k, rate)))
        })
        .collect();
    if on.is_empty() {
        writeln!(f, "faults: none")?;
    } else {
        writeln!(f, "faults: {}", on.join(", "))?;
    }
    if s.plan.faults.is_empty() {
        return Ok(());
    }
    writeln!(f, "fault plan ({} faults):", s.plan.faults.len())?;
    for p in &s.plan.faults {
        writeln!(f, "  {:>11}  {}", seconds(p.at_ms), p.fault)?;
    }
    Ok(())
}
