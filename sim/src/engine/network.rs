//! The simulated network: per-link configuration (defaults and overrides), partitions (cut
//! links), held links, bounded per-link queues, and the accounts of every message.
//!
//! A message is checked against partitions when it is sent and again when it arrives: nothing
//! is delivered across a cut link.

use super::nodes::{NodeState, Status};
use super::queue::Event;
use super::{Core, Simulation};
use crate::api::{Message, NodeId, Observation, Timer};
use crate::net::{LinkConfig, Partition};
use crate::rng::KeyedRng;
use crate::trace::{DropReason, NO_NODE};
use std::collections::{BTreeMap, BTreeSet};

/// Message accounting: every message sent (plus every duplicate) is delivered, dropped or
/// still in flight.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct NetworkStats {
    /// Every message sent, whatever became of it.
    pub sent: u64,
    /// Of those, the messages a server sent to a server: what a protocol costs its group,
    /// counted by the engine, so a protocol cannot under-report it.
    pub sent_server_to_server: u64,
    /// A client's requests to servers.
    pub sent_client_to_server: u64,
    /// Servers' replies to clients.
    pub sent_server_to_client: u64,
    pub duplicated: u64,
    pub delivered: u64,
    pub dropped: u64,
    pub in_flight: u64,
}

/// A directed link's key in the sparse tables: `from << 32 | to`.
#[inline]
fn link(from: u32, to: u32) -> u64 {
    u64::from(from) << 32 | u64::from(to)
}

fn ends(link: u64) -> (NodeId, NodeId) {
    (NodeId((link >> 32) as u32), NodeId(link as u32))
}

/// Which links a partition cuts, as per-node labels: O(nodes) to set, O(1) to ask, however
/// many links it cuts.
enum Cut {
    None,
    /// Each node's group, 0 for a node in none: a link is cut between two different groups.
    Groups(Vec<u32>),
    /// Links from a `from` node to a `to` node are cut.
    OneWay {
        from: Vec<bool>,
        to: Vec<bool>,
    },
}

impl Cut {
    fn new(partition: &Partition) -> Cut {
        let label = |groups: &[&[NodeId]]| {
            let size = groups.iter().flat_map(|g| g.iter()).map(|n| n.index() + 1);
            let mut labels = vec![0; size.max().unwrap_or(0)];
            for (index, group) in groups.iter().enumerate() {
                for node in group.iter() {
                    labels[node.index()] = index as u32 + 1;
                }
            }
            labels
        };
        let flags = |nodes: &[NodeId]| {
            let mut flags = vec![false; nodes.iter().map(|n| n.index() + 1).max().unwrap_or(0)];
            nodes.iter().for_each(|n| flags[n.index()] = true);
            flags
        };
        match partition {
            Partition::Groups(groups) => {
                let groups: Vec<&[NodeId]> = groups.iter().map(Vec::as_slice).collect();
                Cut::Groups(label(&groups))
            }
            Partition::Bridge { left, right, .. } => Cut::Groups(label(&[left, right])),
            Partition::OneWay { from, to } => Cut::OneWay {
                from: flags(from),
                to: flags(to),
            },
        }
    }

    #[inline]
    fn cuts(&self, from: u32, to: u32) -> bool {
        match self {
            Cut::None => false,
            Cut::Groups(labels) => {
                let label = |n: u32| labels.get(n as usize).copied().unwrap_or(0);
                let (a, b) = (label(from), label(to));
                a != 0 && b != 0 && a != b
            }
            Cut::OneWay { from: f, to: t } => {
                f.get(from as usize).copied().unwrap_or(false)
                    && t.get(to as usize).copied().unwrap_or(false)
            }
        }
    }
}

