//! Jepsen's and Knossos' EDN histories, mapped onto the events of the JSON Lines format.
//!
//! Two layouts are read: one vector (or list) of operation maps, as in Knossos' test data,
//! and one map per line, as in Jepsen's `history.edn`. The mapping:
//!
//! - `:process` an integer: the client; any other `:process` (`:nemesis`) is not a client
//!   operation and its line is skipped.
//! - `:type` `:invoke`, `:ok`, `:fail` or `:info`, as in JSON Lines: `:fail` did not happen,
//!   `:info` is indeterminate.
//! - `:f` a keyword (or symbol or string): the operation, `:read` is `read`.
//! - `:value` converted to JSON (nil is null, keywords become strings, sets arrays), except:
//!   an invocation of `read` or `get` carries no argument (Knossos sometimes writes the value
//!   later read there); an `:ok` cas carries `[from to]` in Knossos and means it succeeded,
//!   so it becomes `true`; an `:ok` read of `nil` matches any value (Knossos' semantics,
//!   unlike JSON Lines, where null is a value).
//! - Jepsen's independent keys (`jepsen.independent`): when every operation's value is a
//!   pair `[k v]` (and no cas value is a pair of plain values), `k` becomes the `key` (an
//!   integer, string or keyword, written as text) and `v` the value.
//! - `:time` an integer: the time; every other field (`:error`, `:index`, `:node`) is
//!   ignored.
//!
//! Anything else (a tagged literal, a missing or unknown `:type`, a map that is not an
//! operation) is an error naming the line; an unknown `:f` is the model's error, also by
//! line.

use serde_json::{Map, Number, Value};

use crate::edn::{Edn, Node, parse_all};
use crate::history::{Event, EventKind, History};

/// Parses EDN text into a history whose null reads match any value. Errors carry the line.
pub fn parse_edn_history(text: &str) -> Result<History, (usize, String)> {
    let nodes = parse_all(text).map_err(|error| (error.line, error.message))?;
    let operations = operation_nodes(nodes)?;
    let independent = is_independent(&operations);
    let mut events = Vec::with_capacity(operations.len());
    let mut lines = Vec::with_capacity(operations.len());
    for (line, map) in operations {
        if let Some(event) = event(map, independent).map_err(|message| (line, message))? {
            events.push(event);
            lines.push(line);
        }
    }
    let mut history = History::from_events_at(events, lines);
    history.set_null_reads_match_any(true);
    Ok(history)
}

/// An operation map: its line and its key-value pairs.
type OperationMap = (usize, Vec<(Node, Node)>);

/// The operation maps: the elements of a single top-level vector or list, or every
/// top-level value.
fn operation_nodes(nodes: Vec<Node>) -> Result<Vec<OperationMap>, (usize, String)> {
    let items = match <[Node; 1]>::try_from(nodes) {
        Ok(
            [
                Node {
                    value: Edn::Vector(items) | Edn::List(items),
                    ..
                },
            ],
        ) => items,
        Ok([node]) => vec![node],
        Err(nodes) => nodes,
    };
    items
        .into_iter()
        .map(|node| match node.value {
            Edn::Map(pairs) => Ok((node.line, pairs)),
            other => Err((
                node.line,
                format!("expected an operation map, found {}", kind(&other)),
            )),
        })
        .collect()
}

fn kind(value: &Edn) -> &'static str {
    match value {
        Edn::Nil => "nil",
        Edn::Bool(_) => "a boolean",
        Edn::Integer(_) => "an integer",
        Edn::Float(_) => "a float",
        Edn::String(_) => "a string",
        Edn::Char(_) => "a character",
        Edn::Keyword(_) => "a keyword",
        Edn::Symbol(_) => "a symbol",
        Edn::List(_) => "a list",
        Edn::Vector(_) => "a vector",
        Edn::Map(_) => "a map",
        Edn::Set(_) => "a set",
    }
}

fn field<'a>(map: &'a [(Node, Node)], name: &str) -> Option<&'a Edn> {
    map.iter()
        .find(|(key, _)| matches!(&key.value, Edn::Keyword(keyword) if keyword == name))
        .map(|(_, value)| &value.value)
}

