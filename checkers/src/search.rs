//! The search over one part: Wing & Gong's depth-first search with Lowe's memoisation.
//!
//! The search walks a doubly linked list of call and return entries in real-time order. At a
//! call entry it tries to linearize that operation next (apply it to the model state); at a
//! return entry it has found an operation that had to be placed already, so it undoes the
//! last choice. The memo of (set of linearized operations, state) prunes every
//! configuration that has been explored before. Indeterminate operations get a return entry
//! after every real event: they may be linearized anywhere after their call, and reaching
//! their return entries means every determinate operation is placed, so the rest never took
//! effect.

use crate::linearizability::deadline::Deadline;
use crate::memo::{Memo, MemoError, format_bytes, fx_hash, mix64};
use crate::model::{Model, Span};
use crate::report::{Failure, Verdict};

/// An operation as the search sees it.
pub(crate) struct SearchOperation<'a, M: Model> {
    /// The operation's id in the report.
    pub(crate) id: usize,
    pub(crate) input: &'a M::Input,
    /// `None` when the result is unknown.
    pub(crate) output: Option<&'a M::Output>,
    /// `completion` is `None` for an indeterminate operation: it returns after everything.
    pub(crate) span: Span,
}

/// What the search of one part found.
pub(crate) struct SearchOutcome {
    pub(crate) verdict: Verdict,
    /// Report ids: the linearization, or the longest prefix for a failure.
    pub(crate) linearization: Vec<usize>,
    pub(crate) failure: Option<Failure>,
    pub(crate) states_explored: usize,
    /// For an unknown verdict: which limit ran out and what had been explored.
    pub(crate) unknown_reason: Option<String>,
}

/// How many search steps pass between looks at the clock; reading it every step would cost
/// more than the step.
const STEPS_PER_CLOCK_READ: u32 = 1 << 10;

/// Searches one part. `operations` lists the determinate ones first.
pub(crate) fn search<M: Model>(
    model: &M,
    operations: &[SearchOperation<'_, M>],
    deadline: &Deadline,
    memory_bytes_max: Option<usize>,
) -> SearchOutcome {
    Search::new(model, operations, deadline, memory_bytes_max).run()
}

/// The call and return entries in real-time order, as a doubly linked list from which
/// linearized operations are lifted (dancing links). Entry 0 is the head sentinel and the
/// last one the tail sentinel.
struct Entries {
    next: Vec<usize>,
    previous: Vec<usize>,
    operation: Vec<usize>,
    is_call: Vec<bool>,
    /// The return entry of an indeterminate operation, after every real event.
    is_final: Vec<bool>,
    call_entry: Vec<usize>,
    return_entry: Vec<usize>,
    tail: usize,
}

impl Entries {
    fn new(spans: &[Span]) -> Entries {
        let mut order: Vec<(usize, bool, usize)> = Vec::with_capacity(2 * spans.len());
        for (index, span) in spans.iter().enumerate() {
            order.push((span.call, true, index));
            order.push((span.completion.unwrap_or(usize::MAX), false, index));
        }
        // Positions are distinct events, except the shared "after everything" of
        // indeterminate returns, whose relative order does not matter; the index breaks
        // that tie.
        order.sort_unstable();
        let count = order.len();
        let mut entries = Entries {
            next: (1..=count + 2).collect(),
            previous: (0..count + 2).map(|entry| entry.wrapping_sub(1)).collect(),
            operation: vec![0; count + 2],
            is_call: vec![false; count + 2],
            is_final: vec![false; count + 2],
            call_entry: vec![0; spans.len()],
            return_entry: vec![0; spans.len()],
            tail: count + 1,
        };
        entries.next[count + 1] = count + 1;
        entries.previous[0] = 0;
        for (rank, (position, is_call, index)) in order.into_iter().enumerate() {
            let entry = rank + 1;
            entries.operation[entry] = index;
            entries.is_call[entry] = is_call;
            entries.is_final[entry] = !is_call && position == usize::MAX;
            if is_call {
                entries.call_entry[index] = entry;
            } else {
                entries.return_entry[index] = entry;
            }
        }
        entries
    }

    fn first(&self) -> usize {
        self.next[0]
    }

    /// Takes the operation's call and return out of the list.
    fn lift(&mut self, index: usize) {
        for entry in [self.call_entry[index], self.return_entry[index]] {
            self.next[self.previous[entry]] = self.next[entry];
            self.previous[self.next[entry]] = self.previous[entry];
        }
    }

    /// Puts them back, in the reverse order of lifting.
    fn unlift(&mut self, index: usize) {
        for entry in [self.return_entry[index], self.call_entry[index]] {
            self.next[self.previous[entry]] = entry;
            self.previous[self.next[entry]] = entry;
        }
    }
}

/// The sweeps over a configuration's candidates, in the order they are tried: reads first,
/// since a read that fits is placed for good (see `Search::try_place`); then the other
/// determinate operations; then indeterminate ones, only when nothing else fits, which
/// explores configurations with fewer of them first, and those dominate the rest (see
/// `Memo`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sweep {
    Reads,
    Determinate,
    Indeterminate,
}

