//! The `kv` model: one string per key, initially `""`, with `get`, `put` and `append`.
//!
//! Its state does not fix the order of concurrent appends. Placing an append in the search
//! only adds it to a set of appends still unordered; the next `get` observes the value and
//! picks an order of that set that spells it and respects real time (an append that
//! completed before another was invoked comes first), or fails if none does; a `put`
//! overwrites them. A history of Jepsen's shape has bursts of a dozen concurrent appends
//! between two gets on one key, and a search over strings tries every order of such a burst
//! as a separate state (13! of them, each a long string in the memo); with the order left
//! open, every order is one state. Text is shared, never copied: a state holds the value
//! last put or observed (a reference to the history's own string) and the unordered
//! appends, so a state costs tens of bytes whatever the length of the value.

use std::collections::BTreeSet;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde_json::Value;

use crate::history::json_type_name;
use crate::memo::fx_hash;
use crate::model::{Model, Span};

/// An immutable string shared between the history and the states of the search, hashed
/// once.
#[derive(Clone)]
pub struct Text {
    hash: u64,
    text: Arc<str>,
}

impl Text {
    /// `text`, hashed.
    pub fn new(text: &str) -> Text {
        Text {
            hash: fx_hash(text),
            text: Arc::from(text),
        }
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.hash == other.hash && (Arc::ptr_eq(&self.text, &other.text) || self.text == other.text)
    }
}

impl Eq for Text {}

impl Hash for Text {
    fn hash<H: Hasher>(&self, hasher: &mut H) {
        hasher.write_u64(self.hash);
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.text, formatter)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.text)
    }
}

/// An operation on one key of the key-value store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvInput {
    /// The key; required in this model.
    pub key: String,
    /// What to do to it.
    pub op: KvOp,
}

/// The operations of the `kv` model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvOp {
    /// Return the value.
    Get,
    /// Replace the value.
    Put(Text),
    /// Append to the value.
    Append(Text),
}

/// The results of `kv` operations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvOutput {
    /// The value a get returned (`""` for a missing key).
    Get(Text),
    /// A put or append completed; its result carries nothing.
    Done,
}

/// An append whose place among the other unordered appends is still open.
#[derive(Clone, Debug)]
struct Unordered {
    span: Span,
    value: Text,
}

/// The value of one key: fixed up to the last put or get, then a set of appends in an
/// order no get has observed yet.
#[derive(Clone, Debug)]
pub struct KvState {
    fixed: Text,
    /// Sorted by invocation, so that equal sets compare equal.
    unordered: Vec<Unordered>,
    /// The invocations of the appends that the step into this state ordered, in that order
    /// (see [`Model::reordered`]). Not part of the state's identity.
    reordered: Option<Arc<[usize]>>,
}

impl KvState {
    fn fixed(text: Text) -> KvState {
        KvState {
            fixed: text,
            unordered: Vec::new(),
            reordered: None,
        }
    }
}

impl PartialEq for KvState {
    fn eq(&self, other: &KvState) -> bool {
        self.fixed == other.fixed
            && self.unordered.len() == other.unordered.len()
            && self
                .unordered
                .iter()
                .zip(&other.unordered)
                .all(|(mine, theirs)| mine.span.call == theirs.span.call)
    }
}

impl Eq for KvState {}

impl Hash for KvState {
    fn hash<H: Hasher>(&self, hasher: &mut H) {
        self.fixed.hash(hasher);
        for append in &self.unordered {
            hasher.write_usize(append.span.call);
        }
    }
}

/// The `kv` model: one string per key, initially `""`, with `get`, `put` and `append`.
/// Partitioned by key, so its state is the value of one key.
#[derive(Clone, Copy, Debug, Default)]
pub struct Kv;

impl Model for Kv {
    type State = KvState;
    type Input = KvInput;
    type Output = KvOutput;

    fn init(&self) -> KvState {
        KvState::fixed(Text::new(""))
    }

    /// The sequential specification: an append takes its place at once.
    fn step(&self, state: &KvState, input: &KvInput, output: Option<&KvOutput>) -> Option<KvState> {
        match (&input.op, state.unordered.is_empty()) {
            (KvOp::Append(suffix), true) => {
                let appended = format!("{}{}", state.fixed, suffix);
                Some(KvState::fixed(Text::new(&appended)))
            }
            // Only `step_at` leaves appends unordered; after one, an append comes last.
            _ => {
                let span = Span {
                    call: usize::MAX,
                    completion: None,
                };
                self.step_at(state, input, output, span)
            }
        }
    }

