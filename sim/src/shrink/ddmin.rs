//! Delta debugging (ddmin, complements only): the smallest sublist a test still fails on,
//! found by removing chunks, halving their size whenever no chunk can go.

/// The result of one test of a candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tried {
    /// The candidate fails as the original did: keep it.
    Fails,
    /// It does not (it passes, or fails otherwise).
    Passes,
    /// The budget of tries is spent: stop where we are.
    OutOfBudget,
}

/// The smallest sublist of `items` (in their order) found on which `test` still fails, given
/// that it fails on `items`. Every kept removal was tested; whatever the budget, the result is
/// a list `test` was seen to fail on (or `items` itself).
pub fn ddmin<T: Clone>(items: Vec<T>, mut test: impl FnMut(&[T]) -> Tried) -> Vec<T> {
    let mut items = items;
    let mut chunks = 2usize;
    while !items.is_empty() {
        let size = items.len().div_ceil(chunks);
        let mut reduced = false;
        let mut start = 0;
        while start < items.len() {
            let end = (start + size).min(items.len());
            let candidate: Vec<T> = items[..start]
                .iter()
                .chain(&items[end..])
                .cloned()
                .collect();
            match test(&candidate) {
                Tried::OutOfBudget => return items,
                Tried::Fails => {
                    items = candidate;
                    reduced = true;
                    // The next chunk now starts where this one did.
                }
                Tried::Passes => start = end,
            }
        }
        if reduced {
            chunks = chunks.saturating_sub(1).max(2);
        } else if size <= 1 {
            break;
        } else {
            chunks = (chunks * 2).min(items.len());
        }
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tried(fails: bool) -> Tried {
        if fails {
            Tried::Fails
        } else {
            Tried::Passes
        }
    }

    #[test]
    fn finds_the_two_items_that_matter() {
        let mut tests = 0;
        let kept = ddmin((0..100).collect(), |c: &[u32]| {
            tests += 1;
            tried(c.contains(&17) && c.contains(&83))
        });
        assert_eq!(kept, vec![17, 83]);
        assert!(tests < 200, "{tests} tests");
    }

    #[test]
    fn keeps_the_order_and_empties_what_needs_nothing() {
        assert_eq!(
            ddmin(vec![5, 3, 9], |_: &[u32]| Tried::Fails),
            Vec::<u32>::new()
        );
        let kept = ddmin(vec![9, 1, 8, 2], |c: &[u32]| {
            tried(c.contains(&8) && c.contains(&1))
        });
        assert_eq!(kept, vec![1, 8]);
        assert_eq!(ddmin(vec![1], |c: &[u32]| tried(!c.is_empty())), vec![1]);
    }

    #[test]
    fn a_spent_budget_keeps_the_last_list_seen_failing() {
        let mut budget = 3;
        let kept = ddmin((0..64).collect(), |c: &[u32]| {
            if budget == 0 {
                return Tried::OutOfBudget;
            }
            budget -= 1;
            tried(c.contains(&0))
        });
        // Three tries: the first half could not go, the second could, the first quarter not.
        assert_eq!(kept, (0..32).collect::<Vec<_>>());
    }
}
