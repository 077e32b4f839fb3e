//! The memo of Lowe's algorithm: a set of (linearized operations, model state) pairs that
//! the search has already explored, so it never explores one twice.
//!
//! std's HashMap is banned in this workspace (its random hasher would make runs differ), and
//! the search wants something tighter anyway: the bitsets live in one flat arena, each entry
//! keeps its full hash, and the table is open addressing with linear probing over a fixed,
//! deterministic hash function.

use std::hash::{Hash, Hasher};

/// FxHash (from rustc): one multiply per word. Not collision-resistant, which is fine for
/// keys that come from a history rather than from an attacker; deterministic across runs and
/// platforms of the same word size.
#[derive(Clone, Copy, Default)]
pub(crate) struct FxHasher {
    hash: u64,
}

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, value: u8) {
        self.add(u64::from(value));
    }

    #[inline]
    fn write_u32(&mut self, value: u32) {
        self.add(u64::from(value));
    }

    #[inline]
    fn write_u64(&mut self, value: u64) {
        self.add(value);
    }

    #[inline]
    fn write_i64(&mut self, value: i64) {
        self.add(value as u64);
    }

    #[inline]
    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// FxHash of one value.
pub(crate) fn fx_hash<T: Hash + ?Sized>(value: &T) -> u64 {
    let mut hasher = FxHasher::default();
    value.hash(&mut hasher);
    hasher.finish()
}

/// splitmix64's finaliser: spreads every input bit over the whole word. Used to derive the
/// per-operation keys of the bitset's incremental hash and to mix the final hash, whose low
/// bits pick the slot.
#[inline]
pub(crate) fn mix64(mut value: u64) -> u64 {
    value = (value ^ (value >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    value ^ (value >> 31)
}

const EMPTY: u32 = u32::MAX;

#[derive(Clone, Copy)]
struct Slot {
    hash: u64,
    entry: u32,
}

/// A compressed key: `ones` whole words of ones, then `len` words from `keys[start..]`, then
/// zeros.
#[derive(Clone, Copy, PartialEq, Eq)]
struct KeySpan {
    ones: u32,
    start: u32,
    len: u32,
}

/// The run of ones and the mixed words of `key`.
fn compress(key: &[u64]) -> (usize, &[u64]) {
    let ones = key.iter().take_while(|word| **word == u64::MAX).count();
    let end = key
        .iter()
        .rposition(|word| *word != 0)
        .map_or(ones, |last| last + 1)
        .max(ones);
    (ones, &key[ones..end])
}

const EMPTY_SLOT: Slot = Slot {
    hash: 0,
    entry: EMPTY,
};

/// `bytes` for a person: `512 MiB`, `1.5 MiB`, `16 KiB`, `100 bytes`.
pub(crate) fn format_bytes(bytes: usize) -> String {
    const MIB: usize = 1 << 20;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= MIB {
        format!("{:.1} MiB", bytes as f64 / MIB as f64)
    } else if bytes >= 1024 {
        format!("{} KiB", bytes.div_ceil(1024))
    } else {
        format!("{bytes} bytes")
    }
}

/// Why the memo cannot record another configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MemoError {
    /// Growing would take it past its byte limit.
    Limit(usize),
    /// The allocator refused the memory.
    Allocation,
    /// Its 32-bit indices are used up.
    Full,
}

impl std::fmt::Display for MemoError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MemoError::Limit(bytes) => write!(
                formatter,
                "the memory limit of {} per key ran out",
                format_bytes(*bytes)
            ),
            MemoError::Allocation => formatter.write_str("the system refused more memory"),
            MemoError::Full => formatter.write_str("the memo reached 2^32 configurations"),
        }
    }
}