/// The network's state. Per-node tables grow as nodes join (amortised O(1) a node); per-link
/// state is kept only for links that differ from their default (an override, a hold, messages
/// queued on a bounded link), so `n` nodes cost O(n) memory, not O(n²).
pub(super) struct Network {
    /// Index 0 is the node-to-node default, 1 the client default, later ones overrides.
    configs: Vec<LinkConfig>,
    is_client: Vec<bool>,
    /// Links whose configuration is overridden: the index into `configs`.
    overrides: BTreeMap<u64, u16>,
    cut: Cut,
    held: BTreeSet<u64>,
    /// Slots of held messages per link, in arrival order.
    held_messages: BTreeMap<u64, Vec<u32>>,
    /// Messages in flight on links with a bounded queue, counted against the bound.
    queued: BTreeMap<u64, u32>,
    /// Per link used, how many messages it has carried: a message's draws are keyed by its
    /// link and its number there (`Keys`), so no other message shifts them.
    sent: LinkCounts,
    /// Per link, how many held messages it has released (each draws a fresh latency).
    released: BTreeMap<u64, u32>,
    stats: NetworkStats,
}

/// Messages sent per link. A row per sender, indexed by receiver, for receivers below
/// `DENSE_MAX`: one array access a message, and a thousand nodes talking to each other at
/// random keep their counts (4 MB) within the last-level cache. Links to nodes past it, only in
/// simulations that large, are counted in a map. Memory: at most 4 * `DENSE_MAX` bytes per
/// sender. Counts fit 32 bits: a run handles at most `Config::events_max` events, far below
/// 2^32.
struct LinkCounts {
    rows: Vec<Vec<u32>>,
    far: BTreeMap<u64, u32>,
}

impl LinkCounts {
    const DENSE_MAX: usize = 1024;

    fn new() -> LinkCounts {
        LinkCounts {
            rows: Vec::new(),
            far: BTreeMap::new(),
        }
    }

    /// The number of the next message on `from -> to`, counting it.
    #[inline(always)]
    fn next(&mut self, from: u32, to: u32) -> u32 {
        let (from, to) = (from as usize, to as usize);
        let count = if to < LinkCounts::DENSE_MAX {
            // A row per node, made when it joins (`Network::add_node`).
            let row = &mut self.rows[from];
            if row.len() <= to {
                row.resize(to + 1, 0);
            }
            &mut row[to]
        } else {
            self.far.entry(link(from as u32, to as u32)).or_insert(0)
        };
        let number = *count;
        *count += 1;
        number
    }
}

/// The key of the draws of message `number` on `from -> to` (its loss, duplication, latency):
/// the link in 30 bits (node ids are below 2^15, `limits::NODES_MAX`) above the number's 32.
#[inline]
fn message_key(from: u32, to: u32, number: u32) -> u64 {
    const _: () = assert!(crate::limits::NODES_MAX <= 1 << 15);
    (u64::from(from) << 47) | (u64::from(to) << 32) | u64::from(number)
}

/// A released message's fresh latency is keyed `RELEASED | message_key(from, to, k)` for the
/// k-th message released on the link.
const RELEASED: u64 = 1 << 63;

impl Network {
    pub(super) fn new(link: LinkConfig, client_link: LinkConfig) -> Network {
        Network {
            configs: vec![link, client_link],
            is_client: Vec::new(),
            overrides: BTreeMap::new(),
            cut: Cut::None,
            held: BTreeSet::new(),
            held_messages: BTreeMap::new(),
            queued: BTreeMap::new(),
            sent: LinkCounts::new(),
            released: BTreeMap::new(),
            stats: NetworkStats::default(),
        }
    }

    pub(super) fn add_node(&mut self, is_client: bool) {
        self.is_client.push(is_client);
        self.sent.rows.push(Vec::new());
    }

    pub(super) fn stats(&self) -> NetworkStats {
        self.stats
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
        if self.held.is_empty() {
            return false;
        }
        let link = link(from, to);
        if !self.held.contains(&link) || nodes[to as usize].status != Status::Up {
            return false;
        }
        self.held_messages.entry(link).or_default().push(slot);
        true
    }

