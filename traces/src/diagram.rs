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
//! The output is a pure function of the records: the same trace gives the same bytes.

use crate::render_line;
use sim::trace::NO_NODE;
use sim::{Instant, TraceEvent, TraceRecord};
use std::collections::BTreeMap;
use std::fmt::Write;

const ROW_HEIGHT: u64 = 16;
const LANE_WIDTH: u64 = 64;
/// Room for the time labels.
const GUTTER_WIDTH: u64 = 96;
/// Room for the title and the legend.
const HEADER_HEIGHT: u64 = 84;
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

/// Renders `records` (a trace recorded with `TraceLevel::Record`) as an SVG document.
pub fn lamport_svg(records: &[TraceRecord]) -> String {
    let mut nodes: Vec<u32> = records
        .iter()
        .flat_map(|r| {
            let target = match r.event {
                TraceEvent::Send { to, .. } => Some(to),
                _ => None,
            };
            [Some(r.node), target]
        })
        .flatten()
        .filter(|&n| n != NO_NODE)
        .collect();
    nodes.sort_unstable();
    nodes.dedup();
    let lane_of: BTreeMap<u32, usize> = nodes.iter().enumerate().map(|(i, &n)| (n, i)).collect();

    let mut rows = RowState {
        row: 0,
        time_nanos: 0,
        global: false,
        empty: true,
    };
    // Time labels: the first row of each distinct time.
    let mut row_times: Vec<(u64, u64)> = Vec::new();
    let mut sends: BTreeMap<u64, Send<'_>> = BTreeMap::new();
    let mut kinds: Vec<&str> = Vec::new();
    let mut marks: Vec<Mark> = Vec::new();
    let (mut delivered, mut dropped) = (0u64, 0u64);

    for record in records {
        let lane = lane_of.get(&record.node).copied();
        let after = match &record.event {
            TraceEvent::Deliver { id, .. } | TraceEvent::Drop { id, .. } => {
                sends.get(id).map(|s| s.at.row)
            }
            _ => None,
        };
        let drawn = !matches!(
            record.event,
            TraceEvent::TimerSet { .. }
                | TraceEvent::TimerFire { .. }
                | TraceEvent::TimerCancel { .. }
                | TraceEvent::Start { incarnation: 0 }
                | TraceEvent::Duplicate { .. }
        );
        if !drawn {
            continue;
        }
        // A message the network refused at once (a cut link) takes no row of its own: its
        // crossed arrow ends half a row below the send, so a fan-out into a partition stays
        // one row instead of a staircase.
        let refused_at_send = match &record.event {
            TraceEvent::Drop { id, .. } => sends
                .get(id)
                .filter(|s| s.time_nanos == record.time_nanos)
                .map(|s| s.at.row),
            _ => None,
        };
        let row = match refused_at_send {
            Some(send_row) => send_row,
            None => rows.place(record.time_nanos, lane.is_none(), after),
        };
        if refused_at_send.is_none()
            && row_times
                .last()
                .is_none_or(|&(_, t)| t != record.time_nanos)
        {
            row_times.push((row, record.time_nanos));
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
                sends.insert(*id, send);
            }
            TraceEvent::Deliver { id, .. } | TraceEvent::Drop { id, .. } => {
                let is_drop = matches!(record.event, TraceEvent::Drop { .. });
                let Some(send) = sends.get_mut(id) else {
                    // The trace began after the send (a trimmed trace): only the receiver's mark.
                    marks.push(Mark::Node {
                        at,
                        symbol: "?",
                        title,
                    });
                    continue;
                };
                send.outcomes += 1;
                let kind_name = message_kind(send.text);
                let kind = match kinds.iter().position(|k| *k == kind_name) {
                    Some(kind) => kind,
                    None => {
                        kinds.push(kind_name);
                        kinds.len() - 1
                    }
                };
                let mut title = format!(
                    "#{id} n{} -> n{} sent at {}: {}\n{title}",
                    nodes[send.at.lane as usize],
                    send.to,
                    Instant::from_nanos(send.time_nanos),
                    send.text
                );
                if send.outcomes > 1 {
                    title.push_str(" (a duplicate the network injected)");
                }
                if is_drop {
                    dropped += 1;
                } else {
                    delivered += 1;
                }
                marks.push(Mark::Arrow {
                    from: send.at,
                    to: at,
                    kind,
                    dropped: is_drop,
                    half_row: refused_at_send.is_some(),
                    title,
                });
            }
            TraceEvent::Start { .. } => marks.push(Mark::Node {
                at,
                symbol: "restart",
                title,
            }),
            TraceEvent::Crash => marks.push(Mark::Node {
                at,
                symbol: "crash",
                title,
            }),
            TraceEvent::Pause => marks.push(Mark::Node {
                at,
                symbol: "pause",
                title,
            }),
            TraceEvent::Resume => marks.push(Mark::Node {
                at,
                symbol: "resume",
                title,
            }),
            TraceEvent::Hold { .. } => marks.push(Mark::Node {
                at,
                symbol: "hold",
                title,
            }),
            TraceEvent::Note { .. } => marks.push(Mark::Node {
                at,
                symbol: "note",
                title,
            }),
            TraceEvent::Client {
                process,
                status,
                f,
                value,
                ..
            } => {
                let text = format!("{} p{process} {f} {value}", status.as_str());
                marks.push(Mark::Label {
                    at,
                    text: shorten(&text),
                    title,
                });
            }
            TraceEvent::Fault { kind, detail } if record.node == NO_NODE => {
                let text = shorten(&format!("{kind} {detail}"));
                marks.push(Mark::Line { row, text, title });
            }
            TraceEvent::Fault { kind, detail } => {
                let text = shorten(&format!("{kind} {detail}"));
                marks.push(Mark::Label { at, text, title });
            }
            TraceEvent::Phase { name } => {
                let text = format!("phase: {name}");
                marks.push(Mark::Line { row, text, title });
            }
            // Anything else that happens on a node (disk operations, say) is a plain mark.
            _ => marks.push(Mark::Node {
                at,
                symbol: "event",
                title,
            }),
        }
    }
    let mut unfinished = 0u64;
    for (id, send) in &sends {
        if send.outcomes == 0 {
            unfinished += 1;
            let title = format!(
                "#{id} n{} -> n{} sent at {}: {}\nstill in flight (or held) when the trace ends",
                nodes[send.at.lane as usize],
                send.to,
                Instant::from_nanos(send.time_nanos),
                send.text
            );
            marks.push(Mark::Unfinished {
                from: send.at,
                to_lane: lane_of[&send.to] as u64,
                title,
            });
        }
    }

    let row_count = if rows.empty { 0 } else { rows.row + 1 };
    let layout = Layout { row_count };
    let width = (GUTTER_WIDTH + LANE_WIDTH * nodes.len() as u64 + RIGHT_MARGIN).max(WIDTH_MIN);
    let height = layout.y(row_count) + ROW_HEIGHT;
    let mut svg = String::with_capacity(4096 + marks.len() * 256);
    let w = &mut svg;
    out(
        w,
        format_args!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"monospace\" font-size=\"11\">\n"
        ),
    );
    out(
        w,
        format_args!(
            "<style>\n\
         .lane {{ stroke: #bbb; stroke-width: 1; }}\n\
         .msg {{ stroke-width: 1.3; fill: none; }}\n\
         .msg:hover {{ stroke-width: 3.5; }}\n\
         .dropped {{ stroke: {DROP_COLOUR}; stroke-dasharray: 4 3; }}\n\
         .unfinished {{ stroke: #999; stroke-dasharray: 2 4; }}\n\
         .fault {{ stroke: #444; stroke-dasharray: 8 4; }}\n\
         .time {{ fill: #666; text-anchor: end; }}\n\
         .label {{ fill: #333; font-size: 10px; }}\n\
         .node {{ font-weight: bold; text-anchor: middle; }}\n\
         </style>\n"
        ),
    );
    out(
        w,
        format_args!(
            "<defs><marker id=\"head\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"context-stroke\"/></marker></defs>\n"
        ),
    );
    out(
        w,
        format_args!("<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n"),
    );
    let (first, last) = (
        records.first().map_or(0, |r| r.time_nanos),
        records.last().map_or(0, |r| r.time_nanos),
    );
    out(
        w,
        format_args!(
            "<text x=\"8\" y=\"18\" font-size=\"13\">{} nodes, {} messages: {delivered} delivered, {dropped} dropped, {unfinished} in flight at the end; virtual time {} to {}</text>\n",
            nodes.len(),
            sends.len(),
            Instant::from_nanos(first),
            Instant::from_nanos(last),
        ),
    );
    // The legend: one swatch per message kind, then the special arrows.
    let mut x = 8;
    for (kind, name) in kinds.iter().enumerate() {
        let colour = PALETTE[kind % PALETTE.len()];
        let swatch_width = 36 + 7 * name.len() as u64;
        if x + swatch_width > width {
            // Kinds past the end of the line are left out of the legend; every arrow's tooltip
            // still names its message.
            break;
        }
        out(
            w,
            format_args!(
                "<line x1=\"{x}\" y1=\"38\" x2=\"{}\" y2=\"38\" stroke=\"{colour}\" stroke-width=\"2\"/><text x=\"{}\" y=\"42\">{}</text>\n",
                x + 20,
                x + 24,
                escape(name)
            ),
        );
        x += swatch_width;
    }
    out(
        w,
        format_args!(
            "<line x1=\"8\" y1=\"56\" x2=\"28\" y2=\"56\" class=\"dropped\"/><text x=\"32\" y=\"60\">dropped (x)</text>\
         <line x1=\"128\" y1=\"56\" x2=\"148\" y2=\"56\" class=\"unfinished\"/><text x=\"152\" y=\"60\">in flight at the end</text>\
         <text x=\"320\" y=\"60\">rows are event order; hover for the trace line</text>\n"
        ),
    );
    for (lane, node) in nodes.iter().enumerate() {
        let x = layout.x(lane as u64);
        out(
            w,
            format_args!(
                "<text x=\"{x}\" y=\"{}\" class=\"node\">n{node}</text><line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" class=\"lane\"/>\n",
                HEADER_HEIGHT - 8,
                HEADER_HEIGHT,
                layout.y(row_count)
            ),
        );
    }
    for &(row, time) in &row_times {
        out(
            w,
            format_args!(
                "<text x=\"{}\" y=\"{}\" class=\"time\">{}</text>\n",
                GUTTER_WIDTH - 12,
                layout.y(row) + 4,
                Instant::from_nanos(time)
            ),
        );
    }
    let right = layout.x(nodes.len().saturating_sub(1) as u64) + LANE_WIDTH / 2;
    for mark in &marks {
        match mark {
            Mark::Arrow {
                from,
                to,
                kind,
                dropped,
                half_row,
                title,
            } => {
                let (x1, y1, x2) = (layout.x(from.lane), layout.y(from.row), layout.x(to.lane));
                let y2 = layout.y(to.row) + if *half_row { ROW_HEIGHT / 2 } else { 0 };
                if *dropped {
                    out(
                        w,
                        format_args!(
                            "<g><title>{}</title><line x1=\"{x1}\" y1=\"{y1}\" x2=\"{x2}\" y2=\"{y2}\" class=\"msg dropped\"/><path d=\"M{},{} l8,8 m0,-8 l-8,8\" stroke=\"{DROP_COLOUR}\" stroke-width=\"2\"/></g>\n",
                            escape(title),
                            x2 - 4,
                            y2 - 4
                        ),
                    );
                } else {
                    let colour = PALETTE[kind % PALETTE.len()];
                    out(
                        w,
                        format_args!(
                            "<line x1=\"{x1}\" y1=\"{y1}\" x2=\"{x2}\" y2=\"{y2}\" class=\"msg\" stroke=\"{colour}\" marker-end=\"url(#head)\"><title>{}</title></line>\n",
                            escape(title)
                        ),
                    );
                }
            }
            Mark::Unfinished {
                from,
                to_lane,
                title,
            } => {
                out(
                    w,
                    format_args!(
                        "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" class=\"msg unfinished\"><title>{}</title></line>\n",
                        layout.x(from.lane),
                        layout.y(from.row),
                        layout.x(*to_lane),
                        layout.y(row_count),
                        escape(title)
                    ),
                );
            }
            Mark::Node { at, symbol, title } => {
                let (x, y) = (layout.x(at.lane), layout.y(at.row));
                let shape = match *symbol {
                    "crash" => format!(
                        "<path d=\"M{},{} l12,12 m0,-12 l-12,12\" stroke=\"black\" stroke-width=\"3\"/>",
                        x - 6,
                        y - 6
                    ),
                    "restart" => format!(
                        "<path d=\"M{},{} l6,10 l-12,0 z\" fill=\"#2ca02c\"/>",
                        x,
                        y - 6
                    ),
                    "pause" | "resume" | "hold" => format!(
                        "<rect x=\"{}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{}\" y=\"{}\" class=\"label\">{symbol}</text>",
                        x - 5,
                        y - 5,
                        if *symbol == "hold" { "#ff7f0e" } else { "#555" },
                        x + 8,
                        y + 4
                    ),
                    _ => format!(
                        "<circle cx=\"{x}\" cy=\"{y}\" r=\"3.5\" fill=\"#fff\" stroke=\"#333\"/>"
                    ),
                };
                out(
                    w,
                    format_args!("<g><title>{}</title>{shape}</g>\n", escape(title)),
                );
            }
            Mark::Label { at, text, title } => {
                let (x, y) = (layout.x(at.lane), layout.y(at.row));
                out(
                    w,
                    format_args!(
                        "<g><title>{}</title><circle cx=\"{x}\" cy=\"{y}\" r=\"2.5\" fill=\"#333\"/><text x=\"{}\" y=\"{}\" class=\"label\">{}</text></g>\n",
                        escape(title),
                        x + 6,
                        y + 4,
                        escape(text)
                    ),
                );
            }
            Mark::Line { row, text, title } => {
                let y = layout.y(*row);
                out(
                    w,
                    format_args!(
                        "<g><title>{}</title><line x1=\"{}\" y1=\"{y}\" x2=\"{right}\" y2=\"{y}\" class=\"fault\"/><text x=\"{}\" y=\"{}\" class=\"label\">{}</text></g>\n",
                        escape(title),
                        GUTTER_WIDTH - 4,
                        right + 6,
                        y + 4,
                        escape(text)
                    ),
                );
            }
        }
    }
    svg.push_str("</svg>\n");
    svg
}

struct Layout {
    row_count: u64,
}

impl Layout {
    fn x(&self, lane: u64) -> u64 {
        GUTTER_WIDTH + LANE_WIDTH / 2 + lane * LANE_WIDTH
    }

    fn y(&self, row: u64) -> u64 {
        debug_assert!(row <= self.row_count);
        HEADER_HEIGHT + ROW_HEIGHT + row * ROW_HEIGHT
    }
}

fn out(svg: &mut String, args: std::fmt::Arguments<'_>) {
    svg.write_fmt(args).expect("writing to a String");
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

/// Text for XML content and attributes.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            _ => escaped.push(c),
        }
    }
    escaped
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
        let svg = lamport_svg(&records);
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
            lamport_svg(&records),
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
        let svg = lamport_svg(&records);
        let top = HEADER_HEIGHT + ROW_HEIGHT;
        let below = top + ROW_HEIGHT;
        let arrow = |x2: u64| format!("y1=\"{top}\" x2=\"{x2}\" y2=\"{below}\"");
        let layout = Layout { row_count: 2 };
        assert!(svg.contains(&arrow(layout.x(1))), "{svg}");
        assert!(svg.contains(&arrow(layout.x(2))), "{svg}");
    }
}
