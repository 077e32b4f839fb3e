//! The checkers by name: what each checks and what input it needs. A [`Violation`]'s
//! `checker` is one of these names.
//!
//! [`Violation`]: crate::checks::Violation

use crate::checks::{answered, counter, set_full, unique};

/// One checker, as the command line and reports name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CheckerInfo {
    /// The checker's name.
    pub name: &'static str,
    /// What it checks, in a sentence.
    pub summary: &'static str,
    /// The input it needs.
    pub needs: &'static str,
}

/// The name of the linearizability checker ([`crate::check`]).
pub const LINEARIZABLE: &str = "linearizable";

/// Every checker, in the order listings show them.
pub const CHECKERS: &[CheckerInfo] = &[
    CheckerInfo {
        name: LINEARIZABLE,
        summary: "the history is linearizable with respect to a model (register, cas-register, \
                  kv or a user model); a search limit that runs out gives unknown",
        needs: "history + model",
    },
    CheckerInfo {
        name: set_full::NAME,
        summary: "reads return only values broadcast, and not before; no node holds a value \
                  never broadcast; every acknowledged value is on every node at the end",
        needs: "history of broadcast and read + every node's values with when it learned each \
                + the settling time",
    },
    CheckerInfo {
        name: counter::NAME,
        summary: "every read lies between the adds acknowledged before it began and those not \
                  failed invoked before it ended; the final value is the acknowledged adds \
                  plus a subset of the indefinite ones",
        needs: "history of add and read + final counter value",
    },
    CheckerInfo {
        name: unique::NAME,
        summary: "every id returned ok is returned once",
        needs: "history",
    },
    CheckerInfo {
        name: answered::NAME,
        summary: "every operation invoked after the heal, early enough to be answered within \
                  the timeout before the end, completed with an accepted status",
        needs: "history with times + heal time, end time and timeout (+ accepted statuses)",
    },
];

/// The checker called `name`; the error names it and lists the valid names.
pub fn find(name: &str) -> Result<&'static CheckerInfo, String> {
    CHECKERS
        .iter()
        .find(|checker| checker.name == name)
        .ok_or_else(|| format!("unknown checker `{name}`; the checkers are {}", names()))
}

/// The names of all checkers, comma-separated, for error messages.
pub fn names() -> String {
    CHECKERS
        .iter()
        .map(|checker| checker.name)
        .collect::<Vec<_>>()
        .join(", ")
}
