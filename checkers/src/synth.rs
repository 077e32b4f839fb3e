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
use crate::history::{Event, History};

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
    let mut rng = SplitMix64::new(seed);
    let mut history = History::new();
    let mut clients: Vec<Client> = (0..workload.process_count).map(|_| Client::Idle).collect();
    // The sequential truth: each key's current value.
    let mut values: BTreeMap<Option<String>, Value> = BTreeMap::new();
    let initial = match model {
        BuiltinModel::Kv => json!(""),
        BuiltinModel::Register | BuiltinModel::CasRegister => Value::Null,
    };
    let mut invoked_count = 0usize;
    let mut unique = 0u64;
    loop {
        let busy = clients
            .iter()
            .any(|client| matches!(client, Client::Invoked { .. } | Client::TookEffect { .. }));
        let can_invoke = invoked_count < workload.operation_count
            && clients.iter().any(|client| matches!(client, Client::Idle));
        if !busy && !can_invoke {
            break;
        }
        let process = rng.below(workload.process_count) as usize;
        match std::mem::replace(&mut clients[process], Client::Idle) {
            Client::Idle if invoked_count < workload.operation_count => {
                invoked_count += 1;
                unique += 1;
                let event = invent(model, workload, &mut rng, process as u64, unique);
                history.push(event.clone());
                let fate = if rng.chance(workload.indeterminate_per_mille) {
                    // A pending operation retires its process for good, so it is the rarer
                    // kind; otherwise a few of them would end a long history early.
                    match rng.below(8) {
                        0..=2 => Fate::InfoApplied,
                        3..=5 => Fate::InfoNotApplied,
                        6 => Fate::PendingApplied,
                        _ => Fate::PendingNotApplied,
                    }
                } else {
                    Fate::Ok
                };
                clients[process] = Client::Invoked { event, fate };
            }
            Client::Idle => {}
            Client::Stuck => clients[process] = Client::Stuck,
            Client::Invoked { event, fate } => {
                let result = if fate.applies() {
                    let value = values.entry(event.key.clone()).or_insert(initial.clone());
                    apply(value, &event)
                } else {
                    Value::Null
                };
                clients[process] = Client::TookEffect {
                    event,
                    fate,
                    result,
                };
            }
            Client::TookEffect {
                event,
                fate,
                result,
            } => {
                let completion = match fate {
                    Fate::Ok => Event::ok(event.process, &event.f, result),
                    Fate::InfoApplied | Fate::InfoNotApplied => {
                        Event::info(event.process, &event.f)
                    }
                    Fate::PendingApplied | Fate::PendingNotApplied => {
                        clients[process] = Client::Stuck;
                        continue;
                    }
                };
                history.push(Event {
                    key: event.key.clone(),
                    ..completion
                });
            }
        }
    }
    history
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
