//! Lamport (space-time) diagrams: a run's messages drawn as a self-contained SVG file.
//!
//! One vertical lane per node, time flowing down, one arrow per delivered message from the
//! point it was sent to the point it was delivered (matched by message id, so a duplicate the
//! network injected is a second arrow from the same send). Dropped messages end in a red cross
//! where the network dropped them; messages still in flight when the trace ends run dashed to
//! its bottom edge. Faults and phases are horizontal lines across every lane; crashes,
//! restarts, pauses and protocol notes are marks on their node's lane; client operations are
//! labelled beside the client's lane. Hovering over any mark shows its full trace text.
//!
//! The vertical axis is event order, not a linear time scale, so that a run of a few hundred
//! messages over many seconds stays legible: events share a row when they happen at the same
//! virtual time (and a delivery is always below its send), and the gutter on the left gives the
//! virtual time of each row. Timers are left out: they are in the text trace.
//!
//! A diagram draws a window of the trace ([`Window`]): at most a few thousand events, so that
//! no side exceeds [`SIDE_MAX`] pixels (cairo's limit) however long the run. By default the
//! window is the first [`EVENTS_DEFAULT`] events; `replay` ends a failing run's window at its
//! violation. A note under the title says what was left out.
//!
//! The output is a pure function of the records and the window: the same trace gives the same
//! bytes.

mod svg;
mod window;

pub use window::{EVENTS_DEFAULT, EVENTS_MAX, LANES_MAX, SIDE_MAX, Window, drawn_records};

use crate::render_line;
use sim::trace::NO_NODE;
use sim::{Instant, TraceEvent, TraceRecord};
use std::collections::BTreeMap;

const ROW_HEIGHT: u64 = 16;
const LANE_WIDTH: u64 = 64;
/// Room for the time labels.
const GUTTER_WIDTH: u64 = 96;
/// Room for the title, the note of what was left out, and the legend.
const HEADER_HEIGHT: u64 = 100;
/// Room for the title line and the legend, however few the lanes.
const WIDTH_MIN: u64 = 960;
/// Room for fault texts and client labels right of the last lane.
const RIGHT_MARGIN: u64 = 300;
/// Client labels and fault texts are cut to this many characters; the tooltip has them whole.
const LABEL_CHARS_MAX: usize = 44;
/// Colours of message kinds, by first appearance; the palette repeats past its end.
const PALETTE: [&str; 8] = [
    "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f",
];
const DROP_COLOUR: &str = "#d62728";

/// Where an event sits on the drawing.
#[derive(Clone, Copy)]
struct Point {
    lane: u64,
    row: u64,
}

/// How rows are being filled. Events share a row when they happen at the same virtual time:
/// on one node that is one handler's work (a delivery and the sends it caused, or a fan-out),
/// across nodes it is simultaneity. A delivery always sits below its send, so every arrow
/// points down, even over a link without latency.
struct RowState {
    row: u64,
    time_nanos: u64,
    /// A fault or phase line: it has its row to itself.
    global: bool,
    empty: bool,
}

impl RowState {
    /// The row for an event (`global`: a fault or phase); `after` is a row the event must come
    /// below (its message's send).
    fn place(&mut self, time_nanos: u64, global: bool, after: Option<u64>) -> u64 {
        let fits = !self.empty
            && !self.global
            && !global
            && self.time_nanos == time_nanos
            && after.is_none_or(|row| row < self.row);
        if !fits && !self.empty {
            self.row += 1;
        }
        self.empty = false;
        self.time_nanos = time_nanos;
        self.global = global;
        self.row
    }
}

struct Send<'a> {
    at: Point,
    to: u32,
    text: &'a str,
    time_nanos: u64,
    /// Deliveries and drops seen so far.
    outcomes: u32,
}

enum Mark {
    Arrow {
        from: Point,
        to: Point,
        kind: usize,
        dropped: bool,
        /// Ends half a row below `to`'s row: a message refused when it was sent.
        half_row: bool,
        title: String,
    },
    /// A message still in flight at the end: runs to the bottom edge.
    Unfinished {
        from: Point,
        to_lane: u64,
        title: String,
    },
    Node {
        at: Point,
        symbol: &'static str,
        title: String,
    },
    Label {
        at: Point,
        text: String,
        title: String,
    },
    Line {
        row: u64,
        text: String,
        title: String,
    },
}