    /// Links that are held or still hold messages, as (from, to), in link order.
    pub(super) fn held_links(&self) -> Vec<(NodeId, NodeId)> {
        let links: BTreeSet<u64> = self
            .held
            .iter()
            .chain(self.held_messages.keys())
            .copied()
            .collect();
        links.into_iter().map(ends).collect()
    }

    /// Takes every message held on a link into `node`: they die with it.
    pub(super) fn take_held_into(&mut self, node: NodeId) -> Vec<u32> {
        let links: Vec<u64> = self
            .held_messages
            .keys()
            .copied()
            .filter(|&link| ends(link).1 == node)
            .collect();
        links
            .into_iter()
            .flat_map(|link| self.held_messages.remove(&link).unwrap_or_default())
            .collect()
    }

    /// A message that was in flight on (from, to) is gone: dropped (it was counted sent).
    pub(super) fn count_dropped_in_flight(&mut self, from: u32, to: u32, queued: bool) {
        self.leave(from, to, queued);
        self.stats.dropped += 1;
    }

    /// A message leaves the link it was in flight on.
    #[inline]
    fn leave(&mut self, from: u32, to: u32, queued: bool) {
        self.stats.in_flight -= 1;
        if queued {
            let link = link(from, to);
            let count = self
                .queued
                .get_mut(&link)
                .expect("a queued message is counted");
            *count -= 1;
            if *count == 0 {
                self.queued.remove(&link);
            }
        }
    }

    /// Cuts exactly the links of `partition`, restoring every other.
    pub(super) fn partition(&mut self, partition: &Partition) {
        self.cut = Cut::new(partition);
    }

    pub(super) fn heal(&mut self) {
        self.cut = Cut::None;
    }

    #[inline]
    fn is_cut(&self, from: u32, to: u32) -> bool {
        self.cut.cuts(from, to)
    }

    /// Holds or stops holding the link; a release returns the messages it held, in arrival
    /// order.
    pub(super) fn set_held(&mut self, from: NodeId, to: NodeId, held: bool) -> Vec<u32> {
        let link = link(from.0, to.0);
        if held {
            self.held.insert(link);
            return Vec::new();
        }
        self.held.remove(&link);
        self.held_messages.remove(&link).unwrap_or_default()
    }

    /// Sets or clears the override of one link.
    pub(super) fn override_link(&mut self, from: NodeId, to: NodeId, config: Option<&LinkConfig>) {
        let link = link(from.0, to.0);
        match config {
            Some(config) => {
                assert!(
                    self.configs.len() < usize::from(u16::MAX),
                    "too many link overrides"
                );
                self.configs.push(config.clone());
                self.overrides.insert(link, (self.configs.len() - 1) as u16);
            }
            None => {
                self.overrides.remove(&link);
            }
        }
    }

    /// Every link, overrides included, stops losing and duplicating messages.
    pub(super) fn make_reliable(&mut self) {
        for config in &mut self.configs {
            config.loss_ppm = 0;
            config.duplicate_ppm = 0;
        }
    }

    #[inline]
    fn config(&self, from: u32, to: u32) -> &LinkConfig {
        if !self.overrides.is_empty()
            && let Some(&index) = self.overrides.get(&link(from, to))
        {
            return &self.configs[index as usize];
        }
        let client = self.is_client[from as usize] || self.is_client[to as usize];
        &self.configs[usize::from(client)]
    }
}

