//! quiesce-sim: the deterministic simulator of quiesce.
//!
//! One seed derives a whole world ([`scenario::Scenario`]): a job, its configuration, a
//! workload, a stop plan, and which faults strike how often. The world runs the real core
//! machines — one controller, one worker machine per worker incarnation — on madsim's
//! executor and clock, over the simulator's own links and stores (the environment), and every step is
//! checked by oracles that name the property they guard.
//!
//! The crate has two builds. The normal build holds the pure parts (scenarios, the
//! environment, oracles) and the command line; the simulation build, with
//! `RUSTFLAGS="--cfg madsim"` and its own target dir (`sim/quiesce-sim` sets both), adds the
//! world that runs them.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod choices;
pub mod coverage;
pub mod env;
pub mod oracle;
pub mod planted;
pub mod runner;
pub mod scenario;
#[cfg(madsim)]
pub mod world;
