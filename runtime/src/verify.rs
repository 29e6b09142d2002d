//! `quiesce verify`: whether the committed sink output of a state directory is exactly once.
