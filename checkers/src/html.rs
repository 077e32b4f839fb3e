//! A self-contained HTML rendering of a checked history, in the manner of Porcupine's: one
//! lane per process, each operation a bar from invocation to completion, the failing key's
//! operations outlined, its longest linearization numbered and the operation that cannot be
//! placed in red. No scripts and no external files, so the page can be attached to a bug.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::report::{Completion, Report, Verdict};

const LANE_HEIGHT_PX: usize = 28;
const BAR_HEIGHT_PX: usize = 18;
const LABEL_WIDTH_PX: usize = 70;
const PLOT_WIDTH_PX_MIN: usize = 1000;
const PLOT_WIDTH_PX_MAX: usize = 200_000;
const EVENT_WIDTH_PX_MIN: usize = 16;

/// Renders `report` as a complete HTML page; `title` names the history, usually its file.
pub fn render_html(report: &Report, title: &str) -> String {
    let event_count = report.event_count;
    let failing_key = report.failing_part().map(|part| part.key.clone());
    // Rank of each operation in its part's linearization (1-based), and the blocked ones.
    let mut rank: BTreeMap<usize, usize> = BTreeMap::new();
    let mut blocked: Vec<usize> = Vec::new();
    for part in &report.parts {
        for (position, id) in part.linearization.iter().enumerate() {
            rank.insert(*id, position + 1);
        }
        if let Some(failure) = &part.failure {
            blocked.push(failure.blocked);
        }
    }

    let processes: Vec<u64> = {
        let mut processes: Vec<u64> = report.operations.iter().map(|op| op.process).collect();
        processes.sort_unstable();
        processes.dedup();
        processes
    };
    let lane_of: BTreeMap<u64, usize> = processes
        .iter()
        .enumerate()
        .map(|(lane, process)| (*process, lane))
        .collect();
    // One extra column past the last event holds the tails of operations that never completed.
    let column_count = event_count + 1;
    // Wide enough for a label on a short bar, unless that would make a huge history's page
    // wider than a browser lays out comfortably.
    let event_width_px = if column_count * EVENT_WIDTH_PX_MIN <= PLOT_WIDTH_PX_MAX {
        (PLOT_WIDTH_PX_MIN / column_count).max(EVENT_WIDTH_PX_MIN)
    } else {
        (PLOT_WIDTH_PX_MAX / column_count).max(1)
    };
    let plot_width_px = column_count * event_width_px;
    let svg_width_px = LABEL_WIDTH_PX + plot_width_px + 10;
    let svg_height_px = processes.len() * LANE_HEIGHT_PX + 30;

    let mut page = String::new();
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{title}: {verdict}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n\
         <h1>{title}</h1>\n<p class=\"verdict {class}\">{verdict}</p>\n",
        title = escape(title),
        verdict = report.verdict,
        class = report.verdict.as_str(),
    );
    let _ = writeln!(
        page,
        "<p>{} operations by {} processes in {} part(s). Bars run from invocation to completion \
         in event order; numbers give each operation's place in its part's linearization.</p>",
        report.operations.len(),
        processes.len(),
        report.parts.len()
    );
    page.push_str(
        "<p class=\"legend\"><span class=\"ok\">ok</span> <span class=\"indeterminate\">info or \
         no completion</span> <span class=\"fail\">fail (dropped)</span> \
         <span class=\"blocked\">cannot be placed</span> \
         <span class=\"failing\">in the failing key</span></p>\n",
    );
    if let Some(explanation) = report.explain() {
        let _ = writeln!(
            page,
            "<pre class=\"explanation\">{}</pre>",
            escape(&explanation)
        );
    }

    let _ = writeln!(
        page,
        "<div class=\"plot\"><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{svg_width_px}\" \
         height=\"{svg_height_px}\">"
    );
    for (lane, process) in processes.iter().enumerate() {
        let y = lane * LANE_HEIGHT_PX + 20;
        let _ = writeln!(
            page,
            "<text class=\"lane\" x=\"4\" y=\"{}\">p{process}</text>\
             <line class=\"lane\" x1=\"{LABEL_WIDTH_PX}\" y1=\"{y2}\" x2=\"{x2}\" y2=\"{y2}\"/>",
            y + BAR_HEIGHT_PX - 4,
            y2 = y + LANE_HEIGHT_PX - 4,
            x2 = LABEL_WIDTH_PX + plot_width_px,
        );
    }
    for operation in &report.operations {
        let lane = lane_of[&operation.process];
        let y = lane * LANE_HEIGHT_PX + 20;
        let start = operation.call_position;
        let end = operation.return_position.unwrap_or(event_count);
        let x = LABEL_WIDTH_PX + start * event_width_px;
        let width = ((end - start) * event_width_px).max(2);
        let mut classes = vec![match operation.completion {
            Completion::Ok(_) => "ok",
            Completion::Fail => "fail",
            Completion::Info | Completion::Pending => "indeterminate",
        }];
        if let Some(key) = &failing_key {
            if operation.part == *key {
                classes.push("failing");
            } else {
                classes.push("other");
            }
        }
        if blocked.contains(&operation.id) {
            classes.push("blocked");
        }
        let label = match rank.get(&operation.id) {
            Some(rank) => format!("{rank}. {}", operation.f),
            None => operation.f.clone(),
        };
        let _ = writeln!(
            page,
            "<g class=\"{}\"><title>{}</title><rect x=\"{x}\" y=\"{y}\" width=\"{width}\" \
             height=\"{BAR_HEIGHT_PX}\" rx=\"3\"/><text x=\"{}\" y=\"{}\">{}</text></g>",
            classes.join(" "),
            escape(&operation.describe()),
            x + 3,
            y + BAR_HEIGHT_PX - 5,
            escape(&label)
        );
    }
    page.push_str("</svg></div>\n");

    page.push_str("<h2>Parts</h2>\n<table>\n<tr><th>key</th><th>verdict</th><th>operations in the linearization</th><th>states explored</th></tr>\n");
    for part in &report.parts {
        let key = part.key.as_deref().unwrap_or("(no key)");
        let _ = writeln!(
            page,
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            part.verdict.as_str(),
            escape(key),
            part.verdict,
            part.linearization.len(),
            part.states_explored
        );
    }
    page.push_str("</table>\n");
    if report.verdict == Verdict::Unknown {
        page.push_str("<p>The verdict is unknown: a limit ran out before the search ended. This is not a pass.</p>\n");
    }
    page.push_str("</body>\n</html>\n");
    page
}

