//! quiesce-sim: the deterministic simulator of quiesce.
//!
//! One seed derives a whole world ([`scenario::Scenario`]): a job, its configuration, a
//! workload, a stop plan, and which faults strike how often. The world runs the real core
//! machines — one controller, one worker machine per worker incarnation — on madsim's
//! executor and clock, over the simulator's own links and stores ([`env`](mod@env)), and every step is
//! checked by oracles that name the property they guard ([`oracle`]).
//!
//! The parts, from the bottom up:
//!
//! - [`choices`]: one seeded stream per concern, so that one concern's draws never shift
//!   another's.
//! - [`scenario`]: the world a seed describes, pure data (`quiesce-sim scenario --seed S`).
//! - [`env`](mod@env): the environment, pure and sans-IO: FIFO links with delays, clogs and resets,
//!   the checkpoint, metadata and sink stores, the sources' connectors, the outcomes of
//!   effects.
//! - [`oracle`]: failures as values (class, property, detail, time) and the pure checks.
//! - `world` (simulation build only): the nodes on madsim, their run loops, the nemesis.
//! - [`runner`], [`coverage`], [`planted`]: sweeps, what they exercised, the known bugs they
//!   can plant.
//! - [`tracefile`], [`shrink`]: a failing run's trace, replayed without the simulator, and
//!   made smaller while it fails the same way.
//!
//! The crate has two builds. The normal build holds the pure parts and the command line; the
//! simulation build, with `RUSTFLAGS="--cfg madsim"` and its own target dir (`sim/quiesce-sim`
//! sets both), adds the world that runs them.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod choices;
pub mod coverage;
pub mod env;
pub mod oracle;
pub mod planted;
pub mod runner;
pub mod scenario;
pub mod shrink;
pub mod tracefile;
#[cfg(madsim)]
pub mod world;
