//! The event queue: a binary heap of (time, insertion sequence, slot) over a reusable slab of
//! events. The heap moves only small entries; an event stays in its slot from the moment it
//! is scheduled until it is handled, so delivering a message allocates nothing.

use crate::disk::{Durability, IoResult};
use crate::plan::Fault;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// An event's slot and the slot's generation when the event was pushed: a handle that goes
/// stale once the event is taken (the slot's generation moves on).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct Handle {
    slot: u32,
    generation: u32,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Entry {
    pub(super) time: u64,
    sequence: u64,
    pub(super) slot: u32,
}

pub(super) enum Event<M, T> {
    Start {
        node: u32,
    },
    Deliver {
        from: u32,
        to: u32,
        id: u64,
        /// Counted against its link's bounded queue.
        queued: bool,
        message: M,
    },
    /// A pending timer. Re-arming it later does not touch the heap: it moves `due`, and when
    /// the heap entry comes up before `due` the timer is queued again for `due` (so a timer
    /// reset on every heartbeat costs no heap operation and leaves no garbage behind).
    Timer {
        node: u32,
        incarnation: u32,
        id: u64,
        /// When it fires.
        due: u64,
        /// The time of its entry in the heap: at most `due`.
        queued_at: u64,
        timer: T,
    },
    Fault(Fault),
    DiskDone {
        node: u32,
        incarnation: u32,
        id: u64,
        result: IoResult,
        durability: Option<Durability>,
    },
}

impl<M, T> Event<M, T> {
    /// The node whose availability decides when the event can be handled.
    pub(super) fn target(&self) -> Option<u32> {
        match self {
            Event::Deliver { to, .. } => Some(*to),
            Event::Timer { node, .. } | Event::DiskDone { node, .. } => Some(*node),
            Event::Start { .. } | Event::Fault(_) => None,
        }
    }

    /// The event's kind, for messages about a run.
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Event::Start { .. } => "start",
            Event::Deliver { .. } => "deliver",
            Event::Timer { .. } => "timer",
            Event::Fault(_) => "fault",
            Event::DiskDone { .. } => "disk completion",
        }
    }
}

struct Slot<M, T> {
    /// Bumped each time the slot is freed, so a stale `Handle` cannot cancel a newer event.
    generation: u32,
    event: Option<Event<M, T>>,
}

/// Events ordered by (time, insertion sequence): two events at one instant run in the order
/// they were scheduled.
pub(super) struct EventQueue<M, T> {
    sequence: u64,
    heap: BinaryHeap<Reverse<Entry>>,
    slots: Vec<Slot<M, T>>,
    free_slots: Vec<u32>,
}

impl<M, T> EventQueue<M, T> {
    pub(super) fn new() -> EventQueue<M, T> {
        EventQueue {
            sequence: 0,
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free_slots: Vec::new(),
        }
    }

    /// Schedules `event` at `time`; the handle cancels it if it is a timer.
    #[inline]
    pub(super) fn push(&mut self, time: u64, event: Event<M, T>) -> Handle {
        let slot = match self.free_slots.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    event: None,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let entry = &mut self.slots[slot as usize];
        assert!(entry.event.is_none(), "a free slot holds an event");
        entry.event = Some(event);
        let generation = entry.generation;
        self.requeue(time, slot);
        Handle { slot, generation }
    }

    /// Schedules the event already in `slot` (again) at `time`, behind everything queued so far.
    #[inline]
    pub(super) fn requeue(&mut self, time: u64, slot: u32) {
        self.heap.push(Reverse(Entry {
            time,
            sequence: self.sequence,
            slot,
        }));
        self.sequence += 1;
    }

    /// The earliest entry, if it is due by `deadline`; removed from the heap.
    #[inline]
    pub(super) fn pop_due(&mut self, deadline: u64) -> Option<Entry> {
        match self.heap.peek() {
            Some(&Reverse(entry)) if entry.time <= deadline => {
                self.heap.pop();
                Some(entry)
            }
            _ => None,
        }
    }

    /// The event in `slot`, or `None` for a cancelled timer.
    #[inline]
    pub(super) fn get(&self, slot: u32) -> Option<&Event<M, T>> {
        self.slots[slot as usize].event.as_ref()
    }

    /// Takes the event out of `slot` and frees the slot.
    #[inline]
    pub(super) fn take(&mut self, slot: u32) -> Option<Event<M, T>> {
        let event = self.slots[slot as usize].event.take();
        self.free(slot);
        event
    }

    #[inline]
    fn free(&mut self, slot: u32) {
        let entry = &mut self.slots[slot as usize];
        entry.generation = entry.generation.wrapping_add(1);
        self.free_slots.push(slot);
    }

    /// The pending timer behind `handle`, if the handle is not stale.
    #[inline]
    pub(super) fn timer_mut(&mut self, handle: Handle) -> Option<&mut Event<M, T>> {
        let slot = &mut self.slots[handle.slot as usize];
        if slot.generation != handle.generation {
            return None;
        }
        slot.event.as_mut()
    }

    /// Queues a re-armed timer whose heap entry came up before it is due again, for `due`.
    /// Returns whether the slot held such a timer.
    #[inline]
    pub(super) fn requeue_rearmed(&mut self, slot: u32, now: u64) -> bool {
        let Some(Event::Timer { due, queued_at, .. }) = &mut self.slots[slot as usize].event else {
            return false;
        };
        if *due <= now {
            return false;
        }
        *queued_at = *due;
        let due = *due;
        self.requeue(due, slot);
        true
    }

    /// Cancels the timer behind `handle` if it is still pending and belongs to `node`;
    /// returns its trace id.
    pub(super) fn cancel_timer(&mut self, node: u32, handle: Handle) -> Option<u64> {
        let slot = self.slots.get_mut(handle.slot as usize)?;
        if slot.generation != handle.generation {
            return None;
        }
        let Some(Event::Timer {
            node: owner, id, ..
        }) = slot.event
        else {
            return None;
        };
        assert_eq!(owner, node, "n{node} cancelled another node's timer");
        slot.event = None;
        Some(id)
    }
}
