//! The `kv` model: one string per key, initially `""`, with `get`, `put`, `append` and `cas`.
//!
//! `cas` is this crate's extension of `../shared/formats/history.md`, whose `kv` model has
//! only `get`, `put` and `append`. A line `{"f": "cas", "key": K, "value": [from, to]}`, with
//! strings `from` and `to`, completes `ok` with `true` if the key's value was `from` and is
//! now `to`, or `false` if it was not `from` (and nothing changed), exactly as `cas` of the
//! `cas-register` model does for integers: a cas that returns false is an observation, not a
//! non-event, and a failed precondition is written `ok` with `false`, never `fail`. A missing
//! key reads as `""`, so a cas from `""` succeeds on it.
//!
//! The state does not fix the order of concurrent appends. Placing an append in the search
//! only adds it to a set of appends still unordered; the next `get` observes the value and
//! picks an order of that set that spells it and respects real time (an append that
//! completed before another was invoked comes first), or fails if none does; a `put`
//! overwrites them. A history of Jepsen's shape has bursts of a dozen concurrent appends
//! between two gets on one key, and a search over strings tries every order of such a burst
//! as a separate state (13! of them, each a long string in the memo); with the order left
//! open, every order is one state. Text is shared, never copied: a state holds the value
//! last put or observed (a reference to the history's own string) and the unordered
//! appends, so a state costs tens of bytes whatever the length of the value.
//!
//! A `cas` that returns true observes `from` as a get would, then puts `to`. One whose result
//! is unknown does the same if some order spells `from`, and otherwise changes nothing. That
//! leaves out the case where it found another value although some order spells `from`, and
//! loses nothing: a cas that found another value changes nothing, and an indeterminate
//! operation may equally never have taken effect, which the search tries as well.
//!
//! A `cas` that returns false is a negative observation, which reordering appends must not
//! undo: the appends placed before it stay before those placed after it, since moving one
//! across would change the value the cas saw. (Say the key holds `"y"`, an append of `"x"`
//! overlaps a cas from `"y"` that returns false, and an append of `"z"` begins after the cas
//! ended. The cas must follow `"x"`, so no get can read `"yzx"`, though one unordered set
//! `{"x", "z"}` would spell it.) So the unordered appends fall into groups, one after
//! another, with a fence between two groups where failed cas operations were placed, and a
//! get spells each group in turn, each in an order that respects real time. A failed cas
//! also records `from` as excluded when some order spells it at the fence, and a get whose
//! value starts with an excluded value fails (the value at a fence is the prefix of that
//! length). If every order spells `from` or a value excluded before, the cas cannot be placed
//! there at all; the `Avoider` decides that, by looking for an order that keeps every fence
//! clear of its exclusions. With no pending append the cas only compares, and with a single
//! one (and no fence) the value is known, so the append is applied and then compared.
//!
//! Why this is exact: a state stands for exactly the values that the orders of its placed
//! operations give, among orders that respect real time and keep every result. Between two
//! observations (a get, a cas that returned true, a put) the search places only appends and
//! failed cas operations. An append may move anywhere within its group, past other appends
//! only, which changes no result and keeps real time with everything outside the group; it
//! may not cross a fence, which could change what a failed cas saw. Orders that put a failed
//! cas elsewhere among the appends are other placements, which the search tries as other
//! states. The other choices were a step with several successors, which the [`Model`] trait
//! and the search would have to learn, or ordering the appends at every failed cas, which
//! brings back the orders of a burst as separate states; groups cost nothing until a cas
//! fails among unordered appends, and exclusions until it fails on a value some order spells.

use std::collections::BTreeSet;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde_json::Value;

use crate::history::json_type_name;
use crate::memo::fx_hash;
use crate::model::{Model, Span, compact};

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
    /// If the value is `from`, replace it with `to` (an extension of the format; see the
    /// module documentation).
    Cas {
        /// The expected value.
        from: Text,
        /// The new value.
        to: Text,
    },
}

/// The results of `kv` operations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvOutput {
    /// The value a get returned (`""` for a missing key).
    Get(Text),
    /// A put or append completed; its result carries nothing.
    Done,
    /// Whether the cas found `from` (and so replaced the value).
    Cas(bool),
}

/// An append whose place among the other unordered appends is still open.
#[derive(Clone, Debug)]
struct Unordered {
    span: Span,
    value: Text,
}

