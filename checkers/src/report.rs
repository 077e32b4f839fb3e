//! What a check found: the verdict, every operation as the history showed it, and per part
//! (key) the linearization found or, for a failure, the longest one and what blocked it.

use std::fmt;
use std::fmt::Write as _;

use serde_json::Value;

/// The answer of a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verdict {
    /// Some order of the operations, consistent with real time, is legal in the model.
    Linearizable,
    /// No such order exists.
    NotLinearizable,
    /// A time or memory limit given by the caller ran out first. Never a pass.
    Unknown,
}

impl Verdict {
    /// The spelling of the format and the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Linearizable => "linearizable",
            Verdict::NotLinearizable => "not-linearizable",
            Verdict::Unknown => "unknown",
        }
    }

    /// The verdict spelled `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Verdict> {
        [
            Verdict::Linearizable,
            Verdict::NotLinearizable,
            Verdict::Unknown,
        ]
        .into_iter()
        .find(|verdict| verdict.as_str() == name)
    }

    /// The verdict of a whole made of parts with these verdicts: one failing part fails the
    /// whole; otherwise one undecided part leaves the whole undecided.
    pub fn combine(self, other: Verdict) -> Verdict {
        match (self, other) {
            (Verdict::NotLinearizable, _) | (_, Verdict::NotLinearizable) => {
                Verdict::NotLinearizable
            }
            (Verdict::Unknown, _) | (_, Verdict::Unknown) => Verdict::Unknown,
            _ => Verdict::Linearizable,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// How an operation completed.
#[derive(Clone, Debug, PartialEq)]
pub enum Completion {
    /// Took effect and returned this value.
    Ok(Value),
    /// Did not take effect; dropped before checking.
    Fail,
    /// Completed `info`: may or may not have taken effect.
    Info,
    /// No completion before the end of the history; treated like `info`.
    Pending,
}

/// One operation of the history: an invocation and its completion, if any.
#[derive(Clone, Debug, PartialEq)]
pub struct Operation {
    /// Index in [`Report::operations`], in order of invocation.
    pub id: usize,
    /// The client that issued it.
    pub process: u64,
    /// The part it was checked in (its key), as the model's partition named it.
    pub part: Option<String>,
    /// The operation's name.
    pub f: String,
    /// The invocation's argument.
    pub argument: Value,
    /// How it completed.
    pub completion: Completion,
    /// Index of the invocation among the history's events.
    pub call_position: usize,
    /// Index of the completion among the history's events, if there was one.
    pub return_position: Option<usize>,
    /// Line of the invocation.
    pub call_line: usize,
    /// Line of the completion, if there was one.
    pub return_line: Option<usize>,
}

impl Operation {
    /// True when the operation may or may not have taken effect.
    pub fn is_indeterminate(&self) -> bool {
        matches!(self.completion, Completion::Info | Completion::Pending)
    }

    /// A one-line description such as `p3 cas [1,2] -> false (lines 10-14)`.
    pub fn describe(&self) -> String {
        let mut text = format!("p{} {}", self.process, self.f);
        if let Some(part) = &self.part {
            let _ = write!(text, " [{}]", quote(part));
        }
        if !self.argument.is_null() {
            let _ = write!(text, " {}", self.argument);
        }
        match &self.completion {
            Completion::Ok(value) => {
                let _ = write!(text, " -> {value}");
            }
            Completion::Fail => text.push_str(" -> fail"),
            Completion::Info => text.push_str(" -> info (indeterminate)"),
            Completion::Pending => text.push_str(" -> no completion (indeterminate)"),
        }
        match self.return_line {
            Some(line) => {
                let _ = write!(text, " (lines {}-{line})", self.call_line);
            }
            None => {
                let _ = write!(text, " (line {}-end)", self.call_line);
            }
        }
        text
    }
}

/// `key "k1"`, or `the register (no key)`.
fn part_name(part: &Part) -> String {
    match &part.key {
        Some(key) => format!("key {}", quote(key)),
        None => "the register (no key)".to_owned(),
    }
}

fn quote(text: &str) -> String {
    Value::String(text.to_owned()).to_string()
}

/// Why a part is not linearizable, as far as the search got.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// The operation that no order could place after the longest linearization: it had
    /// returned, so it had to be placed before anything invoked later.
    pub blocked: usize,
    /// Operations not yet linearized that were invoked before `blocked` returned: the
    /// candidates the search tried to place before it.
    pub candidates: Vec<usize>,
    /// The model state after the longest linearization, as the model describes it.
    pub state: String,
}

/// The result for one part (key) of the history.
#[derive(Clone, Debug, PartialEq)]
pub struct Part {
    /// The key; `None` for the part without one.
    pub key: Option<String>,
    /// This part's verdict.
    pub verdict: Verdict,
    /// Operation ids in linearization order: the whole linearization if there is one, the
    /// longest linearizable prefix found if not, and empty when undecided. Indeterminate
    /// operations that never took effect are absent.
    pub linearization: Vec<usize>,
    /// For a part that is not linearizable, what blocked it.
    pub failure: Option<Failure>,
    /// Number of (set of operations, state) pairs explored.
    pub states_explored: usize,
    /// For an unknown verdict: which limit ran out and what had been explored.
    pub unknown_reason: Option<String>,
}

/// The result of checking a history.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// The whole history's verdict (see [`Verdict::combine`]).
    pub verdict: Verdict,
    /// Every operation, `fail`ed ones included, in order of invocation.
    pub operations: Vec<Operation>,
    /// The number of events in the history checked.
    pub event_count: usize,
    /// The parts in key order.
    pub parts: Vec<Part>,
    /// For an unknown verdict, which limit ran out.
    pub unknown_reason: Option<String>,
}

