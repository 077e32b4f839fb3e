//! History checkers, linearizability first. Independent of the simulator: a history can come
//! from a scenario, built in memory, or from a file written by any tool in the format of
//! `../shared/formats/history.md`.
//!
//! Checking an in-memory history:
//!
//! ```
//! use checkers::{CasRegister, Event, History, Limits, Verdict, check};
//! use serde_json::json;
//!
//! let mut history = History::new();
//! history.push(Event::invoke(0, "write", json!(3)));
//! history.push(Event::invoke(1, "read", json!(null)));
//! history.push(Event::ok(0, "write", json!(3)));
//! history.push(Event::ok(1, "read", json!(3)));
//! let report = check(&CasRegister, &history, &Limits::none()).expect("well-formed history");
//! assert_eq!(report.verdict, Verdict::Linearizable, "{:?}", report.explain());
//! ```
//!
//! Codemap: [`history`] reads and builds histories (JSON Lines, or EDN through [`edn`] and
//! [`jepsen`], which documents how Jepsen's histories map onto the format); [`model`] holds
//! the [`Model`] trait and the register models, [`kv`] the key-value model (`get`, `put`,
//! `append`, and `cas`, which it adds to the format);
//! [`ops`] pairs events into operations, the one pairing every checker uses;
//! [`linearizability`] decodes them through the model, splits them into independent parts
//! and checks them, one after another or on several threads; the search of one part is in
//! `search` and its memo in `memo`; [`report`] is what a check returns and how it explains a
//! failure; [`html`] draws it; [`synth`] generates histories for tests and benchmarks.
//! [`checks`] holds the other workloads' checks, each a [`Violation`] or none with its
//! statistics: [`checks::set_full`] (broadcast), [`checks::counter`] (adds and reads, a
//! subset sum), [`checks::unique`] (unique ids) and [`checks::answered`] (liveness after the
//! faults healed), with [`seconds`] and [`duration`] rendering times as the simulator does;
//! [`registry`] lists every checker by name.
//!
//! Limits: a history file holds at most [`HISTORY_BYTES_MAX`] bytes; each part's search
//! holds at most [`Limits::memory_bytes_max`] bytes of memo, counted before it grows, and a
//! part that needs more is `unknown` (as is every part still searching when
//! [`Limits::duration_max`] runs out). A part's verdict never depends on the other parts, so
//! [`check_parallel`] reports the same for any number of threads.
//!
//! **Architecture Invariant:** nothing here depends on the simulator (only on the protocol
//! API, `faultline-api`, whose history type, [`Event`], is the one every part of the project
//! reads and writes: a run's history needs no conversion to be checked), the only wall-clock
//! reads are the caller's optional time limit (`linearizability::deadline`), and the only
//! threads are those of [`check_parallel`], which the simulator never calls.

pub mod checks;
pub mod edn;
pub mod history;
pub mod html;
pub mod jepsen;
pub mod kv;
pub mod linearizability;
mod memo;
pub mod model;
pub mod ops;
pub mod registry;
pub mod report;
mod search;
pub mod synth;

pub use checks::answered::{Answered, check_answered, check_answered_with};
pub use checks::counter::{Counter, SUBSET_ITEMS_MAX, check_counter, subset_sum};
pub use checks::set_full::{NodeValues, SetFull, check_set_full};
pub use checks::unique::{UniqueIds, check_unique_ids};
pub use checks::{Property, Violation, duration, seconds};
pub use history::{
    Event, EventKind, HISTORY_BYTES_MAX, History, HistoryError, InputFormat, parse_history,
    read_history, read_history_as,
};
pub use html::render_html;
pub use kv::{Kv, KvInput, KvOp, KvOutput, KvState, Text};
pub use linearizability::{Limits, check, check_parallel};
pub use model::{
    CasRegister, Initialized, Model, Register, RegisterInput, RegisterOp, RegisterOutput, Span,
};
pub use ops::{Op, pair};
pub use registry::{CHECKERS, CheckerInfo};
pub use report::{Completion, Failure, Operation, Part, Report, Verdict};

use std::path::Path;

use serde_json::Value;

/// The models built in, by the names the format and the command line use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BuiltinModel {
    /// `register`: [`Register`].
    Register,
    /// `cas-register`: [`CasRegister`].
    CasRegister,
    /// `kv`: [`Kv`].
    Kv,
}

impl BuiltinModel {
    /// Every built-in model, in the order the format lists them.
    pub const ALL: [BuiltinModel; 3] = [
        BuiltinModel::Register,
        BuiltinModel::CasRegister,
        BuiltinModel::Kv,
    ];

    /// The model's name in the format.
    pub fn name(self) -> &'static str {
        match self {
            BuiltinModel::Register => "register",
            BuiltinModel::CasRegister => "cas-register",
            BuiltinModel::Kv => "kv",
        }
    }

    /// The model called `name`, if there is one.
    pub fn from_name(name: &str) -> Option<BuiltinModel> {
        BuiltinModel::ALL
            .into_iter()
            .find(|model| model.name() == name)
    }

    /// The names of all built-in models, comma-separated, for error messages.
    pub fn names() -> String {
        BuiltinModel::ALL.map(BuiltinModel::name).join(", ")
    }

    /// [`check`] with this model, one part after another, from the model's usual initial
    /// state.
    pub fn check(self, history: &History, limits: &Limits) -> Result<Report, HistoryError> {
        self.check_with(
            history,
            &CheckOptions {
                limits: *limits,
                ..CheckOptions::default()
            },
        )
    }

    /// The register's state for the initial value `initial` (null or an integer), for the
    /// register models; `kv` takes none (its keys start empty).
    pub fn initial_register(self, initial: &Value) -> Result<Option<i64>, String> {
        match (self, initial) {
            (_, Value::Null) => Ok(None),
            (BuiltinModel::Kv, _) => Err(
                "an initial value applies to the register models (register, cas-register); \
                 kv keys start empty"
                    .to_owned(),
            ),
            (_, value) => value.as_i64().map(Some).ok_or_else(|| {
                format!("the initial value must be null or a signed 64-bit integer, found {value}")
            }),
        }
    }

    /// [`check_parallel`] with this model and `options`.
    pub fn check_with(
        self,
        history: &History,
        options: &CheckOptions,
    ) -> Result<Report, HistoryError> {
        let initial = self
            .initial_register(&options.initial)
            .map_err(|message| HistoryError {
                path: history.path().map(Path::to_owned),
                line: 0,
                message,
            })?;
        let (limits, jobs) = (&options.limits, options.jobs);
        match self {
            BuiltinModel::Register => check_parallel(
                &Initialized {
                    model: Register,
                    initial,
                },
                history,
                limits,
                jobs,
            ),
            BuiltinModel::CasRegister => check_parallel(
                &Initialized {
                    model: CasRegister,
                    initial,
                },
                history,
                limits,
                jobs,
            ),
            BuiltinModel::Kv => check_parallel(&Kv, history, limits, jobs),
        }
    }
}

/// How [`BuiltinModel::check_with`] checks.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckOptions {
    /// Time and per-part memory.
    pub limits: Limits,
    /// Threads for the independent parts (keys); the report is the same for every number.
    pub jobs: usize,
    /// The register's value before any operation: null (the default) or an integer. Only
    /// for `register` and `cas-register`.
    pub initial: Value,
}

impl Default for CheckOptions {
    fn default() -> CheckOptions {
        CheckOptions {
            limits: Limits::none(),
            jobs: 1,
            initial: Value::Null,
        }
    }
}
