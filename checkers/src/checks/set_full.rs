//! `set-full`: a grow-only set broadcast to every node (Maelstrom's broadcast workload).
//!
//! The history holds `broadcast` operations (invoke value: the integer broadcast; `ok` value:
//! the integer acknowledged) and `read`s (`ok` value: the list of integers the node holds);
//! every node's final values, with when it learned each, come as [`NodeValues`]. Safety:
//! reads return only values that were broadcast, and not before; no node holds a value never
//! broadcast. Liveness: every acknowledged value is on every node. Statistics: the values
//! acknowledged, lost (acknowledged but missing on some node), stale (acknowledged before a
//! read began and missing from it), and per value on every node the latency from its
//! acknowledgement to the time the last node learned it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{Property, Violation, duration, input_error, seconds, time_of};
use crate::history::{EventKind, History, HistoryError};
use crate::ops::pair;

/// The checker's name.
pub const NAME: &str = "set-full";

/// One node's values at the end of the run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeValues {
    /// The node's name, as messages show it (`n3`).
    pub node: String,
    /// Each value the node holds, with the virtual nanoseconds at which it learned it.
    pub learned: BTreeMap<u64, i64>,
}

/// What [`check_set_full`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetFull {
    /// Values acknowledged to a client.
    pub acked: u64,
    /// Acknowledged values missing on some node at the end.
    pub lost: u64,
    /// Acknowledged values that some read begun after the acknowledgement did not return.
    pub stale: u64,
    /// Per acknowledged value on every node, by value ascending: nanoseconds from the
    /// acknowledgement to the time the last node learned it (zero if that was earlier).
    pub latencies_nanos: Vec<u64>,
    /// The first violation, if any. A safety violation ends the check: the statistics after
    /// `acked` are then left at zero.
    pub violation: Option<Violation>,
}

/// An `ok` read: who, when, and the values it returned, sorted and without repeats.
struct Read {
    process: u64,
    invoked: i64,
    completed: i64,
    completion: usize,
    values: Vec<u64>,
}

