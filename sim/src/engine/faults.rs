//! Applying faults: each kind to the part of the engine it concerns, and `heal_all`, which
//! repairs every fault for the liveness phase.

use super::Simulation;
use super::nodes::Status;
use crate::api::{Message, NodeId, Observation, Timer};
use crate::plan::Fault;
use crate::time::Duration;
use std::fmt;

impl<M: Message, T: Timer, O: Observation> Simulation<M, T, O> {
    pub(super) fn apply_fault(&mut self, fault: Fault) {
        let known = |n: &NodeId| n.index() < self.core.nodes.len();
        assert!(
            fault.nodes().iter().all(known),
            "{} names a node the simulation does not have",
            fault.kind()
        );
        let kind = fault.kind();
        let core = &mut self.core;
        let now = core.now;
        match &fault {
            Fault::Partition(partition) => {
                core.network.partition(partition);
                core.trace_link_fault(kind, format_args!("{partition}"));
            }
            Fault::Heal => {
                core.network.heal();
                core.trace_link_fault(kind, format_args!("all links restored"));
            }
            Fault::Crash(node) => self.crash(*node),
            Fault::Restart(node) | Fault::Start(node) => self.start(node.0),
            Fault::CrashLeader { episode } => {
                if !self.crash_leader(*episode) {
                    return;
                }
            }
            Fault::RestartLeader { episode } => {
                if let Some(node) = core.leader_crashes.remove(episode) {
                    self.start(node.0);
                }
            }
            Fault::Pause(node) => self.pause(*node),
            Fault::Resume(node) => self.resume(*node),
            Fault::Hold { from, to } => {
                core.network.set_held(*from, *to, true);
                core.trace_link_fault(kind, format_args!("{from} -> {to}"));
            }
            Fault::Release { from, to } => {
                core.trace_link_fault(kind, format_args!("{from} -> {to}"));
                core.release(*from, *to);
            }
            Fault::ClockJump { node, offset_nanos } => {
                core.nodes[node.index()].clock.jump(now, *offset_nanos);
                let offset = SignedNanos(*offset_nanos);
                core.trace
                    .fault(now, node.0, kind, format_args!("{offset}"));
            }
            Fault::ClockDrift { node, drift_ppm } => {
                core.nodes[node.index()].clock.drift(now, *drift_ppm);
                core.trace
                    .fault(now, node.0, kind, format_args!("{drift_ppm}ppm"));
            }
            Fault::Link { from, to, config } => {
                if let Some(config) = config {
                    config.validate().expect("invalid link override");
                }
                core.network.override_link(*from, *to, config.as_ref());
                match config {
                    Some(config) => {
                        core.trace_link_fault(kind, format_args!("{from} -> {to}: {config:?}"))
                    }
                    None => core.trace_link_fault(kind, format_args!("{from} -> {to}: default")),
                }
            }
        }
        if !fault.is_repair() {
            self.core.count_fault(kind);
        }
    }

    /// Crashes the node that leads, remembering it for the episode's restart; whether one led.
    fn crash_leader(&mut self, episode: u32) -> bool {
        let Some(node) = self.core.leader else {
            let detail = format_args!("no node leads: nothing crashed");
            self.core.trace_link_fault("crash-leader", detail);
            return false;
        };
        self.core.leader_crashes.insert(episode, node);
        self.crash(node);
        true
    }

    /// The liveness phase begins: every fault is healed. Partitions heal, held links release,
    /// paused nodes resume, crashed nodes restart, and lossy or duplicating links (overrides
    /// included) become reliable. Latency and clock skew stay: they are not faults.
    pub fn heal_all(&mut self) {
        self.begin_phase("liveness");
        self.apply_fault(Fault::Heal);
        for (from, to) in self.core.network.held_links() {
            self.apply_fault(Fault::Release { from, to });
        }
        self.core.network.make_reliable();
        // Disks stop failing; what they already lost or corrupted stays so, and a full disk
        // stays full.
        self.core.disk_config.faults.stop_new_faults();
        for node in 0..self.core.nodes.len() as u32 {
            let state = &self.core.nodes[node as usize];
            match state.status {
                Status::Paused => self.apply_fault(Fault::Resume(NodeId(node))),
                Status::Down if state.started => self.apply_fault(Fault::Restart(NodeId(node))),
                _ => {}
            }
        }
    }
}

/// `-250ms`, `+1s`.
struct SignedNanos(i64);

impl fmt::Display for SignedNanos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { '-' } else { '+' };
        write!(f, "{sign}{}", Duration::from_nanos(self.0.unsigned_abs()))
    }
}