/// What failed cas operations placed among the unordered appends left behind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct Fences {
    /// The end (an index into `unordered`) of each group of appends but the last, ascending
    /// and distinct: failed cas operations were placed there. The last group may be empty.
    ends: Vec<usize>,
    /// Values the key did not have at a fence: each starts with the fixed value, is as long
    /// as the value at one of the fences, and some order spelled it when it was excluded.
    /// Sorted, without repeats.
    excluded: Vec<Text>,
}

/// The value of one key: fixed up to the last put or observation, then groups of appends,
/// each in an order no get has observed yet.
#[derive(Clone, Debug)]
pub struct KvState {
    fixed: Text,
    /// Group after group (see [`Fences`]), each sorted by invocation, so that equal sets
    /// compare equal.
    unordered: Vec<Unordered>,
    /// Rare, so behind one pointer (a state is 56 bytes): the fences, or the order the step
    /// into this state chose. The two never meet: only an observation orders appends, and it
    /// leaves none unordered.
    extra: Option<Arc<Extra>>,
}

/// What a state holds beyond its value and its unordered appends.
#[derive(Debug)]
enum Extra {
    /// The invocations of the appends that the step into this state ordered, in that order
    /// (see [`Model::reordered`]). Not part of the state's identity.
    Reordered(Box<[usize]>),
    /// Where failed cas operations were placed among the unordered appends; `Extra` is never
    /// this while there is none (one group).
    Fenced(Fences),
}

impl KvState {
    fn fixed(text: Text) -> KvState {
        KvState {
            fixed: text,
            unordered: Vec::new(),
            extra: None,
        }
    }

    /// The fences, if a failed cas was placed among the unordered appends.
    fn fences(&self) -> Option<&Fences> {
        match self.extra.as_deref() {
            Some(Extra::Fenced(fences)) => Some(fences),
            _ => None,
        }
    }

    /// `extra` for a state with the same fences that ordered nothing.
    fn fences_only(&self) -> Option<Arc<Extra>> {
        self.extra
            .clone()
            .filter(|extra| matches!(**extra, Extra::Fenced(_)))
    }

    /// Where each group of unordered appends ends, the last one included.
    fn group_ends(&self) -> impl Iterator<Item = usize> + '_ {
        let fences = self.fences().map_or(&[][..], |fences| &fences.ends);
        fences
            .iter()
            .copied()
            .chain(std::iter::once(self.unordered.len()))
    }

    /// The groups of unordered appends, in order.
    fn groups(&self) -> impl Iterator<Item = &[Unordered]> + '_ {
        let mut start = 0;
        self.group_ends().map(move |end| {
            let group = &self.unordered[start..end];
            start = end;
            group
        })
    }

    /// The values failed cas operations excluded at the fences.
    fn excluded(&self) -> &[Text] {
        self.fences().map_or(&[][..], |fences| &fences.excluded)
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
            && self.fences() == other.fences()
    }
}

impl Eq for KvState {}

impl Hash for KvState {
    fn hash<H: Hasher>(&self, hasher: &mut H) {
        self.fixed.hash(hasher);
        for append in &self.unordered {
            hasher.write_usize(append.span.call);
        }
        if let Some(fences) = self.fences() {
            fences.hash(hasher);
        }
    }
}

