//! The pinned-seed suite: fixed seeds through the simulated world, in the simulation build.
//!
//! Run it with `sim/test` (or `RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR=target/sim cargo test
//! -p quiesce-sim --features sim-suite,mutants`). Built without `--cfg madsim` it would have
//! nothing to run; its one test then fails and says how to build it, so that a lost cfg (the
//! `RUSTFLAGS` variable replaces every other source of rustflags) never passes as "0 tests".

#[cfg(not(madsim))]
#[test]
fn built_with_cfg_madsim() {
    panic!(
        "the pinned-seed suite runs only in the simulation build: run `sim/test`, or \
         RUSTFLAGS=\"--cfg madsim\" CARGO_TARGET_DIR=target/sim cargo test -p quiesce-sim \
         --features sim-suite,mutants"
    );
}
