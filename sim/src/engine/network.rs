//! The simulated network: per-link configuration (defaults and overrides), partitions (cut
//! links), held links, bounded per-link queues, and the accounts of every message.
//!
//! A message is checked against partitions when it is sent and again when it arrives: nothing
//! is delivered across a cut link.

use super::nodes::{NodeState, Status};
use super::queue::Event;
use super::{Core, Simulation};
use crate::api::{Message, NodeId};
use crate::net::{LinkConfig, Partition};
use crate::trace::{DropReason, NO_NODE};

/// Message accounting: every message sent (plus every duplicate) is delivered, dropped or
/// still in flight.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct NetworkStats {
    pub sent: u64,
    pub duplicated: u64,
    pub delivered: u64,
    pub dropped: u64,
    pub in_flight: u64,
}

/// Dense tables indexed by `from * size + to`, built once before the run starts (nodes are
/// all added by then), so setting up `n` nodes costs O(n²), not O(n³).
pub(super) struct Network {
    size: usize,
    /// Index 0 is the node-to-node default, 1 the client default, later ones overrides.
    configs: Vec<LinkConfig>,
    link_config: Vec<u16>,
    cut: Vec<bool>,
    held: Vec<bool>,
    in_flight: Vec<u32>,
    /// Slots of held messages per link, in arrival order.
    held_messages: std::collections::BTreeMap<usize, Vec<u32>>,
    stats: NetworkStats,
}

impl Network {
    pub(super) fn new(link: LinkConfig, client_link: LinkConfig) -> Network {
        Network {
            size: 0,
            configs: vec![link, client_link],
            link_config: Vec::new(),
            cut: Vec::new(),
            held: Vec::new(),
            in_flight: Vec::new(),
            held_messages: Default::default(),
            stats: NetworkStats::default(),
        }
    }

    /// Builds the link tables for the node count, once: nodes are added before the run.
    #[inline]
    pub(super) fn build(&mut self, nodes: &[NodeState]) {
        if self.size != nodes.len() {
            self.build_tables(nodes);
        }
    }

    #[cold]
    fn build_tables(&mut self, nodes: &[NodeState]) {
        let size = nodes.len();
        assert_eq!(self.size, 0, "nodes were added after the run began");
        self.size = size;
        self.link_config = (0..size * size)
            .map(|link| default_config(nodes, (link / size) as u32, (link % size) as u32))
            .collect();
        self.cut = vec![false; size * size];
        self.held = vec![false; size * size];
        self.in_flight = vec![0; size * size];
    }

    #[inline]
    fn link(&self, from: u32, to: u32) -> usize {
        from as usize * self.size + to as usize
    }

    fn ends(&self, link: usize) -> (NodeId, NodeId) {
        (
            NodeId((link / self.size) as u32),
            NodeId((link % self.size) as u32),
        )
    }

    pub(super) fn stats(&self) -> NetworkStats {
        let in_flight = self.in_flight.iter().map(|&n| u64::from(n)).sum();
        NetworkStats {
            in_flight,
            ..self.stats
        }
    }

    /// Keeps a message arriving on a held link (into an up node) until the link is released.
    #[inline]
    pub(super) fn hold_if_held(
        &mut self,
        from: u32,
        to: u32,
        slot: u32,
        nodes: &[NodeState],
    ) -> bool {
        let link = self.link(from, to);
        if !self.held[link] || nodes[to as usize].status != Status::Up {
            return false;
        }
        self.held_messages.entry(link).or_default().push(slot);
        true
    }

    /// Links that are held or still hold messages, as (from, to), in link order.
    pub(super) fn held_links(&self) -> Vec<(NodeId, NodeId)> {
        let mut links: Vec<usize> = (0..self.held.len()).filter(|&l| self.held[l]).collect();
        links.extend(self.held_messages.keys());
        links.sort_unstable();
        links.dedup();
        links.into_iter().map(|l| self.ends(l)).collect()
    }

    /// Takes every message held on a link into `node`: they die with it.
    pub(super) fn take_held_into(&mut self, node: NodeId) -> Vec<u32> {
        let size = self.size;
        let links: Vec<usize> = self
            .held_messages
            .keys()
            .copied()
            .filter(|link| link % size == node.index())
            .collect();
        links
            .into_iter()
            .flat_map(|link| self.held_messages.remove(&link).unwrap_or_default())
            .collect()
    }

    /// A message that was in flight on (from, to) is gone: dropped (it was counted sent).
    pub(super) fn count_dropped_in_flight(&mut self, from: u32, to: u32) {
        let link = self.link(from, to);
        self.in_flight[link] -= 1;
        self.stats.dropped += 1;
    }

    /// Cuts exactly the links of `partition`, restoring every other.
    pub(super) fn partition(&mut self, partition: &Partition) {
        self.cut.iter_mut().for_each(|c| *c = false);
        for (from, to) in partition.cut_links() {
            let link = self.link(from.0, to.0);
            self.cut[link] = true;
        }
    }

    pub(super) fn heal(&mut self) {
        self.cut.iter_mut().for_each(|c| *c = false);
    }

    /// Holds or stops holding the link; a release returns the messages it held, in arrival
    /// order.
    pub(super) fn set_held(&mut self, from: NodeId, to: NodeId, held: bool) -> Vec<u32> {
        let link = self.link(from.0, to.0);
        self.held[link] = held;
        if held {
            return Vec::new();
        }
        self.held_messages.remove(&link).unwrap_or_default()
    }