/// Renders the `window` of `records` (a trace recorded with `TraceLevel::Record`) as an SVG
/// document.
pub fn lamport_svg(records: &[TraceRecord], window: &Window) -> String {
    let selection = window::select(records, window);
    let drawing = Drawer::new(&selection.records).draw(&selection.records);
    svg::write(&drawing, &selection.note)
}

/// Everything the SVG writer needs: lanes, rows, marks and the counts of the title.
struct Drawing<'a> {
    nodes: Vec<u32>,
    row_count: u64,
    /// Time labels: the first row of each distinct time.
    row_times: Vec<(u64, u64)>,
    kinds: Vec<&'a str>,
    marks: Vec<Mark>,
    messages: usize,
    delivered: u64,
    dropped: u64,
    unfinished: u64,
    /// Virtual time of the first and last event drawn.
    first_nanos: u64,
    last_nanos: u64,
}

/// The state of a drawing while its records are placed, one at a time.
struct Drawer<'a> {
    nodes: Vec<u32>,
    lane_of: BTreeMap<u32, usize>,
    rows: RowState,
    row_times: Vec<(u64, u64)>,
    sends: BTreeMap<u64, Send<'a>>,
    kinds: Vec<&'a str>,
    marks: Vec<Mark>,
    delivered: u64,
    dropped: u64,
}

