//! Disk operations as effects: applied to the node's disk when submitted (reads see every
//! write submitted so far), completed after a drawn latency in `Node::on_disk`, and made
//! durable at completion when they are syncs. A crash lets the disk decide what survives.

use super::nodes::Status;
use super::queue::Event;
use super::{Core, Simulation};
use crate::api::{IoId, Message, NodeId, Observation, Timer};
use crate::disk::{DiskOp, Durability, IoResult};
use crate::rng::stream;

impl<M: Message, T: Timer, O: Observation> Core<M, T, O> {
    pub(crate) fn disk_submit(&mut self, node: NodeId, IoId(id): IoId, op: DiskOp) {
        let index = node.index();
        self.trace.disk_submit(self.now, node.0, id, &op);
        let faults = &self.disk_config.faults;
        let faulty = faults.any()
            && (faults.unlimited
                || self.disk_faulty.contains(&node.0)
                || self.disk_faulty.len() < faults.nodes_max as usize);
        // The operation's draws (latency, faults): keyed by its node, when its incarnation
        // started and its number in the incarnation.
        let state = &mut self.nodes[index];
        let key = [state.started_at, state.io_since_start];
        state.io_since_start += 1;
        let mut rng = self.disk_keys[index].rng(key);
        let submitted = self.disks[index].submit(&op, &self.disk_config, faulty, &mut rng);
        for event in &submitted.events {
            self.count_fault(event.kind);
            let detail = format_args!("{}", event.detail);
            self.trace.fault(self.now, node.0, event.kind, detail);
            if event.kind != "disk-full" && !self.disk_faulty.contains(&node.0) {
                self.disk_faulty.push(node.0);
            }
        }
        let event = Event::DiskDone {
            node: node.0,
            incarnation: self.nodes[index].incarnation,
            id,
            result: submitted.result,
            durability: submitted.durability,
        };
        self.queue
            .push(self.now + submitted.latency.as_nanos(), event);
    }

    /// The node crashed: its disk keeps, loses or tears each unsynced operation.
    pub(super) fn crash_disk(&mut self, node: NodeId) {
        let index = node.index();
        // The crash's outcomes: keyed by the node and the crash's time (below 2^63 ns, 292
        // years), so that removing another crash from a plan leaves this one's as they were.
        let mut rng = self.disk_keys[index].rng_of_word(stream::CRASH_KEY | self.now);
        let events = self.disks[index].crash(&self.disk_config, &mut rng);
        for event in events {
            self.count_fault(event.kind);
            let detail = format_args!("{}", event.detail);
            self.trace.fault(self.now, node.0, event.kind, detail);
        }
    }
}

impl<M: Message, T: Timer, O: Observation> Simulation<M, T, O> {
    pub(super) fn disk_done(
        &mut self,
        node: u32,
        incarnation: u32,
        id: u64,
        result: IoResult,
        durability: Option<Durability>,
    ) {
        let core = &mut self.core;
        let state = &core.nodes[node as usize];
        if state.status != Status::Up || state.incarnation != incarnation {
            return; // The node crashed since: the crash already decided what survived.
        }
        if let Some(durability) = durability {
            core.disks[node as usize].make_durable(durability);
        }
        core.trace.disk_complete(core.now, node, id, &result);
        self.call(node, |instance, ctx| {
            instance.on_disk(ctx, IoId(id), result)
        });
    }
}