/// The set-full check over `history` and every node's final values. `settle` (nanoseconds)
/// is how long the run went on after every fault healed; the liveness message names it.
///
/// Errors: a history that breaks the format's pairing rules, an `f` other than `broadcast`
/// and `read` completing `ok`, a value of the wrong shape, a value broadcast twice, an event
/// compared in time without a time, or no node at all.
pub fn check_set_full(
    history: &History,
    holdings: &[NodeValues],
    settle: i64,
) -> Result<SetFull, HistoryError> {
    if holdings.is_empty() {
        return Err(input_error(
            history,
            "the set-full check needs the values of at least one node".to_owned(),
        ));
    }
    let mut ops = pair(history)?;
    let events = history.events();
    // Every broadcast counts as broadcast from its invocation, whatever its outcome.
    let mut invoked: BTreeMap<u64, (i64, usize)> = BTreeMap::new();
    for op in ops.iter().filter(|op| op.f == "broadcast") {
        let value = integer(history, op.invoke, &events[op.invoke].value, "a broadcast")?;
        let at = time_of(history, op.invoke, NAME)?;
        if let Some((_, first)) = invoked.insert(value, (at, op.invoke)) {
            return Err(history.error_at(
                op.invoke,
                format!(
                    "value {value} is broadcast a second time (first on line {}); the \
                     set-full check needs each value broadcast once",
                    history.lines()[first]
                ),
            ));
        }
    }
    // Completions in history order, as they happened.
    ops.sort_by_key(|op| op.completion.unwrap_or(usize::MAX));
    let mut acked: BTreeMap<u64, i64> = BTreeMap::new();
    let mut reads: Vec<Read> = Vec::new();
    for op in &ops {
        let Some(completion) = op.completion else {
            continue;
        };
        if op.status != EventKind::Ok {
            continue;
        }
        let result = &events[completion].value;
        match op.f {
            "broadcast" => {
                let value = integer(history, completion, result, "an acknowledged broadcast")?;
                acked.insert(value, time_of(history, completion, NAME)?);
            }
            "read" => {
                let list = result.as_array().ok_or_else(|| {
                    history.error_at(
                        completion,
                        format!("a read returns a list of integers, found {result}"),
                    )
                })?;
                let mut values = list
                    .iter()
                    .map(|value| integer(history, completion, value, "a value read"))
                    .collect::<Result<Vec<u64>, HistoryError>>()?;
                // Sorted already when a server answers from an ordered set: cheap to check.
                values.sort_unstable();
                values.dedup();
                reads.push(Read {
                    process: op.process,
                    invoked: time_of(history, op.invoke, NAME)?,
                    completed: time_of(history, completion, NAME)?,
                    completion,
                    values,
                });
            }
            other => {
                return Err(history.error_at(
                    completion,
                    format!(
                        "the set-full check knows the operations broadcast and read, not {other}"
                    ),
                ));
            }
        }
    }

    let mut result = SetFull {
        acked: acked.len() as u64,
        ..SetFull::default()
    };

    // Safety: reads return only values that were broadcast, and not before.
    for read in &reads {
        for value in &read.values {
            let fail = match invoked.get(value) {
                None => Some("which no client ever broadcast".to_owned()),
                Some(&(at, _)) if at > read.completed => {
                    Some(format!("before it was broadcast at {}", seconds(at)))
                }
                Some(_) => None,
            };
            if let Some(why) = fail {
                result.violation = Some(
                    Violation::new(
                        NAME,
                        Property::Safety,
                        format!(
                            "a read by process {} (invoked at {}, answered at {}) returned value {value}, {why}",
                            read.process,
                            seconds(read.invoked),
                            seconds(read.completed)
                        ),
                    )
                    .at_event(history, read.completion),
                );
                return Ok(result);
            }
        }
    }
    // Safety: no node holds a value never broadcast.
    for node in holdings {
        if let Some(value) = node.learned.keys().find(|v| !invoked.contains_key(v)) {
            result.violation = Some(Violation::new(
                NAME,
                Property::Safety,
                format!(
                    "{} holds value {value}, which no client ever broadcast",
                    node.node
                ),
            ));
            return Ok(result);
        }
    }

    // Stale: acknowledged values that some later read did not return. Reads in the order they
    // began see a growing set of values acknowledged before them; each is compared with the
    // read's sorted values in one merge.
    let mut acked_by_time: Vec<(i64, u64)> = acked.iter().map(|(&v, &t)| (t, v)).collect();
    acked_by_time.sort_unstable();
    let mut by_start: Vec<&Read> = reads.iter().collect();
    by_start.sort_by_key(|read| read.invoked);
    let (mut before, mut next) = (BTreeSet::new(), 0);
    let mut stale: BTreeSet<u64> = BTreeSet::new();
    for read in by_start {
        while let Some(&(at, value)) = acked_by_time.get(next)
            && at < read.invoked
        {
            before.insert(value);
            next += 1;
        }
        let mut returned = read.values.iter().peekable();
        for &value in &before {
            while returned.next_if(|&&v| v < value).is_some() {}
            if returned.next_if_eq(&&value).is_none() {
                stale.insert(value);
            }
        }
    }
    result.stale = stale.len() as u64;

    // Liveness: every acknowledged value is on every node.
    let mut first_lost: Option<(u64, Vec<&str>)> = None;
    for (&value, &at) in &acked {
        let missing: Vec<&str> = holdings
            .iter()
            .filter(|node| !node.learned.contains_key(&value))
            .map(|node| node.node.as_str())
            .collect();
        if missing.is_empty() {
            // Every node holds it, and there is at least one node.
            let everywhere = holdings
                .iter()
                .filter_map(|node| node.learned.get(&value).copied())
                .max()
                .unwrap_or(at);
            let latency = i128::from(everywhere) - i128::from(at);
            result
                .latencies_nanos
                .push(u64::try_from(latency).unwrap_or(0));
        } else {
            result.lost += 1;
            first_lost.get_or_insert((value, missing));
        }
    }
    if let Some((value, missing)) = first_lost {
        // Name a few nodes; a protocol that forwards nothing misses values on dozens.
        let mut names: Vec<String> = missing.iter().take(4).map(|&n| n.to_owned()).collect();
        if missing.len() > names.len() {
            names.push(format!("and {} more", missing.len() - names.len()));
        }
        result.violation = Some(Violation::new(
            NAME,
            Property::Liveness,
            format!(
                "{} of {} acknowledged values are missing from some node after every fault healed and {} of settling; \
                 the first, value {value} (acknowledged at {}), is missing on {}",
                result.lost,
                result.acked,
                duration(settle),
                seconds(acked[&value]),
                names.join(", ")
            ),
        ));
    }
    Ok(result)
}

/// `value`, found on event `index`, as a non-negative integer; `what` names it in the error.
fn integer(
    history: &History,
    index: usize,
    value: &Value,
    what: &str,
) -> Result<u64, HistoryError> {
    value.as_u64().ok_or_else(|| {
        history.error_at(
            index,
            format!("{what} must be an integer >= 0, found {value}"),
        )
    })
}