    /// Sets or clears the override of one link.
    pub(super) fn override_link(
        &mut self,
        from: NodeId,
        to: NodeId,
        config: Option<&LinkConfig>,
        nodes: &[NodeState],
    ) {
        let link = self.link(from.0, to.0);
        self.link_config[link] = match config {
            Some(config) => {
                assert!(
                    self.configs.len() < usize::from(u16::MAX),
                    "too many link overrides"
                );
                self.configs.push(config.clone());
                (self.configs.len() - 1) as u16
            }
            None => default_config(nodes, from.0, to.0),
        };
    }

    /// Every link, overrides included, stops losing and duplicating messages.
    pub(super) fn make_reliable(&mut self) {
        for config in &mut self.configs {
            config.loss_ppm = 0;
            config.duplicate_ppm = 0;
        }
    }

    #[inline]
    fn config(&self, link: usize) -> &LinkConfig {
        &self.configs[self.link_config[link] as usize]
    }
}

fn default_config(nodes: &[NodeState], from: u32, to: u32) -> u16 {
    u16::from(nodes[from as usize].is_client || nodes[to as usize].is_client)
}

impl<M: Message, T: Message> Core<M, T> {
    #[inline]
    pub(crate) fn send(&mut self, from: NodeId, to: NodeId, message: M) {
        assert!(
            to.index() < self.nodes.len(),
            "{from} sent to unknown node {to}"
        );
        let (from, to) = (from.0, to.0);
        let id = self.next_message_id;
        self.next_message_id += 1;
        self.network.stats.sent += 1;
        self.trace.send(self.now, from, to, id, &message);
        let link = self.network.link(from, to);
        let config = self.network.config(link);
        let (loss_ppm, duplicate_ppm, capacity) =
            (config.loss_ppm, config.duplicate_ppm, config.queue_capacity);
        let dropped = if self.network.cut[link] {
            Some(DropReason::Partition)
        } else if self.network_rng.chance_ppm(loss_ppm) {
            self.count_fault("loss");
            Some(DropReason::Loss)
        } else if self.network.in_flight[link] >= capacity {
            Some(DropReason::QueueFull)
        } else {
            None
        };
        if let Some(reason) = dropped {
            self.network.stats.dropped += 1;
            self.trace.drop_message(self.now, from, to, id, reason);
            return;
        }
        if self.network_rng.chance_ppm(duplicate_ppm) && self.network.in_flight[link] + 1 < capacity
        {
            self.network.stats.duplicated += 1;
            self.count_fault("duplicate");
            self.trace.duplicate(self.now, from, to, id);
            self.put_in_flight(link, from, to, id, message.clone());
        }
        self.put_in_flight(link, from, to, id, message);
    }

    #[inline]
    fn put_in_flight(&mut self, link: usize, from: u32, to: u32, id: u64, message: M) {
        let latency = self
            .network
            .config(link)
            .latency
            .sample(&mut self.network_rng);
        self.network.in_flight[link] += 1;
        let event = Event::Deliver {
            from,
            to,
            id,
            message,
        };
        self.queue.push(self.now + latency.as_nanos(), event);
    }

    /// Sends held messages on with a fresh latency each, in the order they arrived.
    pub(super) fn release(&mut self, from: NodeId, to: NodeId) {
        let link = self.network.link(from.0, to.0);
        for slot in self.network.set_held(from, to, false) {
            let latency = self
                .network
                .config(link)
                .latency
                .sample(&mut self.network_rng);
            self.queue.requeue(self.now + latency.as_nanos(), slot);
        }
    }

    /// Drops the messages in `slots` (waiting for a node that crashed), freeing their slots.
    pub(super) fn drop_waiting(&mut self, slots: Vec<u32>) {
        for slot in slots {
            if let Some(Event::Deliver { from, to, id, .. }) = self.queue.take(slot) {
                self.network.count_dropped_in_flight(from, to);
                self.trace
                    .drop_message(self.now, from, to, id, DropReason::NodeDown);
            }
        }
    }

    pub(super) fn trace_link_fault(&mut self, kind: &str, detail: std::fmt::Arguments<'_>) {
        self.trace.fault(self.now, NO_NODE, kind, detail);
    }
}

impl<M: Message, T: Message> Simulation<M, T> {
    /// A message arrives: dropped if its node is down or the link is cut now, else handled.
    #[inline]
    pub(super) fn deliver(&mut self, from: u32, to: u32, id: u64, message: M) {
        let core = &mut self.core;
        let link = core.network.link(from, to);
        core.network.in_flight[link] -= 1;
        let reason = if core.nodes[to as usize].status == Status::Down {
            Some(DropReason::NodeDown)
        } else if core.network.cut[link] {
            Some(DropReason::Partition)
        } else {
            None
        };
        if let Some(reason) = reason {
            core.network.stats.dropped += 1;
            core.trace.drop_message(core.now, from, to, id, reason);
            return;
        }
        core.network.stats.delivered += 1;
        core.trace.deliver(core.now, from, to, id, &message);
        self.call(to, |node, ctx| node.on_message(ctx, NodeId(from), message));
    }
}
