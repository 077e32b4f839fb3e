//! Writing a drawing as SVG text.

use super::{
    DROP_COLOUR, Drawing, GUTTER_WIDTH, HEADER_HEIGHT, LANE_WIDTH, Mark, PALETTE, Point,
    RIGHT_MARGIN, ROW_HEIGHT, WIDTH_MIN,
};
use sim::Instant;
use std::fmt::Write;

/// Where lanes and rows are.
pub(super) struct Layout {
    pub row_count: u64,
}

impl Layout {
    pub fn x(&self, lane: u64) -> u64 {
        GUTTER_WIDTH + LANE_WIDTH / 2 + lane * LANE_WIDTH
    }

    pub fn y(&self, row: u64) -> u64 {
        debug_assert!(row <= self.row_count);
        HEADER_HEIGHT + ROW_HEIGHT + row * ROW_HEIGHT
    }
}

/// The SVG document of `drawing`, with `note` (what the window left out) under the title.
pub(super) fn write(drawing: &Drawing<'_>, note: &str) -> String {
    let layout = Layout {
        row_count: drawing.row_count,
    };
    let width =
        (GUTTER_WIDTH + LANE_WIDTH * drawing.nodes.len() as u64 + RIGHT_MARGIN).max(WIDTH_MIN);
    let height = layout.y(drawing.row_count) + ROW_HEIGHT;
    let mut svg = String::with_capacity(4096 + drawing.marks.len() * 256);
    let w = &mut svg;
    out(
        w,
        format_args!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"monospace\" font-size=\"11\">\n"
        ),
    );
    style(w);
    out(
        w,
        format_args!("<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n"),
    );
    title(w, drawing, note);
    legend(w, drawing, width);
    for (lane, node) in drawing.nodes.iter().enumerate() {
        let x = layout.x(lane as u64);
        out(
            w,
            format_args!(
                "<text x=\"{x}\" y=\"{}\" class=\"node\">n{node}</text><line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" class=\"lane\"/>\n",
                HEADER_HEIGHT - 8,
                HEADER_HEIGHT,
                layout.y(drawing.row_count)
            ),
        );
    }
    for &(row, time) in &drawing.row_times {
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
    let right = layout.x(drawing.nodes.len().saturating_sub(1) as u64) + LANE_WIDTH / 2;
    for mark in &drawing.marks {
        write_mark(w, &layout, right, mark);
    }
    svg.push_str("</svg>\n");
    svg
}

/// The style sheet and the arrow head.
fn style(w: &mut String) {
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
         .note {{ fill: #555; }}\n\
         </style>\n"
        ),
    );
    out(
        w,
        format_args!(
            "<defs><marker id=\"head\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"context-stroke\"/></marker></defs>\n"
        ),
    );
}

/// The title line (what was drawn) and the note (what was left out).
fn title(w: &mut String, drawing: &Drawing<'_>, note: &str) {
    out(
        w,
        format_args!(
            "<text x=\"8\" y=\"18\" font-size=\"13\">{} nodes, {} messages: {} delivered, {} dropped, {} in flight at the end; virtual time {} to {}</text>\n",
            drawing.nodes.len(),
            drawing.messages,
            drawing.delivered,
            drawing.dropped,
            drawing.unfinished,
            Instant::from_nanos(drawing.first_nanos),
            Instant::from_nanos(drawing.last_nanos),
        ),
    );
    out(
        w,
        format_args!(
            "<text x=\"8\" y=\"36\" class=\"note\">{}</text>\n",
            escape(note)
        ),
    );
}

/// One swatch per message kind, then the special arrows.
fn legend(w: &mut String, drawing: &Drawing<'_>, width: u64) {
    let mut x = 8;
    for (kind, name) in drawing.kinds.iter().enumerate() {
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
                "<line x1=\"{x}\" y1=\"54\" x2=\"{}\" y2=\"54\" stroke=\"{colour}\" stroke-width=\"2\"/><text x=\"{}\" y=\"58\">{}</text>\n",
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
            "<line x1=\"8\" y1=\"72\" x2=\"28\" y2=\"72\" class=\"dropped\"/><text x=\"32\" y=\"76\">dropped (x)</text>\
         <line x1=\"128\" y1=\"72\" x2=\"148\" y2=\"72\" class=\"unfinished\"/><text x=\"152\" y=\"76\">in flight at the end</text>\
         <text x=\"320\" y=\"76\">rows are event order; hover for the trace line</text>\n"
        ),
    );
}

fn write_mark(w: &mut String, layout: &Layout, right: u64, mark: &Mark) {
    match mark {
        Mark::Arrow {
            from,
            to,
            kind,
            dropped,
            half_row,
            title,
        } => write_arrow(w, layout, (*from, *to), *kind, (*dropped, *half_row), title),
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
                    layout.y(layout.row_count),
                    escape(title)
                ),
            );
        }
        Mark::Node { at, symbol, title } => {
            let shape = node_shape(layout.x(at.lane), layout.y(at.row), symbol);
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

/// A message's arrow from its send to its delivery, or to the cross where it was dropped.
fn write_arrow(
    w: &mut String,
    layout: &Layout,
    (from, to): (Point, Point),
    kind: usize,
    (dropped, half_row): (bool, bool),
    title: &str,
) {
    let (x1, y1, x2) = (layout.x(from.lane), layout.y(from.row), layout.x(to.lane));
    let y2 = layout.y(to.row) + if half_row { ROW_HEIGHT / 2 } else { 0 };
    if dropped {
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

/// The mark of a crash, a restart, a pause, a hold, an observation or another event on a
/// node's lane.
fn node_shape(x: u64, y: u64, symbol: &str) -> String {
    match symbol {
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
            if symbol == "hold" { "#ff7f0e" } else { "#555" },
            x + 8,
            y + 4
        ),
        // What the protocol reported to checkers (became leader, learned a value): a diamond.
        "observe" => format!(
            "<path d=\"M{x},{} l5,5 l-5,5 l-5,-5 z\" fill=\"#1f77b4\"/>",
            y - 5
        ),
        _ => format!("<circle cx=\"{x}\" cy=\"{y}\" r=\"3.5\" fill=\"#fff\" stroke=\"#333\"/>"),
    }
}

fn out(svg: &mut String, args: std::fmt::Arguments<'_>) {
    svg.write_fmt(args).expect("writing to a String");
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