    fn step_at(
        &self,
        state: &KvState,
        input: &KvInput,
        output: Option<&KvOutput>,
        span: Span,
    ) -> Option<KvState> {
        match (&input.op, output) {
            (KvOp::Get, None) => Some(KvState {
                reordered: None,
                ..state.clone()
            }),
            (KvOp::Get, Some(KvOutput::Get(read))) => observe(state, read),
            (KvOp::Put(value), None | Some(KvOutput::Done)) => Some(KvState::fixed(value.clone())),
            (KvOp::Append(suffix), None | Some(KvOutput::Done)) => {
                let mut unordered = Vec::with_capacity(state.unordered.len() + 1);
                unordered.extend_from_slice(&state.unordered);
                let at = unordered.partition_point(|append| append.span.call < span.call);
                unordered.insert(
                    at,
                    Unordered {
                        span,
                        value: suffix.clone(),
                    },
                );
                Some(KvState {
                    fixed: state.fixed.clone(),
                    unordered,
                    reordered: None,
                })
            }
            // decode_output never pairs an operation with another operation's result.
            _ => None,
        }
    }

    fn partition<'a>(&self, input: &'a KvInput) -> Option<&'a str> {
        Some(&input.key)
    }

    fn is_read_only(&self, input: &KvInput) -> bool {
        input.op == KvOp::Get
    }

    /// A value that took effect stays in the key's value until a put, so every get in
    /// between returns it whole: an append whose value is in no get's result, or a put whose
    /// value starts none, was seen by no get, and leaving it out changes no get's result.
    fn unobservable(&self, updates: &[&KvInput], outputs: &[&KvOutput]) -> Vec<bool> {
        let mut reads: Vec<&str> = outputs
            .iter()
            .filter_map(|output| match output {
                KvOutput::Get(text) => Some(text.as_str()),
                KvOutput::Done => None,
            })
            .collect();
        reads.sort_unstable();
        reads.dedup();
        // Keep the longest: in sorted order a prefix comes right before its extensions.
        let longest: Vec<&str> = reads
            .iter()
            .enumerate()
            .filter(|(at, read)| {
                reads
                    .get(at + 1)
                    .is_none_or(|next| !next.starts_with(**read))
            })
            .map(|(_, read)| *read)
            .collect();
        updates
            .iter()
            .map(|update| match &update.op {
                KvOp::Append(value) => {
                    !value.as_str().is_empty()
                        && !longest.iter().any(|read| read.contains(value.as_str()))
                }
                KvOp::Put(value) => !longest.iter().any(|read| read.starts_with(value.as_str())),
                KvOp::Get => false,
            })
            .collect()
    }

    fn reordered<'s>(&self, state: &'s KvState) -> &'s [usize] {
        state.reordered.as_deref().unwrap_or(&[])
    }

    fn heap_bytes(&self, state: &KvState) -> usize {
        state.unordered.capacity() * std::mem::size_of::<Unordered>()
            + state.reordered.as_ref().map_or(0, |order| {
                order.len() * std::mem::size_of::<usize>() + 2 * std::mem::size_of::<usize>()
            })
    }

    fn describe(&self, state: &KvState) -> String {
        let fixed = Value::String(state.fixed.to_string());
        if state.unordered.is_empty() {
            return fixed.to_string();
        }
        let appends: Vec<String> = state
            .unordered
            .iter()
            .map(|append| Value::String(append.value.to_string()).to_string())
            .collect();
        format!(
            "{fixed} followed by the appends of {}, in an order no get has observed",
            appends.join(", ")
        )
    }

    fn decode_input(&self, f: &str, key: Option<&str>, value: &Value) -> Result<KvInput, String> {
        let Some(key) = key else {
            return Err(format!(
                "the kv model needs a `key` on every line ({f} has none)"
            ));
        };
        let op = match f {
            "get" => match value {
                Value::Null => KvOp::Get,
                other => {
                    return Err(format!(
                        "a get's invoke value must be null, found {}",
                        json_type_name(other)
                    ));
                }
            },
            "put" => KvOp::Put(text(value, "a put's invoke value")?),
            "append" => KvOp::Append(text(value, "an append's invoke value")?),
            other => {
                return Err(format!(
                    "unknown f {other:?} for this model (known: get, put, append)"
                ));
            }
        };
        Ok(KvInput {
            key: key.to_owned(),
            op,
        })
    }

    fn decode_output(&self, input: &KvInput, value: &Value) -> Result<KvOutput, String> {
        match input.op {
            KvOp::Get => Ok(KvOutput::Get(text(value, "a get's result")?)),
            KvOp::Put(_) | KvOp::Append(_) => Ok(KvOutput::Done),
        }
    }
}

