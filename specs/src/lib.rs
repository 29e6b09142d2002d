//! quiesce-specs: explores the real [`quiesce_core`] controller exhaustively over small
//! configurations and checks every transition against the named properties of the design —
//! the same names the Promela model (`specs/model.pml`), the simulator and the core's debug
//! assertions use.
//!
//! Time is part of the explored state and only moves to the next deadline, so the timed
//! liveness properties (every stop ends within its bound, every checkpoint resolves within its
//! timeout, a failed job runs again or ends within the restart policy's bound) are checked as
//! safety properties. Built with the `mutants` feature, the explorer can also run against
//! each known bug re-introduced in the core and must find it under the property named for it.
//!
//! ```
//! use quiesce_specs::explore::{Explorer, Options};
//! use quiesce_specs::setups;
//!
//! // The smallest job, with no periodic checkpoint explored past its start.
//! let mut setup = setups::named("tiny").expect("a built-in configuration");
//! setup.bounds.max_epoch = 0;
//! setup.bounds.max_faults = Some(1);
//! setup.bounds.end_of_input = false;
//! let outcome = Explorer::new(setup)?.run(&Options::default(), &mut |_| {});
//! assert!(outcome.complete);
//! assert!(outcome.violations.is_empty(), "{:?}", outcome.violations);
//! assert!(outcome.states > 100);
//! # Ok::<(), quiesce_core::controller::SetupError>(())
//! ```
#![forbid(unsafe_code)]

pub mod explore;
pub mod setups;