impl<'a> Drawer<'a> {
    fn new(records: &[&'a TraceRecord]) -> Drawer<'a> {
        let mut nodes: Vec<u32> = records.iter().flat_map(|r| nodes_of(r)).collect();
        nodes.sort_unstable();
        nodes.dedup();
        let lane_of = nodes.iter().enumerate().map(|(i, &n)| (n, i)).collect();
        Drawer {
            nodes,
            lane_of,
            rows: RowState {
                row: 0,
                time_nanos: 0,
                global: false,
                empty: true,
            },
            row_times: Vec::new(),
            sends: BTreeMap::new(),
            kinds: Vec::new(),
            marks: Vec::new(),
            delivered: 0,
            dropped: 0,
        }
    }

    fn draw(mut self, records: &[&'a TraceRecord]) -> Drawing<'a> {
        for record in records.iter().copied().filter(|r| window::is_drawn(r)) {
            self.add(record);
        }
        let mut unfinished = 0u64;
        for (id, send) in &self.sends {
            if send.outcomes == 0 {
                unfinished += 1;
                let title = format!(
                    "#{id} n{} -> n{} sent at {}: {}\nstill in flight (or held) at the end of the diagram",
                    self.nodes[send.at.lane as usize],
                    send.to,
                    Instant::from_nanos(send.time_nanos),
                    send.text
                );
                self.marks.push(Mark::Unfinished {
                    from: send.at,
                    to_lane: self.lane_of[&send.to] as u64,
                    title,
                });
            }
        }
        Drawing {
            row_count: if self.rows.empty {
                0
            } else {
                self.rows.row + 1
            },
            nodes: self.nodes,
            row_times: self.row_times,
            kinds: self.kinds,
            marks: self.marks,
            messages: self.sends.len(),
            delivered: self.delivered,
            dropped: self.dropped,
            unfinished,
            first_nanos: records.first().map_or(0, |r| r.time_nanos),
            last_nanos: records.last().map_or(0, |r| r.time_nanos),
        }
    }

    /// Places one record: its row, and its mark.
    fn add(&mut self, record: &'a TraceRecord) {
        let lane = self.lane_of.get(&record.node).copied();
        let send_row = match &record.event {
            TraceEvent::Deliver { id, .. } | TraceEvent::Drop { id, .. } => {
                self.sends.get(id).map(|s| (s.at.row, s.time_nanos))
            }
            _ => None,
        };
        // A message the network refused at once (a cut link) takes no row of its own: its
        // crossed arrow ends half a row below the send, so a fan-out into a partition stays
        // one row instead of a staircase.
        let refused_at_send = match (&record.event, send_row) {
            (TraceEvent::Drop { .. }, Some((row, time))) if time == record.time_nanos => Some(row),
            _ => None,
        };
        let row = match refused_at_send {
            Some(send_row) => send_row,
            None => self.rows.place(
                record.time_nanos,
                lane.is_none(),
                send_row.map(|(row, _)| row),
            ),
        };
        if refused_at_send.is_none()
            && self
                .row_times
                .last()
                .is_none_or(|&(_, t)| t != record.time_nanos)
        {
            self.row_times.push((row, record.time_nanos));
        }
        let at = Point {
            lane: lane.unwrap_or(0) as u64,
            row,
        };
        let title = render_line(record);
        match &record.event {
            TraceEvent::Send { to, id, message } => {
                let send = Send {
                    at,
                    to: *to,
                    text: message,
                    time_nanos: record.time_nanos,
                    outcomes: 0,
                };
                self.sends.insert(*id, send);
            }
            TraceEvent::Deliver { id, .. } | TraceEvent::Drop { id, .. } => {
                let dropped = matches!(record.event, TraceEvent::Drop { .. });
                self.arrow(*id, at, dropped, refused_at_send.is_some(), title);
            }
            event => self.marks.push(mark(event, record.node, at, title)),
        }
    }

    /// The arrow of a delivery or a drop of message `id`, which arrived at `at`.
    fn arrow(&mut self, id: u64, at: Point, dropped: bool, half_row: bool, title: String) {
        let Some(send) = self.sends.get_mut(&id) else {
            // The window began after the send: only the receiver's mark.
            self.marks.push(Mark::Node {
                at,
                symbol: "?",
                title,
            });
            return;
        };
        send.outcomes += 1;
        let kind_name = message_kind(send.text);
        let kind = match self.kinds.iter().position(|k| *k == kind_name) {
            Some(kind) => kind,
            None => {
                self.kinds.push(kind_name);
                self.kinds.len() - 1
            }
        };
        let mut title = format!(
            "#{id} n{} -> n{} sent at {}: {}\n{title}",
            self.nodes[send.at.lane as usize],
            send.to,
            Instant::from_nanos(send.time_nanos),
            send.text
        );
        if send.outcomes > 1 {
            title.push_str(" (a duplicate the network injected)");
        }
        if dropped {
            self.dropped += 1;
        } else {
            self.delivered += 1;
        }
        self.marks.push(Mark::Arrow {
            from: send.at,
            to: at,
            kind,
            dropped,
            half_row,
            title,
        });
    }
}

/// The mark of an event that is not a message.
/// The nodes an event concerns: its own, and a message's destination.
fn nodes_of(record: &TraceRecord) -> impl Iterator<Item = u32> {
    let target = match record.event {
        TraceEvent::Send { to, .. } => Some(to),
        _ => None,
    };
    [Some(record.node), target]
        .into_iter()
        .flatten()
        .filter(|&n| n != NO_NODE)
}

fn mark(event: &TraceEvent, node: u32, at: Point, title: String) -> Mark {
    match event {
        TraceEvent::Client {
            process,
            status,
            f,
            value,
            ..
        } => {
            let text = format!("{} p{process} {f} {value}", status.as_str());
            Mark::Label {
                at,
                text: shorten(&text),
                title,
            }
        }
        TraceEvent::Fault { kind, detail } if node == NO_NODE => Mark::Line {
            row: at.row,
            text: shorten(&format!("{kind} {detail}")),
            title,
        },
        TraceEvent::Fault { kind, detail } => Mark::Label {
            at,
            text: shorten(&format!("{kind} {detail}")),
            title,
        },
        TraceEvent::Phase { name } => Mark::Line {
            row: at.row,
            text: format!("phase: {name}"),
            title,
        },
        other => Mark::Node {
            at,
            symbol: symbol(other),
            title,
        },
    }
}

/// The symbol of an event drawn as a mark on its node's lane.
fn symbol(event: &TraceEvent) -> &'static str {
    match event {
        TraceEvent::Start { .. } => "restart",
        TraceEvent::Crash => "crash",
        TraceEvent::Pause => "pause",
        TraceEvent::Resume => "resume",
        TraceEvent::Hold { .. } => "hold",
        TraceEvent::Note { .. } => "note",
        TraceEvent::Observe { .. } => "observe",
        // Anything else that happens on a node (disk operations, say) is a plain mark.
        _ => "event",
    }
}

/// The message's kind: the variant name its `Debug` text starts with (`Gossip { .. }`).
fn message_kind(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    if end == 0 { "message" } else { &text[..end] }
}

fn shorten(text: &str) -> String {
    if text.chars().count() <= LABEL_CHARS_MAX {
        return text.to_string();
    }
    let cut: String = text.chars().take(LABEL_CHARS_MAX - 3).collect();
    cut + "..."
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim::DropReason;

    fn record(time_nanos: u64, node: u32, event: TraceEvent) -> TraceRecord {
        TraceRecord {
            time_nanos,
            node,
            event,
        }
    }

    // Goal: every message becomes exactly one arrow per outcome, drops are crossed, and text is
    // escaped. Method: a hand-made trace of three messages: delivered twice (a duplicate),
    // dropped, and never delivered.
    #[test]
    fn arrows_drops_and_escaping() {
        let send = |t, from, to, id| {
            record(
                t,
                from,
                TraceEvent::Send {
                    to,
                    id,
                    message: "Gossip { values: [1] } <&>".into(),
                },
            )
        };
        let records = vec![
            send(0, 0, 1, 0),
            send(0, 0, 2, 1),
            send(0, 1, 2, 2),
            record(
                5,
                1,
                TraceEvent::Deliver {
                    from: 0,
                    id: 0,
                    message: "Gossip".into(),
                },
            ),
            record(
                6,
                1,
                TraceEvent::Deliver {
                    from: 0,
                    id: 0,
                    message: "Gossip".into(),
                },
            ),
            record(
                7,
                2,
                TraceEvent::Drop {
                    from: 0,
                    id: 1,
                    reason: DropReason::Partition,
                },
            ),
        ];
        let svg = lamport_svg(&records, &Window::all());
        assert_eq!(
            svg.matches("marker-end=\"url(#head)\"").count(),
            2,
            "two deliveries of #0"
        );
        assert_eq!(svg.matches("class=\"msg dropped\"").count(), 1);
        assert_eq!(svg.matches("class=\"msg unfinished\"").count(), 1);
        assert_eq!(svg.matches("a duplicate the network injected").count(), 1);
        assert!(svg.contains("&lt;&amp;&gt;"));
        assert!(!svg.contains("<&>"));
        assert!(svg.contains("3 messages: 2 delivered, 1 dropped, 1 in flight"));
        assert_eq!(
            svg,
            lamport_svg(&records, &Window::all()),
            "the same records give the same bytes"
        );
    }

    // Goal: events at one time share a row, and a delivery sits below its send even with zero
    // latency. Method: a fan-out of two messages, sent and delivered at time 0; both arrows run
    // from the first row to the second.
    #[test]
    fn rows_are_shared_only_when_order_allows() {
        let records = vec![
            record(
                0,
                0,
                TraceEvent::Send {
                    to: 1,
                    id: 0,
                    message: "A".into(),
                },
            ),
            record(
                0,
                0,
                TraceEvent::Send {
                    to: 2,
                    id: 1,
                    message: "A".into(),
                },
            ),
            record(
                0,
                1,
                TraceEvent::Deliver {
                    from: 0,
                    id: 0,
                    message: "A".into(),
                },
            ),
            record(
                0,
                2,
                TraceEvent::Deliver {
                    from: 0,
                    id: 1,
                    message: "A".into(),
                },
            ),
        ];
        let svg = lamport_svg(&records, &Window::all());
        let top = HEADER_HEIGHT + ROW_HEIGHT;
        let below = top + ROW_HEIGHT;
        let arrow = |x2: u64| format!("y1=\"{top}\" x2=\"{x2}\" y2=\"{below}\"");
        let layout = svg::Layout { row_count: 2 };
        assert!(svg.contains(&arrow(layout.x(1))), "{svg}");
        assert!(svg.contains(&arrow(layout.x(2))), "{svg}");
    }
}
