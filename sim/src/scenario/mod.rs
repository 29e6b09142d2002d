//! A whole simulated world from one seed: the job, its configuration, the workload, the stop
//! plan, and which faults strike how often.
//!
//! Each concern draws from its own stream ([`crate::choices`]), so a scenario is a pure
//! function of its seed (and of [`Options`]): `quiesce-sim scenario --seed S` prints exactly
//! what a run of seed S simulates.
//!
//! ```
//! use quiesce_sim::scenario::Scenario;
//!
//! let s = Scenario::from_seed(42);
//! assert_eq!(s, Scenario::from_seed(42));
//! assert!(s.config.validate().is_ok() && s.job.validate().is_ok());
//! println!("{s}");
//! ```

mod config;
mod display;
mod faults;
mod plan;
mod topology;

pub use faults::{kind_of, rate_text, Fault, FaultKind, FaultPlan, PlannedFault, RateUnit, Swarm};
pub use plan::{Phases, StopAt, StopPlan, StopRequest, Workload};
pub use topology::{Shape, MAX_PARALLELISM, MAX_WORKERS};

use crate::choices::{Concern, Stream};
use quiesce_core::{Config, Job, WorkerConfig};
use serde::{Deserialize, Serialize};

/// What a sweep asks of every scenario beyond its seed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Options {
    /// Also draw the fault kinds that break the links' documented guarantees
    /// ([`FaultKind::opt_in`]).
    pub opt_in_faults: bool,
}

/// Everything a run simulates, drawn from one seed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scenario {
    /// The seed it was drawn from.
    pub seed: u64,
    /// What it was drawn with.
    pub options: Options,
    /// The shape of the job's graph.
    pub shape: Shape,
    /// The job.
    pub job: Job,
    /// The controller's configuration.
    pub config: Config,
    /// Every worker's configuration.
    pub worker_config: WorkerConfig,
    /// The records the sources read.
    pub workload: Workload,
    /// The stop requests and on-demand checkpoints.
    pub stops: StopPlan,
    /// How long the chaos phase lasts.
    pub phases: Phases,
    /// Which fault kinds are on, and how hard.
    pub swarm: Swarm,
    /// The planned faults of the chaos phase.
    pub plan: FaultPlan,
}

impl Scenario {
    /// The scenario of `seed` with the default [`Options`].
    pub fn from_seed(seed: u64) -> Scenario {
        Scenario::generate(seed, Options::default())
    }

    /// The scenario of `seed`: each concern from its own stream.
    pub fn generate(seed: u64, options: Options) -> Scenario {
        let stream = |concern| Stream::new(seed, concern);
        let (shape, job) = topology::draw(&mut stream(Concern::Topology));
        let mut cs = stream(Concern::Config);
        let worker_config = config::draw_worker(&mut cs);
        let config = config::draw(&mut cs, worker_config.heartbeat_interval_ms);
        let mut swarm_stream = stream(Concern::Swarm);
        let phases = Phases::draw(&mut swarm_stream);
        let swarm = Swarm::draw(&mut swarm_stream, options.opt_in_faults);
        let plan = FaultPlan::draw(seed, &swarm, &job, phases.chaos_ms);
        let workload = Workload::draw(&mut stream(Concern::Workload), phases.chaos_ms);
        let stops = StopPlan::draw(&mut stream(Concern::Stops), phases.chaos_ms);
        Scenario {
            seed,
            options,
            shape,
            job,
            config,
            worker_config,
            workload,
            stops,
            phases,
            swarm,
            plan,
        }
    }

    /// When the closing stop is made (ms after the start), if the job has not ended by then.
    pub fn closing_stop_ms(&self) -> u64 {
        self.phases.chaos_ms + self.phases.settle_ms
    }

    /// Whether `kind` is on in the phase at `now_ms`: in the chaos phase every kind the swarm
    /// switched on, afterwards only the permanent ones.
    pub fn rate_at(&self, kind: FaultKind, now_ms: u64) -> Option<u32> {
        if now_ms < self.phases.chaos_ms {
            self.swarm.rate(kind)
        } else {
            self.swarm.liveness_rate(kind)
        }
    }
}

