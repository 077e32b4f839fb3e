//! Synthetic histories that are linearizable by construction, for property tests and the
//! benchmark.
//!
//! Clients are simulated one step at a time in a random order: a client invokes an operation,
//! later the operation takes effect on a single sequential copy of the state (its
//! linearization point), later still the client sees the completion. Other clients' steps
//! fall in between, so operations overlap, yet the order in which they took effect is a
//! legal linearization. Indeterminate operations take effect or not, then complete `info` or
//! never.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::BuiltinModel;
use crate::history::{Event, EventKind, History};

/// splitmix64: a tiny generator, so a history is a pure function of its seed and this code.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose stream is fixed by `seed`.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        crate::memo::mix64(self.state)
    }

    /// A number in `0..bound` (`bound` > 0). The slight bias of the modulo does not matter
    /// for generating test histories.
    pub fn below(&mut self, bound: u64) -> u64 {
        assert!(bound > 0, "empty range");
        self.next_u64() % bound
    }

    /// True with probability `per_mille` / 1000.
    pub fn chance(&mut self, per_mille: u32) -> bool {
        self.below(1000) < u64::from(per_mille)
    }
}

/// The shape of a generated history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Workload {
    /// Invocations in total.
    pub operation_count: usize,
    /// Clients, each with at most one operation outstanding.
    pub process_count: u64,
    /// Keys; with a register model, 1 means no `key` field at all.
    pub key_count: usize,
    /// Register values are drawn from `0..value_count`; few values make orders ambiguous.
    pub value_count: i64,
    /// Chance, in thousandths, that an operation is indeterminate.
    pub indeterminate_per_mille: u32,
}