/// The explored configurations of the search: for each (set of determinate operations
/// linearized, state), the sets of indeterminate operations linearized along with them.
///
/// Lowe's memo keys on the whole set. Splitting it adds a pruning rule: a configuration is
/// dominated by an explored one with the same determinate set and state but fewer
/// indeterminate operations placed, because those have no deadline and may equally stay
/// unplaced. Without it, every subset of the pending `info` operations of a Jepsen history
/// multiplies the search. Each entry's sets are kept as an antichain: inserting a set
/// unlinks the stored sets it is a subset of.
///
/// A key (the set of determinate operations linearized) is stored compressed: the search
/// linearizes operations roughly in order, so a set is a run of whole words of ones, a few
/// words of mixed bits, and zeros. Only the length of the run and the mixed words are kept,
/// so a configuration of a part with 10,000 operations costs a few words, not 157.
///
/// Memory is accounted before it is taken: every vector grows by `try_reserve` after the
/// new total (including the heap bytes the states own) has been compared with the limit,
/// so a hard history ends the search with [`MemoError`], never with an aborted process.
pub(crate) struct Memo<S> {
    key_words: usize,
    set_words: usize,
    slots: Vec<Slot>,
    states: Vec<S>,
    /// Per entry, where its key's mixed words are in `keys`.
    key_spans: Vec<KeySpan>,
    /// The mixed words of every key.
    keys: Vec<u64>,
    /// Per entry, the first node of its list of sets.
    first_node: Vec<u32>,
    /// Per node, the next node of the same entry.
    next_node: Vec<u32>,
    /// `set_words` words per node.
    sets: Vec<u64>,
    /// Heap bytes owned by the stored states.
    heap_bytes: usize,
    bytes_max: usize,
}

/// Makes room in `vec` for `additional` more items, unless that takes the memo's `bytes`
/// past `bytes_max`.
fn reserve<T>(
    vec: &mut Vec<T>,
    additional: usize,
    bytes: usize,
    bytes_max: usize,
) -> Result<(), MemoError> {
    if vec.capacity() - vec.len() >= additional {
        return Ok(());
    }
    let capacity = (vec.capacity() * 2).max(vec.len() + additional).max(16);
    let growth = (capacity - vec.capacity()).saturating_mul(std::mem::size_of::<T>());
    if bytes.saturating_add(growth) > bytes_max {
        return Err(MemoError::Limit(bytes_max));
    }
    vec.try_reserve_exact(capacity - vec.len())
        .map_err(|_| MemoError::Allocation)
}

impl<S: Eq + Clone> Memo<S> {
    /// An empty memo for keys of `key_words` words and sets of `set_words` words, holding at
    /// most `bytes_max` bytes.
    pub(crate) fn new(key_words: usize, set_words: usize, bytes_max: usize) -> Memo<S> {
        Memo {
            key_words,
            set_words,
            slots: vec![EMPTY_SLOT; 1024],
            states: Vec::new(),
            key_spans: Vec::new(),
            keys: Vec::new(),
            first_node: Vec::new(),
            next_node: Vec::new(),
            sets: Vec::new(),
            heap_bytes: 0,
            bytes_max,
        }
    }