fn text(value: &Value, what: &str) -> Result<Text, String> {
    match value {
        Value::String(text) => Ok(Text::new(text)),
        other => Err(format!(
            "{what} must be a string, found {}",
            json_type_name(other)
        )),
    }
}

/// The state after a get that returned `read`, if some order of the unordered appends
/// makes the value `read`.
fn observe(state: &KvState, read: &Text) -> Option<KvState> {
    if state.unordered.is_empty() {
        return (state.fixed == *read).then(|| KvState::fixed(read.clone()));
    }
    let rest = read.as_str().strip_prefix(state.fixed.as_str())?;
    let order = Matcher::new(rest, &state.unordered).run()?;
    let calls: Arc<[usize]> = order
        .iter()
        .map(|index| state.unordered[*index].span.call)
        .collect();
    Some(KvState {
        fixed: read.clone(),
        unordered: Vec::new(),
        reordered: Some(calls),
    })
}

/// Finds an order of appends that spells a string and respects real time, by a depth-first
/// search over which append comes next. Sets of appends already placed that led nowhere are
/// remembered (the position in the string follows from the set), and of several candidates
/// with the same value only the one that completed first is tried: the others are
/// interchangeable with it, and taking it first never blocks a later one.
struct Matcher<'a> {
    rest: &'a str,
    appends: &'a [Unordered],
    chosen: Vec<u64>,
    order: Vec<usize>,
    position: usize,
    /// Per depth, the candidates not tried yet.
    frames: Vec<Vec<usize>>,
    failed: BTreeSet<Vec<u64>>,
}

impl<'a> Matcher<'a> {
    fn new(rest: &'a str, appends: &'a [Unordered]) -> Matcher<'a> {
        Matcher {
            rest,
            appends,
            chosen: vec![0; appends.len().div_ceil(64)],
            order: Vec::with_capacity(appends.len()),
            position: 0,
            frames: Vec::new(),
            failed: BTreeSet::new(),
        }
    }

    /// Indices into `appends`, in an order that spells `rest`, or `None`.
    fn run(mut self) -> Option<Vec<usize>> {
        let total: usize = self
            .appends
            .iter()
            .map(|append| append.value.as_str().len())
            .sum();
        if total != self.rest.len() {
            return None;
        }
        self.frames.push(self.candidates());
        loop {
            if self.order.len() == self.appends.len() {
                return Some(self.order);
            }
            let frame = self.frames.last_mut()?;
            if let Some(index) = frame.pop() {
                self.toggle(index);
                self.order.push(index);
                self.position += self.appends[index].value.as_str().len();
                if self.failed.contains(&self.chosen) {
                    self.undo();
                } else {
                    self.frames.push(self.candidates());
                }
            } else {
                self.frames.pop();
                if self.order.is_empty() {
                    return None;
                }
                self.failed.insert(self.chosen.clone());
                self.undo();
            }
        }
    }

    fn toggle(&mut self, index: usize) {
        self.chosen[index / 64] ^= 1 << (index % 64);
    }

    fn is_chosen(&self, index: usize) -> bool {
        self.chosen[index / 64] & (1 << (index % 64)) != 0
    }

    fn undo(&mut self) {
        let index = self.order.pop().expect("an append to take back");
        self.toggle(index);
        self.position -= self.appends[index].value.as_str().len();
    }

    /// The appends that may come next, the preferred one last.
    fn candidates(&self) -> Vec<usize> {
        let rest = &self.rest[self.position..];
        // An append may come next if no other append left completed before its invocation:
        // compare with the earliest completion among the others.
        let mut earliest: [Option<(usize, usize)>; 2] = [None, None];
        for (index, append) in self.appends.iter().enumerate() {
            if self.is_chosen(index) {
                continue;
            }
            if let Some(completion) = append.span.completion {
                if earliest[0].is_none_or(|(first, _)| completion < first) {
                    earliest[1] = earliest[0];
                    earliest[0] = Some((completion, index));
                } else if earliest[1].is_none_or(|(second, _)| completion < second) {
                    earliest[1] = Some((completion, index));
                }
            }
        }
        let mut candidates: Vec<usize> = Vec::new();
        for (index, append) in self.appends.iter().enumerate() {
            if self.is_chosen(index) || !rest.starts_with(append.value.as_str()) {
                continue;
            }
            let others = match earliest[0] {
                Some((_, first)) if first == index => earliest[1],
                other => other,
            };
            if others.is_some_and(|(completion, _)| completion < append.span.call) {
                continue;
            }
            let twin = candidates
                .iter()
                .position(|other| self.appends[*other].value == append.value);
            match twin {
                Some(at) if completes_later(&self.appends[candidates[at]], append) => {
                    candidates[at] = index;
                }
                Some(_) => {}
                None => candidates.push(index),
            }
        }
        candidates.reverse();
        candidates
    }
}

