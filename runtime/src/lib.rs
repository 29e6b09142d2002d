//! quiesce-runtime: a thin tokio shell around the quiesce core that runs a job for real —
//! a controller process, worker processes on loopback TCP, a process scheduler and a
//! checkpoint store on disk. Every decision stays in the core; this crate only carries out
//! effects and reports their outcomes.
#![forbid(unsafe_code)]

pub mod admin;
pub mod clock;
pub mod controller;
pub mod events;
pub mod launch;
pub mod net;
pub mod sched;
pub mod store;
pub mod verify;
pub mod wire;
pub mod worker;