impl Workload {
    /// The benchmark's history: 10,000 operations by 10 processes over 100 keys.
    pub fn kv_benchmark() -> Workload {
        Workload {
            operation_count: 10_000,
            process_count: 10,
            key_count: 100,
            value_count: 5,
            indeterminate_per_mille: 0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Ok,
    InfoApplied,
    InfoNotApplied,
    PendingApplied,
    PendingNotApplied,
}

impl Fate {
    fn applies(self) -> bool {
        matches!(self, Fate::Ok | Fate::InfoApplied | Fate::PendingApplied)
    }
}

enum Client {
    Idle,
    Invoked {
        event: Event,
        fate: Fate,
    },
    TookEffect {
        event: Event,
        fate: Fate,
        result: Value,
    },
    /// Its last operation never completes, so it can invoke nothing more.
    Stuck,
}

/// A linearizable history of `workload` for `model`, a pure function of `seed`.
pub fn generate(model: BuiltinModel, workload: &Workload, seed: u64) -> History {
    assert!(workload.process_count > 0, "a history needs a process");
    assert!(workload.key_count > 0, "a history needs a key");
    assert!(workload.value_count > 0, "registers need values to write");
    let initial = match model {
        BuiltinModel::Kv => json!(""),
        BuiltinModel::Register | BuiltinModel::CasRegister => Value::Null,
    };
    let clients = Clients {
        operation_count: workload.operation_count,
        process_count: workload.process_count,
        indeterminate_per_mille: workload.indeterminate_per_mille,
        initial,
    };
    let mut rng = SplitMix64::new(seed);
    clients.run(&mut rng, |rng, process, unique, _| {
        invent(model, workload, rng, process, unique)
    })
}

/// The clients of a generated history and how their operations end.
struct Clients {
    operation_count: usize,
    process_count: u64,
    indeterminate_per_mille: u32,
    /// The value of every key before the first operation.
    initial: Value,
}

impl Clients {
    /// Runs the clients to the end; `invent(rng, process, unique, values)` makes each
    /// invocation, `values` being each key's value at that moment (keys never written are
    /// missing).
    fn run(
        &self,
        rng: &mut SplitMix64,
        mut invent: impl FnMut(&mut SplitMix64, u64, u64, &BTreeMap<Option<String>, Value>) -> Event,
    ) -> History {
        assert!(self.process_count > 0, "a history needs a process");
        let mut history = History::new();
        let mut clients: Vec<Client> = (0..self.process_count).map(|_| Client::Idle).collect();
        // The sequential truth: each key's current value.
        let mut values: BTreeMap<Option<String>, Value> = BTreeMap::new();
        let mut invoked_count = 0usize;
        loop {
            let busy = clients
                .iter()
                .any(|client| matches!(client, Client::Invoked { .. } | Client::TookEffect { .. }));
            let can_invoke = invoked_count < self.operation_count
                && clients.iter().any(|client| matches!(client, Client::Idle));
            if !busy && !can_invoke {
                break;
            }
            let process = rng.below(self.process_count) as usize;
            clients[process] = match std::mem::replace(&mut clients[process], Client::Idle) {
                Client::Idle if invoked_count < self.operation_count => {
                    invoked_count += 1;
                    let event = invent(rng, process as u64, invoked_count as u64, &values);
                    history.push(event.clone());
                    let fate = self.draw_fate(rng);
                    Client::Invoked { event, fate }
                }
                Client::Idle => Client::Idle,
                Client::Stuck => Client::Stuck,
                Client::Invoked { event, fate } => {
                    let result = if fate.applies() {
                        let value = values
                            .entry(event.key.clone())
                            .or_insert(self.initial.clone());
                        apply(value, &event)
                    } else {
                        Value::Null
                    };
                    Client::TookEffect {
                        event,
                        fate,
                        result,
                    }
                }
                Client::TookEffect {
                    event,
                    fate,
                    result,
                } => complete(&mut history, &event, fate, result),
            };
        }
        history
    }

    fn draw_fate(&self, rng: &mut SplitMix64) -> Fate {
        if !rng.chance(self.indeterminate_per_mille) {
            return Fate::Ok;
        }
        // A pending operation retires its process for good, so it is the rarer kind;
        // otherwise a few of them would end a long history early.
        match rng.below(8) {
            0..=2 => Fate::InfoApplied,
            3..=5 => Fate::InfoNotApplied,
            6 => Fate::PendingApplied,
            _ => Fate::PendingNotApplied,
        }
    }
}

/// Records the completion of `event` (none for a pending one) and returns the client's next
/// state.
fn complete(history: &mut History, event: &Event, fate: Fate, result: Value) -> Client {
    let completion = match fate {
        Fate::Ok => Event::ok(event.process, &event.f, result),
        Fate::InfoApplied | Fate::InfoNotApplied => Event::info(event.process, &event.f),
        Fate::PendingApplied | Fate::PendingNotApplied => return Client::Stuck,
    };
    history.push(Event {
        key: event.key.clone(),
        ..completion
    });
    Client::Idle
}

/// The shape of a key-value history like those of Jepsen's and Porcupine's kv tests: many
/// clients, few keys, mostly appends and gets with short random values; optionally `cas`
/// operations too (the `kv` model's extension of the format, see [`crate::kv`]).
///
/// The default is the hard case of issue 10: 50 processes, 10 keys chosen uniformly, 2,000
/// operations (45% `get`, 50% `append`, 5% `put`), values of 8 characters, every operation
/// `ok`. The benchmark varies processes over 10-100, keys over 1-10, operations over
/// 1,000-10,000 and the share of `info` over 0-10%.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvShape {
    /// Clients, each with at most one operation outstanding.
    pub process_count: u64,
    /// Keys, `k0` to `k{key_count - 1}`, chosen uniformly for each operation.
    pub key_count: usize,
    /// Invocations in total.
    pub operation_count: usize,
    /// Chance, in thousandths, that an operation is indeterminate (`info` or no completion).
    pub info_per_mille: u32,
    /// Share of `get`s, in percent.
    pub get_percent: u32,
    /// Share of `put`s, in percent.
    pub put_percent: u32,
    /// Share of `cas` operations, in percent; the rest are `append`s. Each cas expects the
    /// key's value when it is invoked, that value without its last character, or a random
    /// one, so that concurrent appends make some of them fail and others succeed. None by
    /// default, as in Jepsen's histories.
    pub cas_percent: u32,
    /// Characters of each written value (lowercase letters and digits, so `!` never is one).
    pub value_length: usize,
    /// Plant one `ok` get whose value no linearization allows: the value it should have read
    /// with its last character replaced by `!`, or `!` for an empty value.
    pub violation: bool,
}

impl Default for KvShape {
    fn default() -> KvShape {
        KvShape {
            process_count: 50,
            key_count: 10,
            operation_count: 2_000,
            info_per_mille: 0,
            get_percent: 45,
            put_percent: 5,
            cas_percent: 0,
            value_length: 8,
            violation: false,
        }
    }
}

impl KvShape {
    /// A short name for tables and file names, such as `p50-k10-n2000-i0-bad` (with
    /// `-c10` before the verdict for 10% of cas operations).
    pub fn label(&self) -> String {
        let cas = if self.cas_percent > 0 {
            format!("-c{}", self.cas_percent)
        } else {
            String::new()
        };
        format!(
            "p{}-k{}-n{}-i{}{cas}-{}",
            self.process_count,
            self.key_count,
            self.operation_count,
            self.info_per_mille,
            if self.violation { "bad" } else { "ok" }
        )
    }
}

/// A `kv` history of `shape`, a pure function of `seed`: linearizable unless
/// `shape.violation`, in which case exactly one `get` returns an impossible value.
pub fn generate_kv(shape: &KvShape, seed: u64) -> History {
    assert!(shape.key_count > 0, "a history needs a key");
    assert!(
        shape.get_percent + shape.put_percent + shape.cas_percent <= 100,
        "shares above 100%"
    );
    let clients = Clients {
        operation_count: shape.operation_count,
        process_count: shape.process_count,
        indeterminate_per_mille: shape.info_per_mille,
        initial: json!(""),
    };
    let mut rng = SplitMix64::new(seed);
    let mut history = clients.run(&mut rng, |rng, process, _, values| {
        let key = format!("k{}", rng.below(shape.key_count as u64));
        let draw = rng.below(100) as u32;
        let put_end = shape.get_percent + shape.put_percent;
        let event = if draw < shape.get_percent {
            Event::invoke(process, "get", Value::Null)
        } else if draw >= put_end && draw < put_end + shape.cas_percent {
            let current = values
                .get(&Some(key.clone()))
                .and_then(Value::as_str)
                .unwrap_or("");
            let from = match rng.below(4) {
                0 | 1 => current.to_owned(),
                2 => {
                    let mut shorter = current.to_owned();
                    shorter.pop();
                    shorter
                }
                _ => random_text(rng, shape.value_length),
            };
            let to = random_text(rng, shape.value_length);
            Event::invoke(process, "cas", json!([from, to]))
        } else {
            let f = if draw < put_end { "put" } else { "append" };
            Event::invoke(process, f, json!(random_text(rng, shape.value_length)))
        };
        event.with_key(&key)
    });
    if shape.violation {
        plant_violation(&mut history, &mut rng);
    }
    history
}

/// `length` random lowercase letters and digits.
fn random_text(rng: &mut SplitMix64, length: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..length)
        .map(|_| char::from(ALPHABET[rng.below(ALPHABET.len() as u64) as usize]))
        .collect()
}

