//! Hand-written histories for each built-in model and for a model defined outside the crate,
//! with the verdict each must get.
//!
//! Histories are written one event per line as `PROCESS TYPE F [key=KEY] [VALUE]`, where
//! VALUE is JSON (null when absent): terser than the file format, and the same events.

use checkers::{BuiltinModel, Event, EventKind, History, Limits, Model, check as check_history};
use serde_json::Value;

fn history(text: &str) -> History {
    let mut history = History::new();
    for line in text.lines().map(str::trim).filter(|line| !line.is_empty()) {
        let mut rest = line;
        let mut word = || {
            let (head, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            rest = tail.trim_start();
            head
        };
        let process: u64 = word().parse().expect("a process number");
        let kind = match word() {
            "invoke" => EventKind::Invoke,
            "ok" => EventKind::Ok,
            "fail" => EventKind::Fail,
            "info" => EventKind::Info,
            other => panic!("unknown type {other}"),
        };
        let f = word().to_owned();
        let mut event = Event::new(kind, process, &f, Value::Null);
        if let Some(key_and_value) = rest.strip_prefix("key=") {
            let (key, value) = key_and_value.split_once(' ').unwrap_or((key_and_value, ""));
            event = event.with_key(key);
            rest = value;
        }
        if !rest.trim().is_empty() {
            event.value = serde_json::from_str(rest).expect("a JSON value");
        }
        history.push(event);
    }
    history
}

/// Checks the history `text` against `model` and compares the verdict, or the error for a
/// malformed history, with `expect`.
fn check(model: &str, text: &str, expect: &str) {
    let model = BuiltinModel::from_name(model).expect("a built-in model");
    let outcome = match model.check(&history(text), &Limits::none()) {
        Ok(report) => report.verdict.as_str().to_owned(),
        Err(error) => format!("error: {error}"),
    };
    assert_eq!(outcome, expect, "history:\n{text}");
}

// Goal: the register model's semantics, one behaviour per case. Method: tiny histories whose
// verdict follows from the format's definition.
#[test]
fn register() {
    // A read before any write sees null.
    check("register", "0 invoke read\n0 ok read null", "linearizable");
    check("register", "0 invoke read\n0 ok read 0", "not-linearizable");
    // Sequential write then read.
    check(
        "register",
        "0 invoke write 1\n0 ok write 1\n1 invoke read\n1 ok read 1",
        "linearizable",
    );
    // A stale read after the write completed.
    check(
        "register",
        "0 invoke write 1\n0 ok write 1\n1 invoke read\n1 ok read null",
        "not-linearizable",
    );
    // A read concurrent with a write may see either value.
    check(
        "register",
        "0 invoke write 1\n1 invoke read\n1 ok read null\n0 ok write 1",
        "linearizable",
    );
    check(
        "register",
        "0 invoke write 1\n1 invoke read\n1 ok read 1\n0 ok write 1",
        "linearizable",
    );
    // Two reads in real-time order cannot see the values in the opposite order of the writes.
    check(
        "register",
        "0 invoke write 1\n0 ok write 1\n0 invoke write 2\n1 invoke read\n1 ok read 2\n\
         2 invoke read\n2 ok read 1\n0 ok write 2",
        "not-linearizable",
    );
    // A failed write never happened.
    check(
        "register",
        "0 invoke write 1\n0 fail write\n1 invoke read\n1 ok read 1",
        "not-linearizable",
    );
    // Keys are independent registers.
    check(
        "register",
        "0 invoke write key=a 1\n0 ok write key=a 1\n1 invoke read key=b\n1 ok read key=b null",
        "linearizable",
    );
    check(
        "register",
        "0 invoke write key=a 1\n0 ok write key=a 1\n1 invoke read key=a\n1 ok read key=a null",
        "not-linearizable",
    );
    // The register model does not know cas.
    check(
        "register",
        "0 invoke cas [1, 2]",
        "error: history:1: unknown f \"cas\" for this model (known: read, write)",
    );
    // An empty history is linearizable.
    check("register", "", "linearizable");
}

// Goal: cas semantics, above all that a false cas is an observation. Method: as above.
#[test]
fn cas_register() {
    check(
        "cas-register",
        "0 invoke write 1\n0 ok write 1\n0 invoke cas [1, 2]\n0 ok cas true\n1 invoke read\n1 ok read 2",
        "linearizable",
    );
    // A successful cas needs its `from`.
    check(
        "cas-register",
        "0 invoke cas [1, 2]\n0 ok cas true",
        "not-linearizable",
    );
    // A false cas needs a value other than `from` at some point of its interval.
    check(
        "cas-register",
        "0 invoke cas [1, 2]\n0 ok cas false",
        "linearizable",
    );
    check(
        "cas-register",
        "0 invoke write 1\n0 ok write 1\n0 invoke cas [1, 2]\n0 ok cas false",
        "not-linearizable",
    );
    // ... which a concurrent write can provide.
    check(
        "cas-register",
        "0 invoke write 1\n0 ok write 1\n0 invoke cas [1, 2]\n1 invoke write 3\n1 ok write 3\n0 ok cas false",
        "linearizable",
    );
    // A false cas changes nothing.
    check(
        "cas-register",
        "0 invoke write 3\n0 ok write 3\n0 invoke cas [1, 2]\n0 ok cas false\n0 invoke read\n0 ok read 2",
        "not-linearizable",
    );
    // An indeterminate cas may have taken effect ...
    check(
        "cas-register",
        "0 invoke write 1\n0 ok write 1\n0 invoke cas [1, 2]\n0 info cas\n1 invoke read\n1 ok read 2",
        "linearizable",
    );
    // ... or not ...
    check(
        "cas-register",
        "0 invoke write 1\n0 ok write 1\n0 invoke cas [1, 2]\n0 info cas\n1 invoke read\n1 ok read 1",
        "linearizable",
    );
    // ... but not before its invocation ...
    check(
        "cas-register",
        "0 invoke write 1\n0 ok write 1\n1 invoke read\n1 ok read 2\n0 invoke cas [1, 2]\n0 info cas",
        "not-linearizable",
    );
    // ... and only once: after 1 -> 2 -> 1, a second 2 needs a second cas.
    check(
        "cas-register",
        "0 invoke write 1\n0 ok write 1\n0 invoke cas [1, 2]\n0 info cas\n1 invoke read\n1 ok read 2\n\
         1 invoke write 1\n1 ok write 1\n1 invoke read\n1 ok read 2",
        "not-linearizable",
    );
    // A cas whose outcome never arrived is indeterminate too.
    check(
        "cas-register",
        "0 invoke write 1\n0 ok write 1\n0 invoke cas [1, 2]\n1 invoke read\n1 ok read 2",
        "linearizable",
    );
    // A cas carries a boolean result and a [from, to] argument.
    check(
        "cas-register",
        "0 invoke cas [1, 2]\n0 ok cas 1",
        "error: history:2: an ok cas must carry true or false, found an integer",
    );
    check(
        "cas-register",
        "0 invoke cas 1",
        "error: history:1: a cas's invoke value must be [from, to], found 1",
    );
}

// Goal: the kv model's semantics. Method: as above.
#[test]
fn kv() {
    check(
        "kv",
        "0 invoke get key=x\n0 ok get key=x \"\"",
        "linearizable",
    );
    check(
        "kv",
        "0 invoke put key=x \"a\"\n0 ok put key=x\n0 invoke append key=x \"b\"\n0 ok append key=x\n\
         1 invoke get key=x\n1 ok get key=x \"ab\"",
        "linearizable",
    );
    // Appends apply in some order: concurrent ones either way, but all of them.
    check(
        "kv",
        "0 invoke append key=x \"a\"\n1 invoke append key=x \"b\"\n0 ok append key=x\n1 ok append key=x\n\
         2 invoke get key=x\n2 ok get key=x \"ba\"",
        "linearizable",
    );
    check(
        "kv",
        "0 invoke append key=x \"a\"\n1 invoke append key=x \"b\"\n0 ok append key=x\n1 ok append key=x\n\
         2 invoke get key=x\n2 ok get key=x \"b\"",
        "not-linearizable",
    );
    // Concurrent appends stay unordered until a get observes them, and the order it picks
    // must respect real time: "a" completed before "b" was invoked.
    check(
        "kv",
        "0 invoke append key=x \"a\"\n0 ok append key=x\n1 invoke append key=x \"b\"\n\
         2 invoke get key=x\n1 ok append key=x\n2 ok get key=x \"ba\"",
        "not-linearizable",
    );
    // A get that could observe the unordered appends one way must not commit to it: here
    // "ab" is read only after a put of "ab", and the appends went "b" then "a".
    check(
        "kv",
        "0 invoke append key=x \"a\"\n1 invoke append key=x \"b\"\n2 invoke get key=x\n\
         3 invoke get key=x\n0 ok append key=x\n1 ok append key=x\n3 ok get key=x \"ba\"\n\
         4 invoke put key=x \"ab\"\n4 ok put key=x\n2 ok get key=x \"ab\"",
        "linearizable",
    );
    // Keys are independent.
    check(
        "kv",
        "0 invoke put key=x \"a\"\n0 ok put key=x\n1 invoke get key=y\n1 ok get key=y \"\"",
        "linearizable",
    );
    // A put replaces.
    check(
        "kv",
        "0 invoke append key=x \"a\"\n0 ok append key=x\n0 invoke put key=x \"b\"\n0 ok put key=x\n\
         0 invoke get key=x\n0 ok get key=x \"ab\"",
        "not-linearizable",
    );
    // The kv model needs keys and strings.
    check(
        "kv",
        "0 invoke get",
        "error: history:1: the kv model needs a `key` on every line (get has none)",
    );
    check(
        "kv",
        "0 invoke put key=x 3",
        "error: history:1: a put's invoke value must be a string, found an integer",
    );
    check(
        "kv",
        "0 invoke read key=x",
        "error: history:1: unknown f \"read\" for this model (known: get, put, append, cas)",
    );
}

// Goal: the kv model's cas (this crate's extension of the format): as cas-register's, on
// strings, with a missing key reading as "", and a false cas amid concurrent appends seeing
// one value of one order. Method: as above.
#[test]
fn kv_cas() {
    // A missing key is "", so a cas from "" finds it ...
    check(
        "kv",
        "0 invoke cas key=x [\"\", \"v\"]\n0 ok cas key=x true\n0 invoke get key=x\n0 ok get key=x \"v\"",
        "linearizable",
    );
    check(
        "kv",
        "0 invoke cas key=x [\"a\", \"v\"]\n0 ok cas key=x true",
        "not-linearizable",
    );
    // ... and a false cas from "" needs another value.
    check(
        "kv",
        "0 invoke cas key=x [\"\", \"v\"]\n0 ok cas key=x false",
        "not-linearizable",
    );
    check(
        "kv",
        "0 invoke cas key=x [\"a\", \"v\"]\n0 ok cas key=x false\n0 invoke get key=x\n0 ok get key=x \"\"",
        "linearizable",
    );
    // A false cas changes nothing, a true one replaces the appended value.
    check(
        "kv",
        "0 invoke append key=x \"a\"\n0 ok append key=x\n0 invoke cas key=x [\"b\", \"c\"]\n\
         0 ok cas key=x false\n0 invoke get key=x\n0 ok get key=x \"a\"",
        "linearizable",
    );
    check(
        "kv",
        "0 invoke append key=x \"a\"\n0 ok append key=x\n0 invoke cas key=x [\"a\", \"c\"]\n\
         0 ok cas key=x true\n0 invoke append key=x \"d\"\n0 ok append key=x\n\
         0 invoke get key=x\n0 ok get key=x \"cd\"",
        "linearizable",
    );
    // A false cas is an observation: a concurrent append can provide the other value ...
    check(
        "kv",
        "0 invoke put key=x \"a\"\n0 ok put key=x\n0 invoke cas key=x [\"a\", \"c\"]\n\
         1 invoke append key=x \"b\"\n1 ok append key=x\n0 ok cas key=x false",
        "linearizable",
    );
    check(
        "kv",
        "0 invoke put key=x \"a\"\n0 ok put key=x\n0 invoke cas key=x [\"a\", \"c\"]\n\
         0 ok cas key=x false",
        "not-linearizable",
    );
    // ... but then the append comes before the cas, and so before every append invoked after
    // the cas ended: "z" cannot precede "x" here.
    let fenced = |read: &str| {
        format!(
            "0 invoke put key=k \"y\"\n0 ok put key=k\n1 invoke append key=k \"x\"\n\
             2 invoke cas key=k [\"y\", \"q\"]\n2 ok cas key=k false\n3 invoke append key=k \"z\"\n\
             1 ok append key=k\n3 ok append key=k\n4 invoke get key=k\n4 ok get key=k \"{read}\""
        )
    };
    check("kv", &fenced("yxz"), "linearizable");
    check("kv", &fenced("yzx"), "not-linearizable");
    // With two appends open at the cas, one of them must precede it: "c", invoked after the
    // cas ended, can come between them but not first.
    let open = |read: &str| {
        format!(
            "1 invoke append key=k \"a\"\n2 invoke append key=k \"b\"\n\
             3 invoke cas key=k [\"\", \"q\"]\n3 ok cas key=k false\n4 invoke append key=k \"c\"\n\
             1 ok append key=k\n2 ok append key=k\n4 ok append key=k\n\
             5 invoke get key=k\n5 ok get key=k \"{read}\""
        )
    };
    check("kv", &open("acb"), "linearizable");
    check("kv", &open("bca"), "linearizable");
    check("kv", &open("cab"), "not-linearizable");
    // When every order of the open appends spells `from`, a false cas cannot be placed after
    // them, and before them it sees "".
    check(
        "kv",
        "1 invoke append key=k \"a\"\n1 ok append key=k\n1 invoke append key=k \"b\"\n\
         2 invoke cas key=k [\"ab\", \"q\"]\n1 ok append key=k\n2 ok cas key=k false\n\
         3 invoke get key=k\n3 ok get key=k \"ab\"",
        "linearizable",
    );
    check(
        "kv",
        "1 invoke append key=k \"a\"\n1 ok append key=k\n1 invoke append key=k \"b\"\n\
         1 ok append key=k\n2 invoke cas key=k [\"ab\", \"q\"]\n2 ok cas key=k false",
        "not-linearizable",
    );
    // An indeterminate cas may have taken effect, or not.
    for read in ["\"a\"", "\"b\""] {
        check(
            "kv",
            &format!(
                "0 invoke put key=x \"a\"\n0 ok put key=x\n0 invoke cas key=x [\"a\", \"b\"]\n\
                 0 info cas key=x\n1 invoke get key=x\n1 ok get key=x {read}"
            ),
            "linearizable",
        );
    }
    // A cas carries a boolean result and a [from, to] argument of strings.
    check(
        "kv",
        "0 invoke cas key=x [\"a\", \"b\"]\n0 ok cas key=x \"a\"",
        "error: history:2: an ok cas must carry true or false, found a string",
    );
    check(
        "kv",
        "0 invoke cas key=x \"a\"",
        "error: history:1: a cas's invoke value must be [from, to], found \"a\"",
    );
    check(
        "kv",
        "0 invoke cas key=x [1, \"b\"]",
        "error: history:1: a cas's `from` must be a string, found an integer",
    );
}

/// A model defined outside the crate: a counter with `add` and `value`, partitioned by key.
struct Counter;

impl Model for Counter {
    type State = i64;
    type Input = (Option<String>, Option<i64>);
    type Output = i64;

    fn init(&self) -> i64 {
        0
    }

    fn step(&self, state: &i64, input: &Self::Input, output: Option<&i64>) -> Option<i64> {
        match (input.1, output) {
            (Some(amount), _) => Some(state + amount),
            (None, Some(read)) => (read == state).then_some(*state),
            (None, None) => Some(*state),
        }
    }

    fn partition<'a>(&self, input: &'a Self::Input) -> Option<&'a str> {
        input.0.as_deref()
    }

    fn decode_input(
        &self,
        f: &str,
        key: Option<&str>,
        value: &Value,
    ) -> Result<Self::Input, String> {
        match f {
            "add" => Ok((
                key.map(str::to_owned),
                Some(value.as_i64().ok_or("add needs an integer")?),
            )),
            "value" => Ok((key.map(str::to_owned), None)),
            other => Err(format!("unknown f {other}")),
        }
    }

    fn decode_output(&self, input: &Self::Input, value: &Value) -> Result<i64, String> {
        match input.1 {
            Some(_) => Ok(0),
            None => value
                .as_i64()
                .ok_or_else(|| "value returns an integer".to_owned()),
        }
    }
}