/// A name written as a keyword, symbol or string.
fn name(value: &Edn) -> Option<&str> {
    match value {
        Edn::Keyword(name) | Edn::Symbol(name) | Edn::String(name) => Some(name),
        _ => None,
    }
}

fn is_client(map: &[(Node, Node)]) -> bool {
    matches!(field(map, "process"), Some(Edn::Integer(_)))
}

/// True if the client operations carry `[key value]` pairs from `jepsen.independent`.
fn is_independent(operations: &[OperationMap]) -> bool {
    let mut clients = operations
        .iter()
        .map(|(_, map)| map)
        .filter(|map| is_client(map))
        .peekable();
    clients.peek().is_some()
        && clients.all(|map| {
            let Some(Edn::Vector(pair)) = field(map, "value") else {
                return false;
            };
            let is_cas = field(map, "f").and_then(name) == Some("cas");
            // A plain cas value is [from to] itself; an independent one is [k [from to]].
            pair.len() == 2
                && (!is_cas || matches!(pair[1].value, Edn::Vector(_) | Edn::List(_) | Edn::Nil))
        })
}

/// The event of one operation map; `None` for a line that is not a client operation.
fn event(map: Vec<(Node, Node)>, independent: bool) -> Result<Option<Event>, String> {
    let process = match field(&map, "process") {
        Some(Edn::Integer(process)) => u64::try_from(*process)
            .map_err(|_| format!("`:process` must be an integer >= 0, found {process}"))?,
        Some(_) => return Ok(None),
        None => return Err("missing `:process`".to_owned()),
    };
    let kind = match field(&map, "type").and_then(name) {
        Some("invoke") => EventKind::Invoke,
        Some("ok") => EventKind::Ok,
        Some("fail") => EventKind::Fail,
        Some("info") => EventKind::Info,
        Some(other) => {
            return Err(format!(
                "`:type` must be one of :invoke, :ok, :fail, :info; found :{other}"
            ));
        }
        None => return Err("missing `:type` (a keyword)".to_owned()),
    };
    let f = field(&map, "f")
        .and_then(name)
        .ok_or("missing `:f` (a keyword)")?
        .to_owned();
    let time = match field(&map, "time") {
        Some(Edn::Integer(time)) => Some(*time),
        _ => None,
    };
    let mut value = field(&map, "value").cloned().unwrap_or(Edn::Nil);
    let mut key = None;
    if independent && let Edn::Vector(mut pair) = value {
        let inner = pair.pop().expect("a pair").value;
        key = Some(key_text(&pair.pop().expect("a pair").value)?);
        value = inner;
    }
    let value = match (kind, f.as_str(), value) {
        (EventKind::Invoke, "read" | "get", _) => Value::Null,
        (EventKind::Ok, "cas", Edn::Vector(_) | Edn::List(_)) => Value::Bool(true),
        (EventKind::Fail | EventKind::Info, _, _) => Value::Null,
        (_, _, value) => json(&value)?,
    };
    Ok(Some(Event {
        process,
        kind,
        f,
        key,
        value,
        time,
    }))
}

fn key_text(value: &Edn) -> Result<String, String> {
    match value {
        Edn::Integer(key) => Ok(key.to_string()),
        Edn::String(key) | Edn::Keyword(key) | Edn::Symbol(key) => Ok(key.clone()),
        other => Err(format!(
            "an independent key must be an integer, string or keyword, found {}",
            kind(other)
        )),
    }
}