impl Sweep {
    fn following(self) -> Option<Sweep> {
        match self {
            Sweep::Reads => Some(Sweep::Determinate),
            Sweep::Determinate => Some(Sweep::Indeterminate),
            Sweep::Indeterminate => None,
        }
    }
}

/// What `Search::try_place` did.
enum Placement {
    Placed,
    /// The model refused it, or the configuration was explored already.
    Refused,
    /// A read that changes nothing led to an explored configuration: this one fails too.
    DeadEnd,
}

/// A linearized operation on the stack.
struct Placed<S> {
    index: usize,
    /// The state before it.
    before: S,
    /// A read placed for good: undoing it undoes the configuration before it too.
    committed: bool,
}

struct Search<'a, M: Model> {
    model: &'a M,
    operations: &'a [SearchOperation<'a, M>],
    determinate_count: usize,
    entries: Entries,
    /// Zobrist keys: the hash of the determinate set is the xor of a fixed key per member,
    /// so adding or removing an operation updates it in one step. Indeterminate operations
    /// are not part of the memo's key (see `Memo`).
    keys: Vec<u64>,
    memo: Memo<M::State>,
    determinate_bits: Vec<u64>,
    indeterminate_bits: Vec<u64>,
    bits_hash: u64,
    state: M::State,
    /// Which sweep tries each operation.
    sweeps: Vec<Sweep>,
    stack: Vec<Placed<M::State>>,
    longest: Option<(Vec<usize>, Failure)>,
    deepest: usize,
    deadline: &'a Deadline,
    steps_until_clock: u32,
}