/// Makes one `ok` get, chosen at random, return a value no written value can form; without
/// such a get, appends one at the end.
fn plant_violation(history: &mut History, rng: &mut SplitMix64) {
    let gets: Vec<usize> = history
        .events()
        .iter()
        .enumerate()
        .filter(|(_, event)| event.kind == EventKind::Ok && event.f == "get")
        .map(|(position, _)| position)
        .collect();
    let mut events = history.events().to_vec();
    if gets.is_empty() {
        let process = events
            .iter()
            .map(|event| event.process + 1)
            .max()
            .unwrap_or(0);
        events.push(Event::invoke(process, "get", Value::Null).with_key("k0"));
        events.push(Event::ok(process, "get", json!("!")).with_key("k0"));
    } else {
        let position = gets[rng.below(gets.len() as u64) as usize];
        let mut value = events[position].value.as_str().unwrap_or("").to_owned();
        value.pop();
        value.push('!');
        events[position].value = Value::String(value);
    }
    *history = History::from_events(events);
}

/// A random invocation for `model`.
fn invent(
    model: BuiltinModel,
    workload: &Workload,
    rng: &mut SplitMix64,
    process: u64,
    unique: u64,
) -> Event {
    let key_index = rng.below(workload.key_count as u64);
    let value_count = workload.value_count.max(1) as u64;
    let event = match model {
        BuiltinModel::Register | BuiltinModel::CasRegister => {
            let choice = if model == BuiltinModel::CasRegister {
                rng.below(3)
            } else {
                rng.below(2)
            };
            match choice {
                0 => Event::invoke(process, "read", Value::Null),
                1 => Event::invoke(process, "write", json!(rng.below(value_count))),
                _ => {
                    let from = rng.below(value_count);
                    let to = rng.below(value_count);
                    Event::invoke(process, "cas", json!([from, to]))
                }
            }
        }
        BuiltinModel::Kv => match rng.below(10) {
            0..=3 => Event::invoke(process, "get", Value::Null),
            4 => Event::invoke(process, "put", json!(format!("p{process}.{unique};"))),
            _ => Event::invoke(process, "append", json!(format!("a{process}.{unique};"))),
        },
    };
    if model == BuiltinModel::Kv || workload.key_count > 1 {
        event.with_key(&format!("k{key_index}"))
    } else {
        event
    }
}

/// Applies `invocation` to `value` and returns what an `ok` completion reports.
fn apply(value: &mut Value, invocation: &Event) -> Value {
    match (invocation.f.as_str(), &invocation.value) {
        ("read" | "get", _) => value.clone(),
        ("write" | "put", argument) => {
            *value = argument.clone();
            argument.clone()
        }
        ("append", Value::String(suffix)) => {
            let appended = format!("{}{suffix}", value.as_str().unwrap_or(""));
            *value = Value::String(appended);
            Value::Null
        }
        ("cas", Value::Array(pair)) => {
            let found = *value == pair[0];
            if found {
                *value = pair[1].clone();
            }
            Value::Bool(found)
        }
        (f, argument) => unreachable!("invent() made no {f} {argument}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: a generated history is a pure function of its seed, so the benchmark measures
    // the same history every run. Method: generate twice with one seed, once with another.
    #[test]
    fn same_seed_same_history() {
        let workload = Workload {
            operation_count: 200,
            process_count: 5,
            key_count: 3,
            value_count: 4,
            indeterminate_per_mille: 100,
        };
        for model in BuiltinModel::ALL {
            let first = generate(model, &workload, 11);
            assert_eq!(first, generate(model, &workload, 11), "{model:?}");
            assert_ne!(first, generate(model, &workload, 12), "{model:?}");
        }
    }
}