impl Report {
    /// The first part that is not linearizable.
    pub fn failing_part(&self) -> Option<&Part> {
        self.parts
            .iter()
            .find(|part| part.verdict == Verdict::NotLinearizable)
    }

    /// A multi-line explanation a person can act on, readable on big histories: the first
    /// failing part (in key order) in full (its key, the longest linearizable prefix, the
    /// operation that cannot be placed and the candidates), one line per other failing
    /// part, then the parts left undecided and which limit ran out. `None` for a
    /// linearizable history. [`Report::explain_all`] gives every failing part in full.
    pub fn explain(&self) -> Option<String> {
        self.explanation(false)
    }

    /// [`Report::explain`] with every failing part in full.
    pub fn explain_all(&self) -> Option<String> {
        self.explanation(true)
    }

    fn explanation(&self, all_in_full: bool) -> Option<String> {
        if self.verdict == Verdict::Linearizable {
            return None;
        }
        let mut text = String::new();
        let mut failing = self
            .parts
            .iter()
            .filter_map(|part| Some((part, part.failure.as_ref()?)));
        if let Some((part, failure)) = failing.next() {
            self.explain_part(&mut text, part, failure);
        }
        for (part, failure) in failing {
            if all_in_full {
                self.explain_part(&mut text, part, failure);
            } else {
                let _ = writeln!(
                    text,
                    "also not linearizable: {} ({} operations, {} states explored): cannot place {}",
                    part_name(part),
                    self.operation_count(part),
                    part.states_explored,
                    self.operations[failure.blocked].describe()
                );
            }
        }
        self.explain_unknown(&mut text);
        Some(text)
    }

    /// The first undecided part with its reason, then the keys of the others.
    fn explain_unknown(&self, text: &mut String) {
        let mut unknown = self
            .parts
            .iter()
            .filter(|part| part.verdict == Verdict::Unknown);
        let Some(first) = unknown.next() else {
            return;
        };
        let _ = writeln!(
            text,
            "unknown: {}: {}",
            part_name(first),
            first.unknown_reason.as_deref().unwrap_or("a limit ran out")
        );
        let others: Vec<String> = unknown.map(part_name).collect();
        const NAMED_MAX: usize = 20;
        if !others.is_empty() {
            let mut names = others[..others.len().min(NAMED_MAX)].join(", ");
            if others.len() > NAMED_MAX {
                let _ = write!(names, " and {} more", others.len() - NAMED_MAX);
            }
            let _ = writeln!(text, "also unknown: {names}");
        }
    }

    /// Operations of `part` that were checked (all but the failed ones).
    fn operation_count(&self, part: &Part) -> usize {
        self.operations
            .iter()
            .filter(|operation| {
                operation.part == part.key && operation.completion != Completion::Fail
            })
            .count()
    }

    fn explain_part(&self, text: &mut String, part: &Part, failure: &Failure) {
        let _ = writeln!(
            text,
            "not linearizable: {} ({} operations, {} states explored)",
            part_name(part),
            self.operation_count(part),
            part.states_explored
        );
        let _ = writeln!(
            text,
            "  longest linearizable prefix ({} operations):",
            part.linearization.len()
        );
        for (rank, id) in part.linearization.iter().enumerate() {
            let _ = writeln!(
                text,
                "    {:>3}. {}",
                rank + 1,
                self.operations[*id].describe()
            );
        }
        let _ = writeln!(text, "  state after it: {}", failure.state);
        let _ = writeln!(
            text,
            "  cannot be placed next: {}",
            self.operations[failure.blocked].describe()
        );
        if failure.candidates.is_empty() {
            let _ = writeln!(
                text,
                "  it cannot complete as recorded in that state, and no other operation that \
                 could change the state was pending before it returned"
            );
        } else {
            let _ = writeln!(
                text,
                "  it cannot complete as recorded in that state, nor after any order of these \
                 operations, pending before it returned:"
            );
            for id in &failure.candidates {
                let _ = writeln!(text, "         {}", self.operations[*id].describe());
            }
        }
    }
}
