//! Sequential specifications: the [`Model`] trait, the built-in models `register` and
//! `cas-register` of `../shared/formats/history.md` (`kv` is in [`crate::kv`]), and
//! [`Initialized`], which starts any model from another state.

use std::fmt::Debug;
use std::hash::Hash;

use serde_json::Value;

use crate::history::json_type_name;

/// A sequential specification that histories are checked against.
///
/// The checker splits a history into parts by [`Model::partition`] and checks each part on
/// its own, starting from [`Model::init`]; so a state only ever needs to describe one part
/// (the `kv` model's state is the value of one key).
pub trait Model {
    /// The state of one part. Equality and hashing drive the memoisation, so two states
    /// that behave the same should compare equal.
    type State: Clone + Eq + Hash + Debug;
    /// An operation with its argument, decoded from an invocation.
    type Input: Clone + Debug;
    /// A result, decoded from an `ok` completion.
    type Output: Clone + Debug;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// Applies `input` to `state` and returns the new state if the operation can return
    /// `output` there, or `None` if it cannot. `output` is `None` when the result is unknown
    /// (an `info` completion or none at all): then any result is acceptable.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<Self::State>;

    /// The independent part `input` belongs to, such as its key. Operations in different
    /// parts never constrain each other, so each part is checked on its own
    /// (P-compositionality). The default puts everything in one part.
    fn partition<'a>(&self, input: &'a Self::Input) -> Option<&'a str> {
        let _ = input;
        None
    }

    /// True if the operation never changes the state. An indeterminate operation of this
    /// kind constrains nothing, so the checker drops it instead of searching over where it
    /// might go. The default, false, is always correct, only slower.
    fn is_read_only(&self, input: &Self::Input) -> bool {
        let _ = input;
        false
    }

    /// For each of `updates` (indeterminate operations that change the state), true if no
    /// result in `outputs` (every known result of the part) can have seen it take effect,
    /// so that a linearization in which it did stays one without it, and the checker may
    /// leave it out. Many `info` operations multiply the search; most that never took effect
    /// are unobservable. The default, all false, is always correct, only slower.
    fn unobservable(&self, updates: &[&Self::Input], outputs: &[&Self::Output]) -> Vec<bool> {
        let _ = outputs;
        vec![false; updates.len()]
    }

    /// [`Model::step`] for an operation that occupies `span` of the history. The checker
    /// calls this one. A model may use the span to defer a choice that only a later
    /// operation can make (the `kv` model leaves the order of concurrent appends open until a
    /// `get` observes it); the default ignores it.
    fn step_at(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
        span: Span,
    ) -> Option<Self::State> {
        let _ = span;
        self.step(state, input, output)
    }

    /// For a model that defers choices: the operations (by the `call` of their [`Span`])
    /// whose order the step into `state` chose, in that order. The checker uses it to report
    /// a linearization in an order that holds. The default, none, suits every model that
    /// decides each step at once.
    fn reordered<'s>(&self, state: &'s Self::State) -> &'s [usize] {
        let _ = state;
        &[]
    }

    /// Heap bytes that `state` owns (beyond its own size), counted against the memory limit
    /// of the search. Shared data (such as text the history also holds) is not counted.
    fn heap_bytes(&self, state: &Self::State) -> usize {
        let _ = state;
        0
    }

    /// The state as a person reads it in an explanation; the default is its `Debug` form.
    fn describe(&self, state: &Self::State) -> String {
        format!("{state:?}")
    }

    /// Decodes an invocation's `f`, `key` and `value`; an error says what was wrong.
    fn decode_input(
        &self,
        f: &str,
        key: Option<&str>,
        value: &Value,
    ) -> Result<Self::Input, String>;

    /// Decodes an `ok` completion's `value` for the operation `input`.
    fn decode_output(&self, input: &Self::Input, value: &Value) -> Result<Self::Output, String>;
}

/// Where an operation sits in real time: the positions (indices among the history's
/// events) of its invocation and of its completion, the latter `None` when its result is
/// unknown, so that it may take effect at any point after the invocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    /// Position of the invocation.
    pub call: usize,
    /// Position of the `ok` completion, if the result is known.
    pub completion: Option<usize>,
}