/// `value` as JSON.
fn json(value: &Edn) -> Result<Value, String> {
    Ok(match value {
        Edn::Nil => Value::Null,
        Edn::Bool(value) => Value::Bool(*value),
        Edn::Integer(value) => Value::from(*value),
        Edn::Float(value) => Number::from_f64(*value)
            .map(Value::Number)
            .ok_or_else(|| format!("{value} has no JSON form"))?,
        Edn::String(text) | Edn::Keyword(text) | Edn::Symbol(text) => Value::String(text.clone()),
        Edn::Char(character) => Value::String(character.to_string()),
        Edn::List(items) | Edn::Vector(items) | Edn::Set(items) => Value::Array(
            items
                .iter()
                .map(|item| json(&item.value))
                .collect::<Result<_, _>>()?,
        ),
        Edn::Map(pairs) => {
            let mut object = Map::new();
            for (key, value) in pairs {
                let key = match &key.value {
                    Edn::String(text) | Edn::Keyword(text) | Edn::Symbol(text) => text.clone(),
                    Edn::Integer(number) => number.to_string(),
                    other => return Err(format!("a map key in a value is {}", kind(other))),
                };
                object.insert(key, json(&value.value)?);
            }
            Value::Object(object)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(text: &str) -> Vec<String> {
        let history = parse_edn_history(text).unwrap_or_else(|error| panic!("{error:?}"));
        history
            .events()
            .iter()
            .zip(history.lines())
            .map(|(event, line)| format!("{line}: {}", event.to_json_line()))
            .collect()
    }

    // Goal: the mapping of the module documentation, rule by rule. Method: small histories in
    // both layouts and the JSON Lines events they become.
    #[test]
    fn mapping() {
        let knossos = "[{:process 0, :type :invoke, :f :read, :value 4}\n\
                       {:process :nemesis, :type :info, :f :start, :value #{:n1}}\n\
                       {:process 0 :type :ok :f :read :value nil :time 7}\n\
                       {:process 1, :type :invoke, :f :cas, :value [1 2]}\n\
                       {:process 1, :type :ok, :f :cas, :value [1 2], :error [:x nil]}]";
        assert_eq!(
            events(knossos),
            [
                r#"1: {"process": 0, "type": "invoke", "f": "read", "value": null}"#,
                r#"3: {"process": 0, "type": "ok", "f": "read", "value": null, "time": 7}"#,
                r#"4: {"process": 1, "type": "invoke", "f": "cas", "value": [1,2]}"#,
                r#"5: {"process": 1, "type": "ok", "f": "cas", "value": true}"#,
            ]
        );
        let independent = "{:process 0, :type :invoke, :f :write, :value [7 3]}\n\
                           {:process 0, :type :ok, :f :write, :value [7 3]}\n\
                           {:process 1, :type :invoke, :f :cas, :value [:k [3 4]]}\n\
                           {:process 1, :type :fail, :f :cas, :value [:k [3 4]]}";
        assert_eq!(
            events(independent),
            [
                r#"1: {"process": 0, "type": "invoke", "f": "write", "key": "7", "value": 3}"#,
                r#"2: {"process": 0, "type": "ok", "f": "write", "key": "7", "value": 3}"#,
                r#"3: {"process": 1, "type": "invoke", "f": "cas", "key": "k", "value": [3,4]}"#,
                r#"4: {"process": 1, "type": "fail", "f": "cas", "key": "k", "value": null}"#,
            ]
        );
    }

    // Goal: what is not an operation is an error with its line. Method: one case per rule.
    #[test]
    fn errors() {
        let cases = [
            ("{:process 0, :f :read}", (1, "missing `:type` (a keyword)")),
            (
                "\n{:process 0, :type :begin, :f :read}",
                (
                    2,
                    "`:type` must be one of :invoke, :ok, :fail, :info; found :begin",
                ),
            ),
            ("{:type :ok, :f :read}", (1, "missing `:process`")),
            (
                "{:process -1, :type :ok, :f :read}",
                (1, "`:process` must be an integer >= 0, found -1"),
            ),
            (
                "[{:process 0, :type :ok, :f :read}\n 3]",
                (2, "expected an operation map, found an integer"),
            ),
            ("{:process 0, :type :ok}", (1, "missing `:f` (a keyword)")),
            (
                "{:process 0, :type :invoke, :f :write, :value #inst \"2020\"}",
                (
                    1,
                    "tagged literal `#inst` is not supported (a history needs none)",
                ),
            ),
        ];
        for (text, (line, message)) in cases {
            let error = parse_edn_history(text).expect_err(text);
            assert_eq!(error, (line, message.to_owned()), "{text}");
        }
    }
}