/// The `kv` model: one string per key, initially `""`, with `get`, `put`, `append` and `cas`.
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
                fixed: state.fixed.clone(),
                unordered: state.unordered.clone(),
                extra: state.fences_only(),
            }),
            (KvOp::Get, Some(KvOutput::Get(read))) => observe(state, read),
            (KvOp::Put(value), None | Some(KvOutput::Done)) => Some(KvState::fixed(value.clone())),
            (KvOp::Append(suffix), None | Some(KvOutput::Done)) => {
                let mut unordered = Vec::with_capacity(state.unordered.len() + 1);
                unordered.extend_from_slice(&state.unordered);
                // The append joins the last group.
                let start = state
                    .fences()
                    .and_then(|fences| fences.ends.last().copied())
                    .unwrap_or(0);
                let at = start
                    + unordered[start..].partition_point(|append| append.span.call < span.call);
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
                    extra: state.fences_only(),
                })
            }
            (KvOp::Cas { from, to }, Some(KvOutput::Cas(true))) => {
                let observed = observe(state, from)?;
                Some(KvState {
                    fixed: to.clone(),
                    ..observed
                })
            }
            (KvOp::Cas { from, .. }, Some(KvOutput::Cas(false))) => refute(state, from),
            // Exact with one successor: see the module documentation.
            (KvOp::Cas { from, to }, None) => match observe(state, from) {
                Some(observed) => Some(KvState {
                    fixed: to.clone(),
                    ..observed
                }),
                None => Some(KvState {
                    fixed: state.fixed.clone(),
                    unordered: state.unordered.clone(),
                    extra: state.fences_only(),
                }),
            },
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
    ///
    /// A cas breaks that reasoning both ways: leaving out an update can change what a cas
    /// found (make the value equal or unequal to its `from`), and an indeterminate cas may
    /// have taken effect only because of an update no get saw. So in a part with a cas,
    /// nothing is left out; that is always correct, only slower.
    fn unobservable(&self, updates: &[&KvInput], outputs: &[&KvOutput]) -> Vec<bool> {
        let has_cas = updates
            .iter()
            .any(|update| matches!(update.op, KvOp::Cas { .. }))
            || outputs
                .iter()
                .any(|output| matches!(output, KvOutput::Cas(_)));
        if has_cas {
            return vec![false; updates.len()];
        }
        let mut reads: Vec<&str> = outputs
            .iter()
            .filter_map(|output| match output {
                KvOutput::Get(text) => Some(text.as_str()),
                KvOutput::Done | KvOutput::Cas(_) => None,
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
                KvOp::Get | KvOp::Cas { .. } => false,
            })
            .collect()
    }

    fn reordered<'s>(&self, state: &'s KvState) -> &'s [usize] {
        match state.extra.as_deref() {
            Some(Extra::Reordered(order)) => order,
            _ => &[],
        }
    }

    fn heap_bytes(&self, state: &KvState) -> usize {
        // An `Arc` allocation holds two counts besides its contents.
        let counts = 2 * std::mem::size_of::<usize>();
        let extra = match state.extra.as_deref() {
            None => 0,
            Some(Extra::Reordered(order)) => order.len() * std::mem::size_of::<usize>(),
            Some(Extra::Fenced(fences)) => {
                fences.ends.capacity() * std::mem::size_of::<usize>()
                    + fences.excluded.capacity() * std::mem::size_of::<Text>()
            }
        };
        let extra_header = state
            .extra
            .as_ref()
            .map_or(0, |_| counts + std::mem::size_of::<Extra>());
        state.unordered.capacity() * std::mem::size_of::<Unordered>() + extra + extra_header
    }

    fn describe(&self, state: &KvState) -> String {
        let fixed = Value::String(state.fixed.to_string());
        if state.unordered.is_empty() {
            return fixed.to_string();
        }
        let quoted = |text: &Text| Value::String(text.to_string()).to_string();
        if state.fences().is_none() {
            let appends: Vec<String> = state
                .unordered
                .iter()
                .map(|append| quoted(&append.value))
                .collect();
            return format!(
                "{fixed} followed by the appends of {}, in an order no get has observed",
                appends.join(", ")
            );
        }
        let fence_count = state.group_ends().count() - 1;
        let mut steps: Vec<String> = Vec::new();
        for (at, group) in state.groups().enumerate() {
            if !group.is_empty() {
                let appends: Vec<String> =
                    group.iter().map(|append| quoted(&append.value)).collect();
                steps.push(format!("the appends of {}", appends.join(", ")));
            }
            if at < fence_count {
                steps.push("a cas that returned false".to_owned());
            }
        }
        let mut text = format!(
            "{fixed} followed by {} (each group of appends in an order no get has observed)",
            steps.join(", then ")
        );
        let excluded: Vec<String> = state.excluded().iter().map(quoted).collect();
        match excluded.as_slice() {
            [] => {}
            [one] => text.push_str(&format!(
                "; the value at a cas that returned false was not {one}"
            )),
            several => text.push_str(&format!(
                "; the values at the cas operations that returned false were none of {}",
                several.join(", ")
            )),
        }
        text
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
            "cas" => match value {
                Value::Array(pair) if pair.len() == 2 => KvOp::Cas {
                    from: text(&pair[0], "a cas's `from`")?,
                    to: text(&pair[1], "a cas's `to`")?,
                },
                other => {
                    return Err(format!(
                        "a cas's invoke value must be [from, to], found {}",
                        compact(other)
                    ));
                }
            },
            other => {
                return Err(format!(
                    "unknown f {other:?} for this model (known: get, put, append, cas)"
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
            KvOp::Cas { .. } => match value {
                Value::Bool(found) => Ok(KvOutput::Cas(*found)),
                other => Err(format!(
                    "an ok cas must carry true or false, found {}",
                    json_type_name(other)
                )),
            },
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

/// The state after a get that returned `read`, if some order of the unordered appends (group
/// by group) makes the value `read` and no failed cas excluded its prefix.
fn observe(state: &KvState, read: &Text) -> Option<KvState> {
    if state.unordered.is_empty() {
        return (state.fixed == *read).then(|| KvState::fixed(read.clone()));
    }
    let rest = read.as_str().strip_prefix(state.fixed.as_str())?;
    let order = if state.fences().is_none() {
        Matcher::new(rest, &state.unordered).run()?
    } else {
        order_groups(state, read.as_str(), rest)?
    };
    let calls: Box<[usize]> = order
        .iter()
        .map(|index| state.unordered[*index].span.call)
        .collect();
    Some(KvState {
        fixed: read.clone(),
        unordered: Vec::new(),
        extra: Some(Arc::new(Extra::Reordered(calls))),
    })
}

/// For [`observe`] with fences: indices into the unordered appends, in an order that spells
/// `rest` (`read` after the fixed value) group by group, unless a failed cas excluded a
/// prefix of `read`.
// Out of line, as `refute` and `Matcher`'s inlining below: a get without fences then costs
// what it did before cas (measured with the kv benchmark's instruction counts).
#[inline(never)]
fn order_groups(state: &KvState, read: &str, rest: &str) -> Option<Vec<usize>> {
    if state
        .excluded()
        .iter()
        .any(|excluded| read.starts_with(excluded.as_str()))
    {
        return None;
    }
    let mut order = Vec::with_capacity(state.unordered.len());
    let (mut position, mut start) = (0, 0);
    for group in state.groups() {
        let length: usize = group.iter().map(|append| append.value.as_str().len()).sum();
        // Not a character boundary: no order spells `rest`.
        let piece = rest.get(position..position + length)?;
        let group_order = Matcher::new(piece, group).run()?;
        order.extend(group_order.into_iter().map(|index| start + index));
        position += length;
        start += group.len();
    }
    (position == rest.len()).then_some(order)
}

/// The state after a cas from `from` that returned false, if the value can have been other
/// than `from` (see the module documentation).
#[inline(never)]
fn refute(state: &KvState, from: &Text) -> Option<KvState> {
    match state.unordered.as_slice() {
        [] => return (state.fixed != *from).then(|| KvState::fixed(state.fixed.clone())),
        [only] if state.fences().is_none() => {
            let value = Text::new(&format!("{}{}", state.fixed, only.value));
            return (value != *from).then(|| KvState::fixed(value));
        }
        _ => {}
    }
    let mut fences = state.fences().cloned().unwrap_or_default();
    if fences.ends.last() != Some(&state.unordered.len()) {
        fences.ends.push(state.unordered.len());
    }
    // Whether some order spells `from`; if none does, the cas saw another value whatever
    // the order, and only the fence is new.
    let spelled = observe(state, from).is_some();
    if spelled {
        let at = fences
            .excluded
            .partition_point(|excluded| excluded.as_str() < from.as_str());
        fences.excluded.insert(at, from.clone());
    }
    let next = KvState {
        fixed: state.fixed.clone(),
        unordered: state.unordered.clone(),
        extra: Some(Arc::new(Extra::Fenced(fences))),
    };
    if spelled && !Avoider::new(&next).run() {
        return None;
    }
    Some(next)
}

/// Bit `index` of a bitset.
fn is_set(bits: &[u64], index: usize) -> bool {
    bits[index / 64] & (1 << (index % 64)) != 0
}

fn toggle(bits: &mut [u64], index: usize) {
    bits[index / 64] ^= 1 << (index % 64);
}

/// The appends of `appends` that may come next and `fit`, the preferred one last: those not
/// `chosen` yet that no other one left completed before the invocation of. Of several with
/// the same value only the one that completes first is kept: the others are interchangeable
/// with it, and taking it first never blocks a later one.
fn next_appends(
    appends: &[Unordered],
    chosen: impl Fn(usize) -> bool,
    fits: impl Fn(&Unordered) -> bool,
) -> Vec<usize> {
    // An append may come next if no other append left completed before its invocation:
    // compare with the earliest completion among the others.
    let mut earliest: [Option<(usize, usize)>; 2] = [None, None];
    for (index, append) in appends.iter().enumerate() {
        if chosen(index) {
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
    for (index, append) in appends.iter().enumerate() {
        if chosen(index) || !fits(append) {
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
            .position(|other| appends[*other].value == append.value);
        match twin {
            Some(at) if completes_later(&appends[candidates[at]], append) => {
                candidates[at] = index;
            }
            Some(_) => {}
            None => candidates.push(index),
        }
    }
    candidates.reverse();
    candidates
}

/// Finds an order of appends that spells a string and respects real time, by a depth-first
/// search over which append comes next. Sets of appends already placed that led nowhere are
/// remembered (the position in the string follows from the set), and of several candidates
/// with the same value only the one that completed first is tried (see [`next_appends`]).
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
    // Called from two places now; inlined, as when `observe` was its only caller.
    #[inline]
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
    #[inline]
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
                toggle(&mut self.chosen, index);
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

    fn undo(&mut self) {
        let index = self.order.pop().expect("an append to take back");
        toggle(&mut self.chosen, index);
        self.position -= self.appends[index].value.as_str().len();
    }

    /// The appends that may come next, the preferred one last.
    fn candidates(&self) -> Vec<usize> {
        let rest = &self.rest[self.position..];
        next_appends(
            self.appends,
            |index| is_set(&self.chosen, index),
            |append| rest.starts_with(append.value.as_str()),
        )
    }
}

/// Decides whether some order of a state's unordered appends, group by group and respecting
/// real time within each group, gives the key a value at every fence that no failed cas
/// excluded, by a depth-first search over which append comes next.
///
/// An exclusion stays alive while the value spelled so far is a prefix of it; one that is
/// alive when a group ends exactly where it ends is the value there, and that order fails.
/// When none is alive, every way to go on succeeds. Configurations that failed are
/// remembered by the set of appends placed and the set of exclusions alive, which together
/// decide the rest; of several candidates with the same value only one is tried, as in
/// [`Matcher`].
struct Avoider<'a> {
    appends: &'a [Unordered],
    excluded: &'a [Text],
    /// Where each group ends, the last one included.
    ends: Vec<usize>,
    chosen: Vec<u64>,
    order: Vec<usize>,
    /// The length of the value spelled so far, the fixed part included.
    position: usize,
    /// Per depth, the exclusions still alive (one bit each).
    alive: Vec<Vec<u64>>,
    /// Per depth, the candidates not tried yet.
    frames: Vec<Vec<usize>>,
    /// Chosen bits followed by alive bits.
    failed: BTreeSet<Vec<u64>>,
}

impl<'a> Avoider<'a> {
    fn new(state: &'a KvState) -> Avoider<'a> {
        let excluded = state.excluded();
        let mut alive = vec![0; excluded.len().div_ceil(64)];
        for (index, candidate) in excluded.iter().enumerate() {
            if candidate.as_str().starts_with(state.fixed.as_str()) {
                toggle(&mut alive, index);
            }
        }
        Avoider {
            appends: &state.unordered,
            excluded,
            ends: state.group_ends().collect(),
            chosen: vec![0; state.unordered.len().div_ceil(64)],
            order: Vec::with_capacity(state.unordered.len()),
            position: state.fixed.as_str().len(),
            alive: vec![alive],
            frames: Vec::new(),
            failed: BTreeSet::new(),
        }
    }

    /// True if some order avoids every exclusion.
    fn run(mut self) -> bool {
        // The fixed value itself, before the first group.
        let Some(alive) = self.settle(self.alive[0].clone(), self.position) else {
            return false;
        };
        if alive.iter().all(|word| *word == 0) || self.appends.is_empty() {
            return true;
        }
        self.alive[0] = alive;
        self.frames.push(self.candidates());
        loop {
            let Some(frame) = self.frames.last_mut() else {
                return false;
            };
            if let Some(index) = frame.pop() {
                let Some(alive) = self.advance(index) else {
                    continue;
                };
                let last = self.order.len() + 1 == self.appends.len();
                if last || alive.iter().all(|word| *word == 0) {
                    return true;
                }
                toggle(&mut self.chosen, index);
                self.order.push(index);
                self.position += self.appends[index].value.as_str().len();
                self.alive.push(alive);
                if self.failed.contains(&self.key()) {
                    self.undo();
                } else {
                    self.frames.push(self.candidates());
                }
            } else {
                self.frames.pop();
                if self.order.is_empty() {
                    return false;
                }
                let key = self.key();
                self.failed.insert(key);
                self.undo();
            }
        }
    }

    /// The exclusions alive after `index` comes next, or `None` if then the value at a
    /// fence is excluded.
    fn advance(&self, index: usize) -> Option<Vec<u64>> {
        let value = self.appends[index].value.as_str();
        let end = self.position + value.len();
        let mut alive = self.alive.last().expect("an alive set per depth").clone();
        for (at, excluded) in self.excluded.iter().enumerate() {
            if is_set(&alive, at) && excluded.as_str().get(self.position..end) != Some(value) {
                toggle(&mut alive, at);
            }
        }
        if self.ends.contains(&(self.order.len() + 1)) {
            self.settle(alive, end)
        } else {
            Some(alive)
        }
    }

    /// At a fence, where the value is `position` long: `None` if an exclusion alive is that
    /// long (it is the value there), else the alive set without those that end before.
    fn settle(&self, mut alive: Vec<u64>, position: usize) -> Option<Vec<u64>> {
        for (at, excluded) in self.excluded.iter().enumerate() {
            let length = excluded.as_str().len();
            if is_set(&alive, at) && length <= position {
                if length == position {
                    return None;
                }
                toggle(&mut alive, at);
            }
        }
        Some(alive)
    }

    /// What decides the rest of the search: the appends placed and the exclusions alive.
    fn key(&self) -> Vec<u64> {
        let alive = self.alive.last().expect("an alive set per depth");
        let mut key = Vec::with_capacity(self.chosen.len() + alive.len());
        key.extend_from_slice(&self.chosen);
        key.extend_from_slice(alive);
        key
    }

    fn undo(&mut self) {
        let index = self.order.pop().expect("an append to take back");
        toggle(&mut self.chosen, index);
        self.position -= self.appends[index].value.as_str().len();
        self.alive.pop();
    }

    /// The appends of the first group not placed whole that may come next, the preferred one
    /// last.
    fn candidates(&self) -> Vec<usize> {
        let placed = self.order.len();
        let end = self
            .ends
            .iter()
            .copied()
            .find(|end| *end > placed)
            .expect("an append left to place");
        let start = self
            .ends
            .iter()
            .copied()
            .rfind(|end| *end <= placed)
            .unwrap_or(0);
        let mut candidates = next_appends(
            &self.appends[start..end],
            |index| is_set(&self.chosen, start + index),
            |_| true,
        );
        for candidate in &mut candidates {
            *candidate += start;
        }
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

    fn step(
        state: &KvState,
        op: KvOp,
        output: Option<KvOutput>,
        call: usize,
        completion: Option<usize>,
    ) -> Option<KvState> {
        let input = KvInput {
            key: "k".to_owned(),
            op,
        };
        Kv.step_at(state, &input, output.as_ref(), Span { call, completion })
    }

    fn text(value: &str) -> Text {
        Text::new(value)
    }

    fn cas(from: &str, to: &str) -> KvOp {
        KvOp::Cas {
            from: text(from),
            to: text(to),
        }
    }

    fn get(state: &KvState, read: &str) -> Option<KvState> {
        step(
            state,
            KvOp::Get,
            Some(KvOutput::Get(text(read))),
            1000,
            Some(1001),
        )
    }

    fn found(value: bool) -> Option<KvOutput> {
        Some(KvOutput::Cas(value))
    }

    /// `values` appended to `state` in that order, all concurrent: invoked at 100 + i,
    /// completed after every invocation.
    fn concurrent(state: &KvState, values: &[&str]) -> KvState {
        let mut state = state.clone();
        for (at, value) in values.iter().enumerate() {
            let call = 100 + at;
            state = step(
                &state,
                KvOp::Append(text(value)),
                Some(KvOutput::Done),
                call,
                Some(call + 500),
            )
            .expect("an append always fits");
        }
        state
    }

    // Goal: cas on a value no append leaves open behaves as cas-register's does, with a
    // missing key reading as "". Method: each result from the initial state and after a put.
    #[test]
    fn cas_on_a_known_value() {
        let empty = Kv.init();
        let swapped = step(&empty, cas("", "v"), found(true), 0, Some(1)).expect("from \"\"");
        assert_eq!(swapped, KvState::fixed(text("v")));
        assert!(step(&empty, cas("x", "v"), found(true), 0, Some(1)).is_none());
        assert!(step(&empty, cas("", "v"), found(false), 0, Some(1)).is_none());
        assert_eq!(
            step(&empty, cas("x", "v"), found(false), 0, Some(1)),
            Some(empty.clone())
        );
        // Unknown result: swapped if it can have been, else unchanged.
        assert_eq!(step(&empty, cas("", "v"), None, 0, None), Some(swapped));
        assert_eq!(step(&empty, cas("x", "v"), None, 0, None), Some(empty));
        let put = Kv
            .step(
                &Kv.init(),
                &KvInput {
                    key: "k".to_owned(),
                    op: KvOp::Put(text("ab")),
                },
                Some(&KvOutput::Done),
            )
            .expect("a put fits");
        assert!(step(&put, cas("", "v"), found(true), 0, Some(1)).is_none());
        assert!(step(&put, cas("ab", "v"), found(true), 0, Some(1)).is_some());
        assert!(step(&put, cas("ab", "v"), found(false), 0, Some(1)).is_none());
        // The sequential specification agrees.
        let input = KvInput {
            key: "k".to_owned(),
            op: cas("ab", "c"),
        };
        assert_eq!(
            Kv.step(&put, &input, Some(&KvOutput::Cas(true))),
            Some(KvState::fixed(text("c")))
        );
    }

    // Goal: a cas that returned true observes the unordered appends as a get does, then puts,
    // and reports the order it chose. Method: two concurrent appends, cas from each order.
    #[test]
    fn cas_true_orders_appends() {
        let state = concurrent(&Kv.init(), &["a", "b"]);
        let swapped = step(&state, cas("ba", "z"), found(true), 0, Some(900)).expect("ba fits");
        assert_eq!(swapped, KvState::fixed(text("z")));
        assert_eq!(Kv.reordered(&swapped), [101, 100]);
        assert!(step(&state, cas("b", "z"), found(true), 0, Some(900)).is_none());
        assert!(step(&state, cas("", "z"), None, 0, None) == Some(state.clone()));
        assert_eq!(
            step(&state, cas("ab", "z"), None, 0, None),
            Some(KvState::fixed(text("z")))
        );
    }

    // Goal: a false cas among unordered appends that no order spells (the lengths differ)
    // is consistent, and the appends placed after it stay after those placed before.
    // Method: two concurrent appends, a false cas from "abc", a third append, and gets.
    #[test]
    fn cas_false_no_order_spells_from() {
        let before = concurrent(&Kv.init(), &["a", "b"]);
        let fenced = step(&before, cas("abc", "z"), found(false), 0, Some(900)).expect("fits");
        assert_eq!(fenced.excluded(), [] as [Text; 0]);
        let after = step(
            &fenced,
            KvOp::Append(text("c")),
            Some(KvOutput::Done),
            50,
            Some(950),
        )
        .expect("an append fits");
        for (read, fits) in [("abc", true), ("bac", true), ("cab", false), ("acb", false)] {
            assert_eq!(get(&after, read).is_some(), fits, "{read}");
        }
        // Without the cas all of them fit.
        let open = concurrent(&Kv.init(), &["a", "b", "c"]);
        assert!(get(&open, "cab").is_some() && get(&open, "acb").is_some());
        // The order reported is group by group.
        let read = get(&after, "bac").expect("bac fits");
        assert_eq!(Kv.reordered(&read), [101, 100, 50]);
        assert!(
            Kv.describe(&after)
                .contains("then a cas that returned false, then")
        );
    }

    // Goal: a false cas that every order spells cannot be placed there. Method: appends in
    // real-time order, and concurrent appends of one value.
    #[test]
    fn cas_false_every_order_spells_from() {
        let mut sequential = Kv.init();
        for (call, value) in [(0, "a"), (2, "b")] {
            sequential = step(
                &sequential,
                KvOp::Append(text(value)),
                Some(KvOutput::Done),
                call,
                Some(call + 1),
            )
            .expect("an append fits");
        }
        assert!(step(&sequential, cas("ab", "z"), found(false), 4, Some(5)).is_none());
        assert!(step(&sequential, cas("ba", "z"), found(false), 4, Some(5)).is_some());
        let twins = concurrent(&Kv.init(), &["x", "x"]);
        assert!(step(&twins, cas("xx", "z"), found(false), 0, Some(900)).is_none());
        // One pending append (and no fence): the value is known.
        let one = concurrent(&KvState::fixed(text("y")), &["x"]);
        assert!(step(&one, cas("yx", "z"), found(false), 0, Some(900)).is_none());
        assert_eq!(
            step(&one, cas("y", "z"), found(false), 0, Some(900)),
            Some(KvState::fixed(text("yx")))
        );
    }

    // Goal: a false cas that some orders spell and others do not excludes exactly the orders
    // that spell it, for gets and later cas operations. Method: two concurrent appends.
    #[test]
    fn cas_false_some_orders_spell_from() {
        let state = concurrent(&Kv.init(), &["a", "b"]);
        let excluded = step(&state, cas("ab", "z"), found(false), 0, Some(900)).expect("ba");
        assert_eq!(excluded.excluded(), [text("ab")]);
        assert!(get(&excluded, "ab").is_none());
        assert_eq!(
            Kv.reordered(&get(&excluded, "ba").expect("ba fits")),
            [101, 100]
        );
        assert!(step(&excluded, cas("ba", "z"), found(false), 0, Some(900)).is_none());
        assert!(step(&excluded, cas("ab", "z"), found(true), 0, Some(900)).is_none());
        assert!(step(&excluded, cas("ba", "z"), found(true), 0, Some(900)).is_some());
        // A repeated exclusion changes nothing, and an unknown cas can only have failed.
        assert_eq!(
            step(&excluded, cas("ab", "z"), found(false), 0, Some(900)),
            Some(excluded.clone())
        );
        assert_eq!(
            step(&excluded, cas("ab", "z"), None, 0, None),
            Some(excluded.clone())
        );
        assert!(Kv.describe(&excluded).contains("was not \"ab\""));
    }

    // Goal: exclusions at different fences are decided together. Method: two groups of two
    // concurrent appends; the orders are excluded one by one until one is left.
    #[test]
    fn exclusions_across_fences() {
        let first = concurrent(&Kv.init(), &["a", "b"]);
        let fenced = step(&first, cas("q", "z"), found(false), 0, Some(900)).expect("fits");
        let mut state = concurrent(&fenced, &["c", "d"]);
        for from in ["abcd", "abdc", "bacd"] {
            state = step(&state, cas(from, "z"), found(false), 0, Some(900)).expect("one left");
        }
        assert_eq!(state.excluded().len(), 3);
        assert!(get(&state, "badc").is_some());
        assert!(get(&state, "abdc").is_none());
        assert!(step(&state, cas("badc", "z"), found(false), 0, Some(900)).is_none());
        // An exclusion at the first fence cuts every order through it.
        let excluded = step(&first, cas("ab", "z"), found(false), 0, Some(900)).expect("ba");
        let state = concurrent(&excluded, &["c"]);
        assert!(step(&state, cas("bac", "z"), found(false), 0, Some(900)).is_none());
        assert!(step(&state, cas("abc", "z"), found(false), 0, Some(900)).is_some());
    }

    // Goal: a state stays small, since the memo holds millions of them: cas added 0 bytes
    // (an unusual state's extras are behind one pointer). Method: its size on 64-bit targets.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn state_size() {
        assert_eq!(std::mem::size_of::<KvState>(), 56);
    }

    // Goal: an indeterminate append or put is left out exactly when no get could have seen
    // it, and nothing is when a cas is in the part. Method: gets that read "pab" and "pa" (a
    // prefix, so only "pab" counts), updates whose values do and do not occur there; then a
    // cas among the results, and among the updates.
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
        // A cas anywhere in the part may have seen any of them.
        let found = [KvOutput::Get(Text::new("pab")), KvOutput::Cas(false)];
        let found: Vec<&KvOutput> = found.iter().collect();
        assert_eq!(Kv.unobservable(&updates, &found), [false; 5]);
        let cas = input(KvOp::Cas {
            from: Text::new("ba"),
            to: Text::new("c"),
        });
        let with_cas: Vec<&KvInput> = updates.iter().copied().chain([&cas]).collect();
        assert_eq!(Kv.unobservable(&with_cas, &outputs), [false; 6]);
    }
}
