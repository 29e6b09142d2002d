//! quiesce-sim: the deterministic simulator of quiesce.
//!
//! The crate has two builds. The normal build holds the pure parts and the command line; the
//! simulation build, with `RUSTFLAGS="--cfg madsim"` and its own target dir (`sim/quiesce-sim`
//! sets both), adds the world that runs them on madsim.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
