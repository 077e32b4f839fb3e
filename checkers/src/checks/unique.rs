//! `unique-ids`: every id returned `ok` is returned once (Maelstrom's unique-id workload).
//!
//! Every `ok` completion's value is an id, whatever its `f`. Ids are compared as JSON (the
//! string `"5"` and the number `5` differ); a message shows a string id as its text, any
//! other as its JSON.

use std::collections::BTreeMap;

use super::{Property, Violation, when};
use crate::history::{History, HistoryError};
use crate::ops::pair;

/// The checker's name.
pub const NAME: &str = "unique-ids";

/// What [`check_unique_ids`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UniqueIds {
    /// Operations that completed `ok` (ids handed out, repeats included).
    pub ok_ids: u64,
    /// The first id handed out a second time, if any: at that second `ok`.
    pub violation: Option<Violation>,
}

/// The unique-ids check on `history`. Errors: a history that breaks the format's pairing
/// rules.
pub fn check_unique_ids(history: &History) -> Result<UniqueIds, HistoryError> {
    let mut ops = pair(history)?;
    ops.retain(|op| op.is_ok());
    // In the order the ids were handed out.
    ops.sort_by_key(|op| op.completion);
    let mut result = UniqueIds {
        ok_ids: ops.len() as u64,
        violation: None,
    };
    // Per id: the completion that first handed it out.
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for op in &ops {
        let Some(completion) = op.completion else {
            continue;
        };
        let value = &history.events()[completion].value;
        // Keyed by the JSON text, so that the string "5" and the number 5 differ.
        let key = value.to_string();
        if let Some(&first) = seen.get(&key) {
            let id = value.as_str().map_or_else(|| key.clone(), str::to_owned);
            let first_process = history.events()[first].process;
            result.violation = Some(
                Violation::new(
                    NAME,
                    Property::Safety,
                    format!(
                        "id {id} was handed out twice: to process {first_process} at {} and to process {} at {}",
                        when(history, first),
                        op.process,
                        when(history, completion)
                    ),
                )
                .at_event(history, completion),
            );
            return Ok(result);
        }
        seen.insert(key, completion);
    }
    Ok(result)
}
