//! Which part of a trace a diagram draws: a window of at most a few thousand events, so that
//! no drawing exceeds [`SIDE_MAX`] pixels a side, however long the run.

use super::{GUTTER_WIDTH, HEADER_HEIGHT, LANE_WIDTH, RIGHT_MARGIN, ROW_HEIGHT};
use sim::trace::NO_NODE;
use sim::{Instant, TraceEvent, TraceRecord};
use std::collections::BTreeSet;

/// The largest side of a drawing in pixels (cairo's limit, and so `rsvg-convert`'s).
pub const SIDE_MAX: u64 = 32_767;
/// Events a diagram draws by default.
pub const EVENTS_DEFAULT: usize = 1_000;
/// Events that fit in [`SIDE_MAX`] pixels: each takes a row at most.
pub const EVENTS_MAX: usize = ((SIDE_MAX - HEADER_HEIGHT - 2 * ROW_HEIGHT) / ROW_HEIGHT) as usize;
/// Node lanes that fit in [`SIDE_MAX`] pixels.
pub const LANES_MAX: usize = ((SIDE_MAX - GUTTER_WIDTH - RIGHT_MARGIN) / LANE_WIDTH) as usize;

/// What to draw. The default draws the first [`EVENTS_DEFAULT`] events of every node; a
/// failing run's diagram ends at its violation (`to` and `end_anchored`).
#[derive(Clone, Debug)]
pub struct Window {
    /// Events before this virtual time are left out.
    pub from: Option<Instant>,
    /// Events after this virtual time are left out.
    pub to: Option<Instant>,
    /// Only these nodes' lanes (faults and phases are always drawn).
    pub nodes: Option<BTreeSet<u32>>,
    /// When more than `events_max` events are in the range: keep the last ones (the window
    /// ends at `to`, or at the end of the trace) rather than the first.
    pub end_anchored: bool,
    /// Events drawn at most; at most [`EVENTS_MAX`].
    pub events_max: usize,
}

impl Default for Window {
    fn default() -> Window {
        Window {
            from: None,
            to: None,
            nodes: None,
            end_anchored: false,
            events_max: EVENTS_DEFAULT,
        }
    }
}

impl Window {
    /// As much of the trace as fits: every event of a short run.
    pub fn all() -> Window {
        Window {
            events_max: EVENTS_MAX,
            ..Window::default()
        }
    }
}

/// The records to draw, and a note of what was left out.
pub(super) struct Selection<'a> {
    pub records: Vec<&'a TraceRecord>,
    pub note: String,
}

/// Timers, first starts and log lines are never drawn (they are in the text trace), nor
/// duplicates (the second arrow shows them).
pub(super) fn is_drawn(record: &TraceRecord) -> bool {
    !matches!(
        record.event,
        TraceEvent::TimerSet { .. }
            | TraceEvent::TimerFire { .. }
            | TraceEvent::TimerCancel { .. }
            | TraceEvent::Start { incarnation: 0 }
            | TraceEvent::Duplicate { .. }
            | TraceEvent::Log { .. }
    )
}

/// The nodes drawn: those asked for, else every node, but never more lanes than fit.
fn lanes(records: &[TraceRecord], window: &Window) -> (BTreeSet<u32>, usize) {
    let mut nodes: BTreeSet<u32> = records
        .iter()
        .flat_map(super::nodes_of)
        .filter(|n| {
            window
                .nodes
                .as_ref()
                .is_none_or(|chosen| chosen.contains(n))
        })
        .collect();
    let total = nodes.len();
    while nodes.len() > LANES_MAX {
        nodes.pop_last();
    }
    (nodes, total)
}

/// The events of `records` that a diagram of `window` draws (timers excluded), in order.
pub fn drawn_records<'a>(records: &'a [TraceRecord], window: &Window) -> Vec<&'a TraceRecord> {
    select(records, window).records
}

pub(super) fn select<'a>(records: &'a [TraceRecord], window: &Window) -> Selection<'a> {
    let (nodes, node_total) = lanes(records, window);
    let on_lanes = |r: &TraceRecord| {
        let target_drawn = match r.event {
            TraceEvent::Send { to, .. } => nodes.contains(&to),
            _ => true,
        };
        (r.node == NO_NODE || nodes.contains(&r.node)) && target_drawn
    };
    let in_time = |r: &TraceRecord| {
        let t = Instant::from_nanos(r.time_nanos);
        window.from.is_none_or(|from| t >= from) && window.to.is_none_or(|to| t <= to)
    };
    let drawable = records.iter().filter(|r| is_drawn(r));
    let (mut other_nodes, mut before, mut after) = (0u64, 0u64, 0u64);
    let mut candidates: Vec<&TraceRecord> = Vec::new();
    for record in drawable {
        if !on_lanes(record) {
            other_nodes += 1;
        } else if in_time(record) {
            candidates.push(record);
        } else if window
            .from
            .is_some_and(|from| record.time_nanos < from.as_nanos())
        {
            before += 1;
        } else {
            after += 1;
        }
    }
    let keep = window.events_max.min(EVENTS_MAX);
    let cut = candidates.len().saturating_sub(keep);
    if window.end_anchored {
        candidates.drain(..cut);
        before += cut as u64;
    } else {
        candidates.truncate(keep);
        after += cut as u64;
    }
    let note = note(
        &candidates,
        (before, after, other_nodes),
        (nodes.len(), node_total),
    );
    Selection {
        records: candidates,
        note,
    }
}

/// What the drawing shows and what it leaves out, in words.
fn note(
    shown: &[&TraceRecord],
    (before, after, other_nodes): (u64, u64, u64),
    (lanes, node_total): (usize, usize),
) -> String {
    let mut left_out = Vec::new();
    if before > 0 {
        left_out.push(format!("{before} events before"));
    }
    if after > 0 {
        left_out.push(format!("{after} after"));
    }
    if other_nodes > 0 {
        left_out.push(format!("{other_nodes} of other nodes"));
    }
    if lanes < node_total {
        left_out.push(format!("{} of {node_total} nodes", node_total - lanes));
    }
    let mut text = format!("{} events drawn", shown.len());
    if left_out.is_empty() {
        text.push_str(", none left out");
    } else {
        text.push_str(&format!(
            "; left out: {} (choose with replay's --diagram-from, --diagram-to, --diagram-nodes)",
            left_out.join(", ")
        ));
    }
    text.push_str("; timers are in the text trace");
    text
}
