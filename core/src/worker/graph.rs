//! The shape of job the worker's data model supports.

use super::io::WorkerError;
use crate::types::{Job, JobError, OperatorId};

/// Most operators a job may have for the worker: the path check keeps a bit set of
/// ancestors per operator.
pub(super) const MAX_OPERATORS: usize = 4096;

/// Refuses a job in which two different paths lead from one operator to another.
///
/// Along each path a record is copied (an operator feeds every output), so with two paths a
/// record would reach the same operator twice. Records carry no lineage, so a task could not
/// tell such a copy from a duplicate; the job must be free of such diamonds.
pub(super) fn check_single_paths(job: &Job) -> Result<(), WorkerError> {
    let n = job.operators.len();
    if n > MAX_OPERATORS {
        return Err(WorkerError::TooManyOperators {
            operators: n,
            max: MAX_OPERATORS,
        });
    }
    let order = job
        .topological_order()
        .ok_or(WorkerError::Job(JobError::Cycle))?;
    let words = n.div_ceil(64);
    // ancestors[op]: every operator with a path to `op`.
    let mut ancestors = vec![vec![0u64; words]; n];
    for to in order {
        let mut reached = vec![0u64; words];
        for from in job.inputs_of(to) {
            let f = from.0 as usize;
            let mut via = ancestors[f].clone();
            via[f / 64] |= 1 << (f % 64);
            for (w, (acc, add)) in reached.iter_mut().zip(&via).enumerate() {
                let both = *acc & *add;
                if both != 0 {
                    let bit = w * 64 + both.trailing_zeros() as usize;
                    // `bit` indexes an operator below `n <= MAX_OPERATORS`, so it fits.
                    let from = OperatorId(u32::try_from(bit).unwrap_or(u32::MAX));
                    return Err(WorkerError::MultiplePaths { from, to });
                }
                *acc |= *add;
            }
        }
        ancestors[to.0 as usize] = reached;
    }
    Ok(())
}