    /// Bytes held by the table, its states (with the heap bytes they own) and its bitsets.
    pub(crate) fn bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.states.capacity() * std::mem::size_of::<S>()
            + self.key_spans.capacity() * std::mem::size_of::<KeySpan>()
            + (self.keys.capacity() + self.sets.capacity()) * std::mem::size_of::<u64>()
            + (self.first_node.capacity() + self.next_node.capacity()) * std::mem::size_of::<u32>()
            + self.heap_bytes
    }

    /// The number of configurations recorded.
    pub(crate) fn len(&self) -> usize {
        self.next_node.len()
    }

    /// Records the configuration (`key`, `state`, `set`) unless an explored one dominates it
    /// (same key and state, a subset of `set`); true if it was recorded, so the search should
    /// explore it. `hash` must be a function of `key` and `state` alone; `heap_bytes` is what
    /// a copy of `state` owns on the heap. The state is only cloned for a new entry.
    pub(crate) fn insert(
        &mut self,
        hash: u64,
        key: &[u64],
        state: &S,
        heap_bytes: usize,
        set: &[u64],
    ) -> Result<bool, MemoError> {
        debug_assert_eq!(key.len(), self.key_words);
        debug_assert_eq!(set.len(), self.set_words);
        let node = u32::try_from(self.next_node.len()).map_err(|_| MemoError::Full)?;
        if node == EMPTY {
            return Err(MemoError::Full);
        }
        let (ones, mixed) = compress(key);
        let mask = self.slots.len() - 1;
        let mut index = (hash as usize) & mask;
        loop {
            let slot = self.slots[index];
            if slot.entry == EMPTY {
                break;
            }
            if slot.hash == hash {
                let entry = slot.entry as usize;
                let span = self.key_spans[entry];
                let start = span.start as usize;
                if span.ones as usize == ones
                    && self.keys[start..start + span.len as usize] == *mixed
                    && self.states[entry] == *state
                {
                    return self.insert_set(entry, node, set);
                }
            }
            index = (index + 1) & mask;
        }
        let entry = u32::try_from(self.states.len()).map_err(|_| MemoError::Full)?;
        let span = KeySpan {
            ones: u32::try_from(ones).map_err(|_| MemoError::Full)?,
            start: u32::try_from(self.keys.len()).map_err(|_| MemoError::Full)?,
            len: u32::try_from(mixed.len()).map_err(|_| MemoError::Full)?,
        };
        self.reserve_entry(heap_bytes, mixed.len())?;
        self.slots[index] = Slot { hash, entry };
        self.states.push(state.clone());
        self.heap_bytes += heap_bytes;
        self.key_spans.push(span);
        self.keys.extend_from_slice(mixed);
        self.first_node.push(node);
        self.next_node.push(EMPTY);
        self.sets.extend_from_slice(set);
        // Keep the load under one half so probe sequences stay short.
        if self.states.len() * 2 > self.slots.len() {
            self.grow()?;
        }
        Ok(true)
    }

    /// Room for one more entry with `key_len` mixed words and its node, within the limit.
    fn reserve_entry(&mut self, heap_bytes: usize, key_len: usize) -> Result<(), MemoError> {
        let limit = self.bytes_max;
        if self.bytes().saturating_add(heap_bytes) > limit {
            return Err(MemoError::Limit(limit));
        }
        let bytes = self.bytes() + heap_bytes;
        reserve(&mut self.states, 1, bytes, limit)?;
        let bytes = self.bytes() + heap_bytes;
        reserve(&mut self.key_spans, 1, bytes, limit)?;
        let bytes = self.bytes() + heap_bytes;
        reserve(&mut self.keys, key_len, bytes, limit)?;
        let bytes = self.bytes() + heap_bytes;
        reserve(&mut self.first_node, 1, bytes, limit)?;
        self.reserve_node(heap_bytes)
    }

    /// Room for one more node (a set of indeterminate operations), within the limit.
    fn reserve_node(&mut self, heap_bytes: usize) -> Result<(), MemoError> {
        let limit = self.bytes_max;
        let bytes = self.bytes() + heap_bytes;
        reserve(&mut self.next_node, 1, bytes, limit)?;
        let bytes = self.bytes() + heap_bytes;
        reserve(&mut self.sets, self.set_words, bytes, limit)
    }

    fn insert_set(&mut self, entry: usize, node: u32, set: &[u64]) -> Result<bool, MemoError> {
        let words = self.set_words;
        let mut previous = EMPTY;
        let mut current = self.first_node[entry];
        while current != EMPTY {
            let start = current as usize * words;
            let stored = &self.sets[start..start + words];
            let following = self.next_node[current as usize];
            if stored
                .iter()
                .zip(set)
                .all(|(stored, new)| stored & !new == 0)
            {
                // An explored configuration placed no more indeterminate operations.
                return Ok(false);
            }
            if stored
                .iter()
                .zip(set)
                .all(|(stored, new)| new & !stored == 0)
            {
                // The new configuration dominates this one: unlink it. The list is an
                // antichain, so no stored set is also a subset of the new one.
                if previous == EMPTY {
                    self.first_node[entry] = following;
                } else {
                    self.next_node[previous as usize] = following;
                }
            } else {
                previous = current;
            }
            current = following;
        }
        self.reserve_node(0)?;
        self.next_node.push(self.first_node[entry]);
        self.first_node[entry] = node;
        self.sets.extend_from_slice(set);
        Ok(true)
    }

    fn grow(&mut self) -> Result<(), MemoError> {
        let capacity = self.slots.len() * 2;
        let growth = capacity * std::mem::size_of::<Slot>();
        if self.bytes().saturating_add(growth) > self.bytes_max {
            return Err(MemoError::Limit(self.bytes_max));
        }
        let mut slots: Vec<Slot> = Vec::new();
        slots
            .try_reserve_exact(capacity)
            .map_err(|_| MemoError::Allocation)?;
        slots.resize(capacity, EMPTY_SLOT);
        let mask = capacity - 1;
        for slot in self.slots.iter().filter(|slot| slot.entry != EMPTY) {
            let mut index = (slot.hash as usize) & mask;
            while slots[index].entry != EMPTY {
                index = (index + 1) & mask;
            }
            slots[index] = *slot;
        }
        self.slots = slots;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: the memo answers "explore" exactly once per distinct configuration, also across
    // growth and for keys that share a hash. Method: insert a grid of keys and states twice
    // with a deliberately poor hash that collides often.
    #[test]
    fn records_each_configuration_once() {
        let mut memo: Memo<u32> = Memo::new(2, 1, usize::MAX);
        for round in 0..2 {
            for word in 0..50u64 {
                for state in 0..50u32 {
                    let key = [word, word * 3];
                    let hash = word % 7;
                    let new = memo.insert(hash, &key, &state, 0, &[0]).unwrap();
                    assert_eq!(new, round == 0, "word {word} state {state} round {round}");
                }
            }
        }
        assert_eq!(memo.len(), 2500);
    }

    // Goal: a configuration is pruned exactly when one with the same key and state and a
    // subset of its indeterminate operations was explored. Method: a table of inserts into
    // one entry, each with the answer expected given the ones before.
    #[test]
    fn prunes_dominated_sets() {
        let mut memo: Memo<u32> = Memo::new(1, 1, usize::MAX);
        let cases: [(u64, bool); 7] = [
            (0b0110, true),
            (0b0110, false), // the same set again
            (0b1110, false), // a superset of an explored set
            (0b0011, true),  // incomparable
            (0b0010, true),  // dominates both stored sets and replaces them
            (0b0110, false), // a superset of the new one
            (0b0001, true),  // incomparable again
        ];
        for (set, expect) in cases {
            let recorded = memo.insert(42, &[7], &1, 0, &[set]).unwrap();
            assert_eq!(recorded, expect, "set {set:#06b}");
        }
        // A different state is a different configuration.
        assert!(memo.insert(42, &[7], &2, 0, &[0b1111]).unwrap());
    }

    // Goal: the memo stops at its byte limit with an error instead of growing past it, and
    // what it holds never exceeds the limit. Method: insert distinct configurations under a
    // limit of 64 KiB until it refuses, counting heap bytes for each state.
    #[test]
    fn stops_at_its_limit() {
        let limit = 64 << 10;
        let mut memo: Memo<u64> = Memo::new(1, 1, limit);
        let mut refused = None;
        for value in 0..100_000u64 {
            match memo.insert(mix64(value), &[value], &value, 8, &[0]) {
                Ok(recorded) => assert!(recorded),
                Err(error) => {
                    refused = Some(error);
                    break;
                }
            }
            assert!(memo.bytes() <= limit, "{} bytes", memo.bytes());
        }
        assert_eq!(refused, Some(MemoError::Limit(limit)));
        assert!(memo.len() > 100, "only {} configurations", memo.len());
    }

    // Goal: compressed keys stay distinct and equal keys stay equal, whatever their runs of
    // ones and zeros, and a long key that is mostly a run costs a few words. Method: every
    // key of four words drawn from {0, ones, 5}, inserted twice; then 10,000 keys of 157
    // words with a growing run of ones.
    #[test]
    fn compressed_keys() {
        let words = [0, u64::MAX, 5];
        let mut memo: Memo<u8> = Memo::new(4, 1, usize::MAX);
        for round in 0..2 {
            for code in 0..81usize {
                let key: Vec<u64> = (0..4).map(|at| words[code / 3usize.pow(at) % 3]).collect();
                let new = memo.insert(0, &key, &0, 0, &[0]).unwrap();
                assert_eq!(new, round == 0, "{key:x?} round {round}");
            }
        }
        let mut long: Memo<u8> = Memo::new(157, 1, usize::MAX);
        for ones in 0..10_000usize {
            let mut key = vec![0u64; 157];
            for bit in 0..ones {
                key[bit / 64] |= 1 << (bit % 64);
            }
            assert!(long.insert(mix64(ones as u64), &key, &0, 0, &[0]).unwrap());
        }
        let per_entry = long.bytes() / long.len();
        // Uncompressed, a key alone would take 1,256 bytes.
        assert!(per_entry < 200, "{per_entry} bytes per configuration");
    }
}
