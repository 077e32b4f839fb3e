//! Online checkers: code outside every node that sees each observation of each node as it
//! happens ([`crate::Context::observe`]), crashed incarnations included, and may fail the run
//! at that event. Any host runs them the same way: the simulator, a real host, a unit test.
//!
//! A checker keeps what it needs of earlier observations itself, so a node's crash erases
//! nothing it saw: "one leader per term" still knows who led term 3 after that node crashed.

use crate::node::NodeId;
use crate::time::Instant;

/// One observation as its host hands it on: who reported it, when, and where in the run.
#[derive(Clone, Copy, Debug)]
pub struct Observed<'a, O> {
    /// Global virtual time (a real host's own clock), never the node's local clock.
    pub time: Instant,
    pub node: NodeId,
    /// The node's incarnation: 0 before its first restart.
    pub incarnation: u32,
    /// The observation's position among the run's trace events (0 is the first event).
    pub event: u64,
    pub observation: &'a O,
}

/// A checker that judges observations as they happen.
pub trait OnlineChecker<O> {
    /// The checker's name, as verdicts show it.
    fn name(&self) -> &str;

    /// Judges one observation: `Err` says what is wrong, and ends the run at this event.
    fn observe(&mut self, observed: Observed<'_, O>) -> Result<(), String>;
}

/// An online checker from a name and a closure.
pub struct FnChecker<F> {
    name: String,
    check: F,
}

/// `checker("one-leader-per-term", move |observed| ...)`.
pub fn checker<O, F>(name: impl Into<String>, check: F) -> FnChecker<F>
where
    F: FnMut(Observed<'_, O>) -> Result<(), String>,
{
    FnChecker {
        name: name.into(),
        check,
    }
}

impl<O, F> OnlineChecker<O> for FnChecker<F>
where
    F: FnMut(Observed<'_, O>) -> Result<(), String>,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn observe(&mut self, observed: Observed<'_, O>) -> Result<(), String> {
        (self.check)(observed)
    }
}

/// Where and by which checker a run was found wrong, as an online checker reported it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Violation {
    pub checker: String,
    pub message: String,
    pub time: Instant,
    pub node: NodeId,
    pub event: u64,
}
