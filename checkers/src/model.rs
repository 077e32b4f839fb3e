//! Sequential specifications: the [`Model`] trait and the built-in models `register`,
//! `cas-register` and `kv` of `../shared/formats/history.md`.

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

fn integer(value: &Value, what: &str) -> Result<i64, String> {
    value.as_i64().ok_or_else(|| {
        format!(
            "{what} must be a signed 64-bit integer, found {}",
            compact(value)
        )
    })
}

/// A short rendering of a JSON value for error messages.
fn compact(value: &Value) -> String {
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
    Put(String),
    /// Append to the value.
    Append(String),
}

/// The results of `kv` operations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvOutput {
    /// The value a get returned (`""` for a missing key).
    Get(String),
    /// A put or append completed; its result carries nothing.
    Done,
}

/// The `kv` model: one string per key, initially `""`, with `get`, `put` and `append`.
/// Partitioned by key, so its state is the value of one key.
#[derive(Clone, Copy, Debug, Default)]
pub struct Kv;

impl Model for Kv {
    type State = String;
    type Input = KvInput;
    type Output = KvOutput;

    fn init(&self) -> String {
        String::new()
    }

    fn step(&self, state: &String, input: &KvInput, output: Option<&KvOutput>) -> Option<String> {
        match (&input.op, output) {
            (KvOp::Get, None) => Some(state.clone()),
            (KvOp::Get, Some(KvOutput::Get(read))) => (read == state).then(|| state.clone()),
            (KvOp::Put(value), None | Some(KvOutput::Done)) => Some(value.clone()),
            (KvOp::Append(suffix), None | Some(KvOutput::Done)) => {
                let mut appended = String::with_capacity(state.len() + suffix.len());
                appended.push_str(state);
                appended.push_str(suffix);
                Some(appended)
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
            "put" => KvOp::Put(string(value, "a put's invoke value")?),
            "append" => KvOp::Append(string(value, "an append's invoke value")?),
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
            KvOp::Get => Ok(KvOutput::Get(string(value, "a get's result")?)),
            KvOp::Put(_) | KvOp::Append(_) => Ok(KvOutput::Done),
        }
    }
}

fn string(value: &Value, what: &str) -> Result<String, String> {
    match value {
        Value::String(text) => Ok(text.clone()),
        other => Err(format!(
            "{what} must be a string, found {}",
            json_type_name(other)
        )),
    }
}