const STYLE: &str = "body { font-family: sans-serif; margin: 1.5em; }
.verdict { font-size: 1.3em; font-weight: bold; }
.verdict.linearizable { color: #1a7f37; }
.verdict.not-linearizable { color: #cf222e; }
.verdict.unknown { color: #9a6700; }
.plot { overflow-x: auto; border: 1px solid #ddd; }
svg text { font-size: 11px; font-family: monospace; }
line.lane { stroke: #eee; }
g rect { stroke: #555; stroke-width: 1; }
g.ok rect { fill: #9ecbff; }
g.indeterminate rect { fill: #e6e6e6; stroke-dasharray: 4 2; }
g.fail rect { fill: #f6f8fa; stroke: #bbb; }
g.other { opacity: 0.35; }
g.failing rect { stroke: #000; stroke-width: 2; }
g.blocked rect { fill: #ff8182; }
pre.explanation { background: #fff8f8; border: 1px solid #f0c0c0; padding: 0.8em; overflow-x: auto; }
.legend span { padding: 0 0.5em; border: 1px solid #555; border-radius: 3px; }
.legend .ok { background: #9ecbff; }
.legend .indeterminate { background: #e6e6e6; border-style: dashed; }
.legend .fail { background: #f6f8fa; }
.legend .blocked { background: #ff8182; }
.legend .failing { border-width: 2px; border-color: #000; }
table { border-collapse: collapse; margin-top: 0.5em; }
td, th { border: 1px solid #ddd; padding: 0.2em 0.6em; text-align: left; }
tr.not-linearizable td { background: #fff0f0; }
tr.unknown td { background: #fff8e0; }
";

fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}
