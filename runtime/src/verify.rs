//! `quiesce verify` (placeholder until the real check lands).
use crate::store::StateDir;
use std::fmt;
/// The report.
pub struct Report;
impl Report {
    /// Whether exactly-once holds.
    pub fn exactly_once(&self) -> bool {
        false
    }
}
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not checked")
    }
}
/// Checks a state directory.
pub fn verify(_dir: &StateDir) -> Result<Report, String> {
    Ok(Report)
}
