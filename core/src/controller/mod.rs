//! The controller machine.
pub mod io;