impl Span {
    /// True if this operation completed before `other` was invoked, so that it comes first
    /// in every linearization.
    pub fn precedes(&self, other: &Span) -> bool {
        self.completion
            .is_some_and(|completion| completion < other.call)
    }
}

/// `model` started from `initial` instead of [`Model::init`]: `--initial 0` for Knossos'
/// histories, whose register starts at 0. Everything else is the inner model's.
#[derive(Clone, Debug)]
pub struct Initialized<M: Model> {
    /// The model.
    pub model: M,
    /// Its state before any operation.
    pub initial: M::State,
}

impl<M: Model> Model for Initialized<M> {
    type State = M::State;
    type Input = M::Input;
    type Output = M::Output;

    fn init(&self) -> M::State {
        self.initial.clone()
    }

    fn step(
        &self,
        state: &M::State,
        input: &M::Input,
        output: Option<&M::Output>,
    ) -> Option<M::State> {
        self.model.step(state, input, output)
    }

    fn step_at(
        &self,
        state: &M::State,
        input: &M::Input,
        output: Option<&M::Output>,
        span: Span,
    ) -> Option<M::State> {
        self.model.step_at(state, input, output, span)
    }

    fn partition<'a>(&self, input: &'a M::Input) -> Option<&'a str> {
        self.model.partition(input)
    }

    fn is_read_only(&self, input: &M::Input) -> bool {
        self.model.is_read_only(input)
    }

    fn reordered<'s>(&self, state: &'s M::State) -> &'s [usize] {
        self.model.reordered(state)
    }

    fn unobservable(&self, updates: &[&M::Input], outputs: &[&M::Output]) -> Vec<bool> {
        self.model.unobservable(updates, outputs)
    }

    fn heap_bytes(&self, state: &M::State) -> usize {
        self.model.heap_bytes(state)
    }

    fn describe(&self, state: &M::State) -> String {
        self.model.describe(state)
    }

    fn decode_input(&self, f: &str, key: Option<&str>, value: &Value) -> Result<M::Input, String> {
        self.model.decode_input(f, key, value)
    }

    fn decode_output(&self, input: &M::Input, value: &Value) -> Result<M::Output, String> {
        self.model.decode_output(input, value)
    }
}

/// An operation on a register, possibly one of several named by key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterInput {
    /// The register; `None` means the one register.
    pub key: Option<String>,
    /// What to do to it.
    pub op: RegisterOp,
}

/// The operations of the register models.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterOp {
    /// Return the value.
    Read,
    /// Set the value.
    Write(i64),
    /// If the value is `from`, set it to `to` (only in `cas-register`).
    Cas {
        /// The expected value.
        from: i64,
        /// The new value.
        to: i64,
    },
}

/// The results of register operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterOutput {
    /// The value a read returned; `None` is null, the value before any write.
    Read(Option<i64>),
    /// A write completed; its result carries nothing.
    Written,
    /// Whether the cas found `from` (and so changed the value).
    Cas(bool),
}

/// The `register` model: one integer or null, with `read` and `write`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Register;

/// The `cas-register` model: [`Register`] plus `cas`.
#[derive(Clone, Copy, Debug, Default)]
pub struct CasRegister;

fn register_step(
    state: &Option<i64>,
    input: &RegisterInput,
    output: Option<&RegisterOutput>,
) -> Option<Option<i64>> {
    match (input.op, output) {
        (RegisterOp::Read, None) => Some(*state),
        (RegisterOp::Read, Some(RegisterOutput::Read(read))) => (read == state).then_some(*state),
        (RegisterOp::Write(value), None | Some(RegisterOutput::Written)) => Some(Some(value)),
        (RegisterOp::Cas { from, to }, None) => {
            // With the result unknown the cas may have failed, which changes nothing.
            Some(if *state == Some(from) {
                Some(to)
            } else {
                *state
            })
        }
        (RegisterOp::Cas { from, to }, Some(RegisterOutput::Cas(true))) => {
            (*state == Some(from)).then_some(Some(to))
        }
        // A false cas is an observation: the register must differ from `from` here.
        (RegisterOp::Cas { from, .. }, Some(RegisterOutput::Cas(false))) => {
            (*state != Some(from)).then_some(*state)
        }
        // decode_output never pairs an operation with another operation's result.
        _ => None,
    }
}