/// `ms` as seconds with three decimals, for people.
pub fn seconds(ms: u64) -> String {
    format!("{}.{:03} s", ms / 1_000, ms % 1_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quiesce_core::{OperatorKind, StopMode};

    #[test]
    fn every_seed_gives_a_valid_job_and_config() {
        for seed in 0..10_000 {
            let s = Scenario::from_seed(seed);
            assert_eq!(s.job.validate(), Ok(()), "seed {seed}: {s}");
            assert_eq!(s.config.validate(), Ok(()), "seed {seed}: {s}");
            assert_eq!(s.worker_config.validate(), Ok(()), "seed {seed}: {s}");
            assert!(s.config.heartbeat_timeout_ms > 2 * s.worker_config.heartbeat_interval_ms);
            for op in &s.job.operators {
                assert!(
                    (1..=MAX_PARALLELISM).contains(&op.parallelism),
                    "seed {seed}"
                );
            }
            assert!((1..=MAX_WORKERS).contains(&s.job.workers), "seed {seed}");
            assert!(s.plan.faults.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
            assert!(s.plan.faults.iter().all(|f| f.at_ms < s.phases.chaos_ms));
            for f in &s.plan.faults {
                assert!(
                    s.swarm.rate(kind_of(&f.fault)).is_some(),
                    "seed {seed}: {f:?}"
                );
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_scenario() {
        for seed in [0, 1, 2, 77, 4_096, u64::MAX] {
            assert_eq!(Scenario::from_seed(seed), Scenario::from_seed(seed));
            assert_eq!(
                Scenario::from_seed(seed).to_string(),
                Scenario::from_seed(seed).to_string()
            );
        }
        assert_ne!(Scenario::from_seed(1), Scenario::from_seed(2));
    }

    #[test]
    fn a_scenario_survives_json() {
        for seed in 0..50 {
            let s = Scenario::from_seed(seed);
            let json = serde_json::to_string(&s).expect("a scenario serialises");
            let back: Scenario = serde_json::from_str(&json).expect("and reads back");
            assert_eq!(back, s);
        }
    }

    /// Swarm testing is only as good as its spread: over many seeds every shape, operator
    /// kind, worker count, restart strategy, stop mode and non-opt-in fault kind shows up, both
    /// on and off.
    #[test]
    fn seeds_cover_every_choice() {
        let scenarios: Vec<Scenario> = (0..2_000).map(Scenario::from_seed).collect();
        let any = |f: &dyn Fn(&Scenario) -> bool| scenarios.iter().any(f);
        assert!(any(&|s| s.shape == Shape::FanIn) && any(&|s| s.shape == Shape::Chain));
        for kind in [
            OperatorKind::KeyedCount,
            OperatorKind::Transform,
            OperatorKind::Sink {
                two_phase_commit: true,
            },
            OperatorKind::Sink {
                two_phase_commit: false,
            },
        ] {
            assert!(any(&|s| s.job.operators.iter().any(|o| o.kind == kind)));
        }
        for w in 1..=MAX_WORKERS {
            assert!(any(&|s| s.job.workers == w), "{w} workers");
        }
        for mode in [
            StopMode::Checkpoint,
            StopMode::Graceful,
            StopMode::Immediate,
            StopMode::Force,
        ] {
            assert!(any(&|s| s.stops.requests.iter().any(|r| r.mode == mode)));
            assert!(any(&|s| s.stops.closing == mode));
        }
        assert!(any(&|s| s
            .stops
            .requests
            .iter()
            .any(|r| matches!(r.at, StopAt::Recovering { .. }))));
        assert!(any(&|s| s.workload.end_of_input_ms.is_some()));
        assert!(any(&|s| s.workload.batch == 0) && any(&|s| s.workload.batch > 0));
        assert!(any(&|s| s.config.ttl_ms.is_some()));
        for kind in FaultKind::ALL {
            let on = any(&|s| s.swarm.rate(kind).is_some());
            assert_eq!(on, !kind.opt_in(), "{kind}");
            assert!(any(&|s| s.swarm.rate(kind).is_none()), "{kind}");
        }
        assert!(any(&|s| !s.swarm.permanent.is_empty()));
    }

    #[test]
    fn opt_in_faults_come_only_when_asked() {
        let options = Options {
            opt_in_faults: true,
        };
        let with: Vec<Scenario> = (0..200).map(|s| Scenario::generate(s, options)).collect();
        assert!(with
            .iter()
            .any(|s| s.swarm.rate(FaultKind::ControlLoss).is_some()));
        assert!(with
            .iter()
            .any(|s| s.swarm.rate(FaultKind::ControlReorder).is_some()));
        // The other concerns draw exactly as without the option.
        for (seed, s) in with.iter().enumerate() {
            let plain = Scenario::from_seed(seed as u64);
            assert_eq!(
                (&s.job, &s.config, &s.stops),
                (&plain.job, &plain.config, &plain.stops)
            );
        }
    }
}
