//! `counter`: a counter of `add`s and `read`s (Maelstrom's counter check, an exact subset
//! sum).
//!
//! The history holds `add` operations (invoke value: the amount, an integer >= 0) and `read`s
//! (`ok` value: the integer read); other operations are ignored. With the counter's final
//! value:
//! - the final value is the sum of the acknowledged adds plus some subset of the indefinite
//!   ones (`info`, or never completed); failed adds count for nothing;
//! - every read returned at least the adds acknowledged before it began, and at most the adds
//!   (not failed) invoked before it ended.

use super::{Property, Violation, when};
use crate::history::{EventKind, History, HistoryError};
use crate::ops::pair;

/// The checker's name.
pub const NAME: &str = "counter";

/// Indefinite adds the subset-sum check takes at most: meet in the middle enumerates 2^20
/// sums per half, a few milliseconds; beyond it the verdict is unknown.
pub const SUBSET_ITEMS_MAX: usize = 40;

/// What [`check_counter`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counter {
    /// Adds that may or may not have run: completed `info`, or never completed.
    pub adds_indefinite: u64,
    /// The first violation, if any ([`Property::Unknown`] when more than
    /// [`SUBSET_ITEMS_MAX`] indefinite adds could explain the final value).
    pub violation: Option<Violation>,
}

/// An add: its amount, history indices and how it completed.
struct Add {
    amount: u64,
    invoke: usize,
    /// `usize::MAX` if it never completed.
    completion: usize,
    status: EventKind,
}

/// An `ok` read.
struct Read {
    process: u64,
    value: u64,
    invoke: usize,
    completion: usize,
}

/// The counter check on `history` and the counter's `final_value`.
///
/// Errors: a history that breaks the format's pairing rules, or an add's amount or a read's
/// result that is not an integer >= 0.
pub fn check_counter(history: &History, final_value: u64) -> Result<Counter, HistoryError> {
    let mut ops = pair(history)?;
    // Reads are checked in the order they completed.
    ops.sort_by_key(|op| op.completion.unwrap_or(usize::MAX));
    let mut adds: Vec<Add> = Vec::new();
    let mut reads: Vec<Read> = Vec::new();
    for op in &ops {
        match op.f {
            "add" => {
                let amount = op.argument(history);
                adds.push(Add {
                    amount: amount.as_u64().ok_or_else(|| {
                        history.error_at(
                            op.invoke,
                            format!("an add's amount must be an integer >= 0, found {amount}"),
                        )
                    })?,
                    invoke: op.invoke,
                    completion: op.completion.unwrap_or(usize::MAX),
                    status: op.status,
                });
            }
            "read" if op.is_ok() => {
                let completion = op.completion.unwrap_or(usize::MAX);
                let value = op.result(history).unwrap_or(&serde_json::Value::Null);
                reads.push(Read {
                    process: op.process,
                    value: value.as_u64().ok_or_else(|| {
                        history.error_at(
                            completion,
                            format!("a read returns an integer >= 0, found {value}"),
                        )
                    })?,
                    invoke: op.invoke,
                    completion,
                });
            }
            _ => {}
        }
    }
    let indefinite: Vec<u64> = adds
        .iter()
        .filter(|add| add.status == EventKind::Info)
        .map(|add| add.amount)
        .collect();
    let mut result = Counter {
        adds_indefinite: indefinite.len() as u64,
        violation: None,
    };

    // Reads: sums in u128, so that no history can overflow them.
    let mut acknowledged_by_completion: Vec<(usize, u64)> = adds
        .iter()
        .filter(|add| add.status == EventKind::Ok)
        .map(|add| (add.completion, add.amount))
        .collect();
    acknowledged_by_completion.sort_unstable();
    let mut possible_by_invoke: Vec<(usize, u64)> = adds
        .iter()
        .filter(|add| add.status != EventKind::Fail)
        .map(|add| (add.invoke, add.amount))
        .collect();
    possible_by_invoke.sort_unstable();
    let prefix = |sorted: &[(usize, u64)]| -> Vec<u128> {
        let mut sums = vec![0u128];
        for &(_, amount) in sorted {
            let last = sums.last().copied().unwrap_or(0);
            sums.push(last + u128::from(amount));
        }
        sums
    };
    let (lower_sums, upper_sums) = (
        prefix(&acknowledged_by_completion),
        prefix(&possible_by_invoke),
    );
    for read in &reads {
        let lower =
            lower_sums[acknowledged_by_completion.partition_point(|&(at, _)| at < read.invoke)];
        let upper = upper_sums[possible_by_invoke.partition_point(|&(at, _)| at < read.completion)];
        let value = u128::from(read.value);
        if value < lower || value > upper {
            result.violation = Some(
                Violation::new(
                    NAME,
                    Property::Safety,
                    format!(
                        "process {} read {} at {}, outside the possible range {lower}..={upper} (acknowledged before it began .. not failed and invoked before it ended)",
                        read.process,
                        read.value,
                        when(history, read.completion)
                    ),
                )
                .at_event(history, read.completion),
            );
            return Ok(result);
        }
    }

    let acknowledged = lower_sums.last().copied().unwrap_or(0);
    let Some(surplus) = u128::from(final_value).checked_sub(acknowledged) else {
        result.violation = Some(Violation::new(
            NAME,
            Property::Safety,
            format!(
                "the final counter {final_value} is below the {acknowledged} that acknowledged adds sum to: an acknowledged add was lost"
            ),
        ));
        return Ok(result);
    };
    // At most the final value, so it fits.
    let surplus = u64::try_from(surplus).unwrap_or(u64::MAX);
    result.violation = match subset_sum(&indefinite, surplus, SUBSET_ITEMS_MAX) {
        Some(true) => None,
        Some(false) => Some(Violation::new(
            NAME,
            Property::Safety,
            format!(
                "the final counter {final_value} is the acknowledged adds ({acknowledged}) plus {surplus}, which no subset of the {} indefinite adds sums to: an add ran twice, or one recorded failed ran",
                indefinite.len()
            ),
        )),
        None => Some(Violation::new(
            NAME,
            Property::Unknown,
            format!(
                "{} indefinite adds could explain the surplus {surplus}; the subset-sum check takes at most {SUBSET_ITEMS_MAX}",
                indefinite.len()
            ),
        )),
    };
    Ok(result)
}

/// Whether some subset of `items` sums exactly to `target`; `None` if more than `items_max`
/// items could take part. Items of zero change no sum and are left out, as are items larger
/// than the target. Meet in the middle: every subset sum of each half, then a search of one
/// half's sorted sums for each of the other's complement.
pub fn subset_sum(items: &[u64], target: u64, items_max: usize) -> Option<bool> {
    if target == 0 {
        return Some(true);
    }
    let usable: Vec<u64> = items
        .iter()
        .copied()
        .filter(|&x| x > 0 && x <= target)
        .collect();
    if usable.len() > items_max {
        return None;
    }
    let total: u128 = usable.iter().map(|&x| u128::from(x)).sum();
    if total < u128::from(target) {
        return Some(false);
    }
    let sums = |half: &[u64]| {
        let mut sums = vec![0u64];
        for &x in half {
            let with_x: Vec<u64> = sums
                .iter()
                .filter_map(|&s| s.checked_add(x))
                .filter(|&s| s <= target)
                .collect();
            sums.extend(with_x);
        }
        sums
    };
    let (left, right) = usable.split_at(usable.len() / 2);
    let left = sums(left);
    let mut right = sums(right);
    right.sort_unstable();
    Some(
        left.iter()
            .any(|&s| right.binary_search(&(target - s)).is_ok()),
    )
}