fn register_decode_input(
    f: &str,
    key: Option<&str>,
    value: &Value,
    cas_allowed: bool,
) -> Result<RegisterInput, String> {
    let op = match f {
        "read" => match value {
            Value::Null => RegisterOp::Read,
            other => {
                return Err(format!(
                    "a read's invoke value must be null, found {}",
                    json_type_name(other)
                ));
            }
        },
        "write" => RegisterOp::Write(integer(value, "a write's invoke value")?),
        "cas" if cas_allowed => match value {
            Value::Array(pair) if pair.len() == 2 => RegisterOp::Cas {
                from: integer(&pair[0], "a cas's `from`")?,
                to: integer(&pair[1], "a cas's `to`")?,
            },
            other => {
                return Err(format!(
                    "a cas's invoke value must be [from, to], found {}",
                    compact(other)
                ));
            }
        },
        other => {
            let known = if cas_allowed {
                "read, write, cas"
            } else {
                "read, write"
            };
            return Err(format!(
                "unknown f {other:?} for this model (known: {known})"
            ));
        }
    };
    Ok(RegisterInput {
        key: key.map(str::to_owned),
        op,
    })
}

fn register_decode_output(input: &RegisterInput, value: &Value) -> Result<RegisterOutput, String> {
    match input.op {
        RegisterOp::Read => match value {
            Value::Null => Ok(RegisterOutput::Read(None)),
            other => Ok(RegisterOutput::Read(Some(integer(
                other,
                "a read's result",
            )?))),
        },
        RegisterOp::Write(_) => Ok(RegisterOutput::Written),
        RegisterOp::Cas { .. } => match value {
            Value::Bool(found) => Ok(RegisterOutput::Cas(*found)),
            other => Err(format!(
                "an ok cas must carry true or false, found {}",
                json_type_name(other)
            )),
        },
    }
}

pub(crate) fn integer(value: &Value, what: &str) -> Result<i64, String> {
    value.as_i64().ok_or_else(|| {
        format!(
            "{what} must be a signed 64-bit integer, found {}",
            compact(value)
        )
    })
}

/// A short rendering of a JSON value for error messages.
pub(crate) fn compact(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= 40 {
        text
    } else {
        let head: String = text.chars().take(40).collect();
        format!("{head}...")
    }
}

/// `register` and `cas-register` differ only in whether `cas` is an operation they know.
macro_rules! register_model {
    ($model:ty, $knows_cas:expr) => {
        impl Model for $model {
            type State = Option<i64>;
            type Input = RegisterInput;
            type Output = RegisterOutput;

            fn init(&self) -> Option<i64> {
                None
            }

            fn step(
                &self,
                state: &Option<i64>,
                input: &RegisterInput,
                output: Option<&RegisterOutput>,
            ) -> Option<Option<i64>> {
                register_step(state, input, output)
            }

            fn partition<'a>(&self, input: &'a RegisterInput) -> Option<&'a str> {
                input.key.as_deref()
            }

            fn is_read_only(&self, input: &RegisterInput) -> bool {
                input.op == RegisterOp::Read
            }

            fn describe(&self, state: &Option<i64>) -> String {
                match state {
                    Some(value) => value.to_string(),
                    None => "null".to_owned(),
                }
            }

            fn decode_input(
                &self,
                f: &str,
                key: Option<&str>,
                value: &Value,
            ) -> Result<RegisterInput, String> {
                register_decode_input(f, key, value, $knows_cas)
            }

            fn decode_output(
                &self,
                input: &RegisterInput,
                value: &Value,
            ) -> Result<RegisterOutput, String> {
                register_decode_output(input, value)
            }
        }
    };
}

register_model!(Register, false);
register_model!(CasRegister, true);