impl<'a, M: Model> Search<'a, M> {
    fn new(
        model: &'a M,
        operations: &'a [SearchOperation<'a, M>],
        deadline: &'a Deadline,
        memory_bytes_max: Option<usize>,
    ) -> Search<'a, M> {
        let determinate_count = operations
            .iter()
            .take_while(|operation| operation.span.completion.is_some())
            .count();
        assert!(
            operations[determinate_count..]
                .iter()
                .all(|operation| operation.span.completion.is_none()),
            "determinate operations come first"
        );
        let spans: Vec<Span> = operations.iter().map(|operation| operation.span).collect();
        let sweeps = operations
            .iter()
            .enumerate()
            .map(|(index, operation)| {
                if index >= determinate_count {
                    Sweep::Indeterminate
                } else if model.is_read_only(operation.input) {
                    Sweep::Reads
                } else {
                    Sweep::Determinate
                }
            })
            .collect();
        let keys = (0..operations.len())
            .map(|index| {
                if index < determinate_count {
                    mix64((index as u64).wrapping_add(0x9e37_79b9_7f4a_7c15))
                } else {
                    0
                }
            })
            .collect();
        let determinate_words = determinate_count.div_ceil(64).max(1);
        let indeterminate_words = (operations.len() - determinate_count).div_ceil(64).max(1);
        Search {
            model,
            operations,
            determinate_count,
            entries: Entries::new(&spans),
            keys,
            memo: Memo::new(
                determinate_words,
                indeterminate_words,
                memory_bytes_max.unwrap_or(usize::MAX),
            ),
            determinate_bits: vec![0; determinate_words],
            indeterminate_bits: vec![0; indeterminate_words],
            bits_hash: 0,
            state: model.init(),
            sweeps,
            stack: Vec::with_capacity(operations.len()),
            longest: None,
            deepest: 0,
            deadline,
            // The first look comes at once: a history of many small parts may never reach
            // a count of steps within one part.
            steps_until_clock: 1,
        }
    }

    /// The candidates of a configuration are the operations whose call entries come before
    /// the first return entry. They are tried in three sweeps (see [`Sweep`]); after a
    /// placement the search starts again with the first.
    fn run(mut self) -> SearchOutcome {
        // The initial configuration counts as explored, so that an indeterminate operation
        // that changes nothing from it is pruned like any other dominated configuration.
        let hash = mix64(self.bits_hash ^ fx_hash(&self.state).rotate_left(17));
        let heap_bytes = self.model.heap_bytes(&self.state);
        if let Err(error) = self.memo.insert(
            hash,
            &self.determinate_bits,
            &self.state,
            heap_bytes,
            &self.indeterminate_bits,
        ) {
            return self.unknown(&error.to_string());
        }
        let mut entry = self.entries.first();
        let mut sweep = Sweep::Reads;
        loop {
            if self.clock_ran_out() {
                return self.unknown("the time limit ran out");
            }
            if entry == self.entries.tail || self.entries.is_final[entry] {
                // Every determinate operation is placed (its return entry would come first
                // otherwise); indeterminate ones still in the list never took effect.
                return self.linearizable();
            }
            let index = self.entries.operation[entry];
            let dead_end = if !self.entries.is_call[entry] {
                // A return entry: this operation had to be linearized before anything later.
                if let Some(following) = sweep.following() {
                    sweep = following;
                    entry = self.entries.first();
                    continue;
                }
                self.record_failure(entry, index);
                true
            } else if self.sweeps[index] != sweep {
                entry = self.entries.next[entry];
                continue;
            } else {
                match self.try_place(index) {
                    Err(error) => return self.unknown(&error.to_string()),
                    Ok(Placement::Placed) => {
                        entry = self.entries.first();
                        sweep = Sweep::Reads;
                        continue;
                    }
                    Ok(Placement::Refused) => {
                        entry = self.entries.next[entry];
                        continue;
                    }
                    Ok(Placement::DeadEnd) => true,
                }
            };
            debug_assert!(dead_end);
            let Some(undone) = self.backtrack() else {
                return self.not_linearizable();
            };
            // Resume the sweep that placed it, after it.
            entry = self.entries.next[self.entries.call_entry[undone]];
            sweep = self.sweeps[undone];
        }
    }

    fn is_determinate(&self, index: usize) -> bool {
        index < self.determinate_count
    }

    fn clock_ran_out(&mut self) -> bool {
        self.steps_until_clock -= 1;
        if self.steps_until_clock > 0 {
            return false;
        }
        self.steps_until_clock = STEPS_PER_CLOCK_READ;
        self.deadline.passed()
    }

    /// Sets or clears the operation's bit.
    fn flip(&mut self, index: usize) {
        let (bits, offset) = if self.is_determinate(index) {
            (&mut self.determinate_bits, index)
        } else {
            (&mut self.indeterminate_bits, index - self.determinate_count)
        };
        bits[offset / 64] ^= 1 << (offset % 64);
    }

    /// Linearizes operation `index` next if the model allows it and the configuration is
    /// new.
    ///
    /// A read that leaves the state as it was is placed for good: whatever completion the
    /// configuration has, the read can move to its front (it changes nothing, and every
    /// operation that returned before it was invoked is placed already). So the other
    /// candidates need no try, and if the configuration with the read was explored before,
    /// this one is a dead end.
    fn try_place(&mut self, index: usize) -> Result<Placement, MemoError> {
        let operation = &self.operations[index];
        let Some(state) = self.model.step_at(
            &self.state,
            operation.input,
            operation.output,
            operation.span,
        ) else {
            return Ok(Placement::Refused);
        };
        let committed = self.sweeps[index] == Sweep::Reads && state == self.state;
        self.flip(index);
        let bits_hash = self.bits_hash ^ self.keys[index];
        let hash = mix64(bits_hash ^ fx_hash(&state).rotate_left(17));
        let heap_bytes = self.model.heap_bytes(&state);
        let inserted = self.memo.insert(
            hash,
            &self.determinate_bits,
            &state,
            heap_bytes,
            &self.indeterminate_bits,
        );
        match inserted {
            Ok(true) => {}
            Ok(false) => {
                self.flip(index);
                return Ok(if committed {
                    Placement::DeadEnd
                } else {
                    Placement::Refused
                });
            }
            Err(error) => {
                self.flip(index);
                return Err(error);
            }
        }
        self.bits_hash = bits_hash;
        let before = std::mem::replace(&mut self.state, state);
        self.stack.push(Placed {
            index,
            before,
            committed,
        });
        self.deepest = self.deepest.max(self.stack.len());
        self.entries.lift(index);
        Ok(Placement::Placed)
    }

    /// Undoes linearized operations up to and including the last one that was a choice, and
    /// returns that one; `None` if there is none.
    fn backtrack(&mut self) -> Option<usize> {
        loop {
            let placed = self.stack.pop()?;
            self.state = placed.before;
            self.flip(placed.index);
            self.bits_hash ^= self.keys[placed.index];
            self.entries.unlift(placed.index);
            if !placed.committed {
                return Some(placed.index);
            }
        }
    }

    /// At the return entry `entry` of operation `index`, which nothing placed: keeps the
    /// longest linearization that got stuck so, for the explanation.
    fn record_failure(&mut self, entry: usize, index: usize) {
        if self
            .longest
            .as_ref()
            .is_some_and(|(prefix, _)| self.stack.len() <= prefix.len())
        {
            return;
        }
        let mut candidates = Vec::new();
        let mut scan = self.entries.first();
        while scan != entry {
            if self.entries.is_call[scan] && self.entries.operation[scan] != index {
                candidates.push(self.operations[self.entries.operation[scan]].id);
            }
            scan = self.entries.next[scan];
        }
        let failure = Failure {
            blocked: self.operations[index].id,
            candidates,
            state: self.model.describe(&self.state),
        };
        self.longest = Some((self.linearization(), failure));
    }

    /// The operations on the stack as report ids, in an order that holds: where the model
    /// chose the order of earlier operations in a later step (see [`Model::reordered`]),
    /// those take the places they had, in the chosen order.
    fn linearization(&self) -> Vec<usize> {
        let mut order: Vec<usize> = self.stack.iter().map(|placed| placed.index).collect();
        let mut slot_of = vec![usize::MAX; self.operations.len()];
        for (slot, index) in order.iter().enumerate() {
            slot_of[*index] = slot;
        }
        let mut by_call: Vec<(usize, usize)> = order
            .iter()
            .map(|index| (self.operations[*index].span.call, *index))
            .collect();
        by_call.sort_unstable();
        for step in 0..self.stack.len() {
            let after = match self.stack.get(step + 1) {
                Some(next) => &next.before,
                None => &self.state,
            };
            let calls = self.model.reordered(after);
            if calls.is_empty() {
                continue;
            }
            let indices: Vec<usize> = calls
                .iter()
                .filter_map(|call| {
                    let at = by_call.binary_search_by_key(call, |(call, _)| *call).ok()?;
                    Some(by_call[at].1)
                })
                .collect();
            let mut slots: Vec<usize> = indices.iter().map(|index| slot_of[*index]).collect();
            slots.sort_unstable();
            for (slot, index) in slots.into_iter().zip(indices) {
                order[slot] = index;
                slot_of[index] = slot;
            }
        }
        order
            .into_iter()
            .map(|index| self.operations[index].id)
            .collect()
    }

    fn linearizable(&self) -> SearchOutcome {
        let placed = self
            .stack
            .iter()
            .filter(|placed| self.is_determinate(placed.index))
            .count();
        assert_eq!(
            placed, self.determinate_count,
            "a linearization must place every determinate operation"
        );
        SearchOutcome {
            verdict: Verdict::Linearizable,
            linearization: self.linearization(),
            failure: None,
            states_explored: self.memo.len(),
            unknown_reason: None,
        }
    }

    fn not_linearizable(mut self) -> SearchOutcome {
        let states_explored = self.memo.len();
        if self.longest.is_none() {
            // Every branch ended at a committed read, none at a return entry: explain with
            // the first return entry of the empty configuration.
            let mut entry = self.entries.first();
            while self.entries.is_call[entry] {
                entry = self.entries.next[entry];
            }
            self.record_failure(entry, self.entries.operation[entry]);
        }
        let (linearization, failure) = self.longest.expect("a failure was just recorded");
        SearchOutcome {
            verdict: Verdict::NotLinearizable,
            linearization,
            failure: Some(failure),
            states_explored,
            unknown_reason: None,
        }
    }

    fn unknown(&self, reason: &str) -> SearchOutcome {
        SearchOutcome {
            verdict: Verdict::Unknown,
            linearization: Vec::new(),
            failure: None,
            states_explored: self.memo.len(),
            unknown_reason: Some(format!(
                "{reason} after {} configurations ({} of memo); the longest linearizable \
                 prefix found places {} of {} operations",
                self.memo.len(),
                format_bytes(self.memo.bytes()),
                self.deepest,
                self.operations.len()
            )),
        }
    }
}