impl<M: Message, T: Timer, O: Observation> Core<M, T, O> {
    #[inline]
    pub(crate) fn send(&mut self, from: NodeId, to: NodeId, message: M) {
        assert!(
            to.index() < self.nodes.len(),
            "{from} sent to unknown node {to}"
        );
        let (from, to) = (from.0, to.0);
        let id = self.next_message_id;
        self.next_message_id += 1;
        let stats = &mut self.network.stats;
        stats.sent += 1;
        match (
            self.nodes[from as usize].is_client,
            self.nodes[to as usize].is_client,
        ) {
            (false, false) => stats.sent_server_to_server += 1,
            (true, false) => stats.sent_client_to_server += 1,
            (false, true) => stats.sent_server_to_client += 1,
            (true, true) => {}
        }
        self.trace.send(self.now, from, to, id, &message);
        let config = self.network.config(from, to);
        let (loss_ppm, duplicate_ppm, capacity) =
            (config.loss_ppm, config.duplicate_ppm, config.queue_capacity);
        let bounded = capacity != u32::MAX;
        let queued = |network: &Network| match bounded {
            true => network.queued.get(&link(from, to)).copied().unwrap_or(0),
            false => 0,
        };
        // The message's draws: keyed by its link and its number there.
        let number = self.network.sent.next(from, to);
        let mut rng = self.network_keys.rng_of_word(message_key(from, to, number));
        let dropped = if self.network.is_cut(from, to) {
            Some(DropReason::Partition)
        } else if rng.chance_ppm(loss_ppm) {
            self.count_fault("loss");
            Some(DropReason::Loss)
        } else if bounded && queued(&self.network) >= capacity {
            Some(DropReason::QueueFull)
        } else {
            None
        };
        if let Some(reason) = dropped {
            self.network.stats.dropped += 1;
            self.trace.drop_message(self.now, from, to, id, reason);
            return;
        }
        if rng.chance_ppm(duplicate_ppm) && queued(&self.network) + 1 < capacity {
            self.network.stats.duplicated += 1;
            self.count_fault("duplicate");
            self.trace.duplicate(self.now, from, to, id);
            self.put_in_flight(from, to, id, message.clone(), bounded, &mut rng);
        }
        self.put_in_flight(from, to, id, message, bounded, &mut rng);
    }

    #[inline]
    fn put_in_flight(
        &mut self,
        from: u32,
        to: u32,
        id: u64,
        message: M,
        queued: bool,
        rng: &mut KeyedRng,
    ) {
        let latency = self.network.config(from, to).latency.sample(rng);
        self.network.stats.in_flight += 1;
        if queued {
            *self.network.queued.entry(link(from, to)).or_insert(0) += 1;
        }
        let event = Event::Deliver {
            from,
            to,
            id,
            queued,
            message,
        };
        self.queue.push(self.now + latency.as_nanos(), event);
    }

    /// Sends held messages on with a fresh latency each, in the order they arrived.
    pub(super) fn release(&mut self, from: NodeId, to: NodeId) {
        for slot in self.network.set_held(from, to, false) {
            let released = self.network.released.entry(link(from.0, to.0)).or_insert(0);
            let key = RELEASED | message_key(from.0, to.0, *released);
            *released += 1;
            let mut rng = self.network_keys.rng_of_word(key);
            let latency = self.network.config(from.0, to.0).latency.sample(&mut rng);
            self.queue.requeue(self.now + latency.as_nanos(), slot);
        }
    }

    /// Drops the messages in `slots` (waiting for a node that crashed), freeing their slots.
    pub(super) fn drop_waiting(&mut self, slots: Vec<u32>) {
        for slot in slots {
            if let Some(Event::Deliver {
                from,
                to,
                id,
                queued,
                ..
            }) = self.queue.take(slot)
            {
                self.network.count_dropped_in_flight(from, to, queued);
                self.trace
                    .drop_message(self.now, from, to, id, DropReason::NodeDown);
            }
        }
    }

    pub(super) fn trace_link_fault(&mut self, kind: &str, detail: std::fmt::Arguments<'_>) {
        self.trace.fault(self.now, NO_NODE, kind, detail);
    }
}

impl<M: Message, T: Timer, O: Observation> Simulation<M, T, O> {
    /// A message arrives: dropped if its node is down or the link is cut now, else handled.
    #[inline]
    pub(super) fn deliver(&mut self, from: u32, to: u32, id: u64, queued: bool, message: M) {
        let core = &mut self.core;
        core.network.leave(from, to, queued);
        let reason = if core.nodes[to as usize].status == Status::Down {
            Some(DropReason::NodeDown)
        } else if core.network.is_cut(from, to) {
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