/// True if `first` completes after `second` (an unknown completion is the latest).
fn completes_later(first: &Unordered, second: &Unordered) -> bool {
    let key = |append: &Unordered| append.span.completion.unwrap_or(usize::MAX);
    key(first) > key(second)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append(call: usize, completion: Option<usize>, value: &str) -> Unordered {
        Unordered {
            span: Span { call, completion },
            value: Text::new(value),
        }
    }

    fn order(rest: &str, appends: &[Unordered]) -> Option<Vec<usize>> {
        Matcher::new(rest, appends).run()
    }

    // Goal: the matcher finds an order that spells the value exactly when one respects real
    // time. Method: small sets of appends, with and without precedence between them.
    #[test]
    fn orders_appends() {
        let concurrent = [append(0, Some(10), "a"), append(1, Some(11), "b")];
        assert_eq!(order("ab", &concurrent), Some(vec![0, 1]));
        assert_eq!(order("ba", &concurrent), Some(vec![1, 0]));
        assert_eq!(order("a", &concurrent), None);
        assert_eq!(order("abc", &concurrent), None);
        // The first completed before the second was invoked.
        let sequential = [append(0, Some(1), "a"), append(2, Some(3), "b")];
        assert_eq!(order("ab", &sequential), Some(vec![0, 1]));
        assert_eq!(order("ba", &sequential), None);
        // An indeterminate append precedes nothing.
        let pending = [append(0, None, "a"), append(2, Some(3), "b")];
        assert_eq!(order("ba", &pending), Some(vec![1, 0]));
        // Values that are prefixes of one another need backtracking.
        let prefixes = [
            append(0, Some(10), "a"),
            append(1, Some(11), "ab"),
            append(2, Some(12), "b"),
        ];
        assert_eq!(order("abba", &prefixes).map(|o| o.len()), Some(3));
        assert_eq!(order("bbaa", &prefixes), None);
    }

    // Goal: of equal values the one that completed first goes first, so a later append that
    // must follow it still fits. Method: two appends of "x", one completing before "y" was
    // invoked.
    #[test]
    fn equal_values_earliest_first() {
        let appends = [
            append(0, None, "x"),
            append(1, Some(2), "x"),
            append(3, Some(4), "y"),
        ];
        assert_eq!(order("xyx", &appends), Some(vec![1, 2, 0]));
        assert_eq!(order("yxx", &appends), None);
    }

    // Goal: an indeterminate append or put is left out exactly when no get could have seen
    // it. Method: gets that read "pab" and "pa" (a prefix, so only "pab" counts), and
    // updates whose values do and do not occur there.
    #[test]
    fn unobservable_updates() {
        let input = |op: KvOp| KvInput {
            key: "k".to_owned(),
            op,
        };
        let updates = [
            input(KvOp::Append(Text::new("ab"))),
            input(KvOp::Append(Text::new("ba"))),
            input(KvOp::Append(Text::new(""))),
            input(KvOp::Put(Text::new("pa"))),
            input(KvOp::Put(Text::new("a"))),
        ];
        let outputs = [
            KvOutput::Get(Text::new("pa")),
            KvOutput::Done,
            KvOutput::Get(Text::new("pab")),
        ];
        let updates: Vec<&KvInput> = updates.iter().collect();
        let outputs: Vec<&KvOutput> = outputs.iter().collect();
        assert_eq!(
            Kv.unobservable(&updates, &outputs),
            [false, true, false, false, true]
        );
    }
}