// Goal: a model written by a user plugs into the same checker, partition included. Method:
// a counter whose concurrent adds commute, checked through `check` directly.
#[test]
fn user_model() {
    let cases = [
        // The add of 3 is concurrent with the read, the add of 2 precedes it.
        (
            "0 invoke add 2\n1 invoke add 3\n0 ok add\n2 invoke value\n2 ok value 5\n1 ok add",
            "linearizable",
        ),
        (
            "0 invoke add 2\n1 invoke add 3\n0 ok add\n2 invoke value\n2 ok value 2\n1 ok add",
            "linearizable",
        ),
        (
            "0 invoke add 2\n1 invoke add 3\n0 ok add\n2 invoke value\n2 ok value 3\n1 ok add",
            "not-linearizable",
        ),
        (
            "0 invoke add 2\n0 ok add\n1 invoke add 3\n1 ok add\n2 invoke value\n2 ok value 3",
            "not-linearizable",
        ),
        (
            "0 invoke add key=a 2\n0 ok add key=a\n2 invoke value key=b\n2 ok value key=b 0",
            "linearizable",
        ),
    ];
    for (text, expect) in cases {
        let report = check_history(&Counter, &history(text), &Limits::none()).expect("well-formed");
        assert_eq!(report.verdict.as_str(), expect, "history:\n{text}");
    }
}
