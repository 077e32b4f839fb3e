//! Goal: a Lamport diagram fits its failure: it never exceeds 32,767 pixels a side (cairo's
//! limit), a failing run's diagram ends at the violation, and a note says what was left out.
//! Method: draw the README's failing seed (a quarter of a million events), a synthetic trace of
//! a thousand nodes, and chosen windows; read the SVG's size and its note.

use sim::{Duration, Instant, TraceEvent, TraceLevel, TraceRecord};
use std::collections::BTreeSet;
use traces::diagram::{EVENTS_DEFAULT, SIDE_MAX, Window, lamport_svg};

/// The width and height the SVG declares.
fn size(svg: &str) -> (u64, u64) {
    let attribute = |name: &str| -> u64 {
        let start = svg.find(&format!(" {name}=\"")).expect("an attribute") + name.len() + 3;
        let end = start + svg[start..].find('"').expect("a closing quote");
        svg[start..end].parse().expect("a number")
    };
    (attribute("width"), attribute("height"))
}

/// The times in the left gutter, in order.
fn row_times(svg: &str) -> Vec<String> {
    svg.lines()
        .filter(|l| l.contains("class=\"time\""))
        .map(|l| {
            let start = l.find('>').unwrap() + 1;
            l[start..l.rfind('<').unwrap()].to_string()
        })
        .collect()
}

fn note(svg: &str) -> &str {
    let line = svg
        .lines()
        .find(|l| l.contains("class=\"note\""))
        .expect("a note");
    &line[line.find('>').unwrap() + 1..line.rfind('<').unwrap()]
}

fn fits(svg: &str) {
    let (width, height) = size(svg);
    assert!(width <= SIDE_MAX && height <= SIDE_MAX, "{width}x{height}");
}

#[test]
fn the_readme_failure_fits_and_ends_at_the_violation() {
    let scenario = scenarios::find("unique-ids").unwrap();
    let plan = scenario.plan(0, Some("counter-resets-on-restart"));
    let run = scenario.run(&plan, TraceLevel::Record).unwrap();
    let records = run.trace.records();
    assert!(records.len() > 200_000);
    let violation = run.report.verdict.at.expect("unique-ids knows when");
    assert_eq!(violation.to_string(), "6.788258s");

    // Everything that fits, from the start: within the limit, and the note says the rest.
    let svg = lamport_svg(records, &Window::all());
    fits(&svg);
    assert!(note(&svg).contains("after"), "{}", note(&svg));

    // Ending at the violation: the last row is its time, and the second n2-0 is drawn.
    let window = Window {
        to: Some(violation),
        end_anchored: true,
        ..Window::default()
    };
    let svg = lamport_svg(records, &window);
    fits(&svg);
    assert_eq!(row_times(&svg).last().unwrap(), "6.788258s");
    assert!(svg.contains("ok p8 generate &quot;n2-0&quot;"));
    assert!(
        note(&svg).starts_with(&format!("{EVENTS_DEFAULT} events drawn; left out: ")),
        "{}",
        note(&svg)
    );
    assert!(note(&svg).contains("events before"), "{}", note(&svg));
    assert!(svg.len() < 2 << 20, "{} bytes", svg.len());

    // A chosen window of time and nodes.
    let window = Window {
        from: Some(Instant::ZERO + Duration::from_millis(6_780)),
        to: Some(violation),
        nodes: Some(BTreeSet::from([2, 3])),
        ..Window::default()
    };
    let svg = lamport_svg(records, &window);
    fits(&svg);
    assert_eq!(svg.matches("class=\"lane\"").count(), 2);
    assert!(row_times(&svg).first().unwrap().as_str() >= "6.780000s");
    assert!(note(&svg).contains("of other nodes"), "{}", note(&svg));
}

#[test]
fn a_thousand_nodes_and_a_million_events_fit() {
    let records: Vec<TraceRecord> = (0..1_000_000u64)
        .map(|i| TraceRecord {
            time_nanos: i * 1_000,
            node: (i % 1_000) as u32,
            event: TraceEvent::Note {
                text: format!("event {i}"),
            },
        })
        .collect();
    for window in [Window::default(), Window::all()] {
        let svg = lamport_svg(&records, &window);
        fits(&svg);
        assert!(note(&svg).contains("of 1000 nodes"), "{}", note(&svg));
    }
    // Even asked for everything, the window stops at what fits.
    let svg = lamport_svg(
        &records,
        &Window {
            events_max: usize::MAX,
            end_anchored: true,
            ..Window::default()
        },
    );
    fits(&svg);
}

#[test]
fn a_short_run_is_drawn_whole() {
    let scenario = scenarios::find("echo").unwrap();
    let mut plan = scenario.plan(1, None);
    plan.safety_duration = Duration::from_millis(100);
    plan.liveness_duration = Duration::from_millis(100);
    let run = scenario.run(&plan, TraceLevel::Record).unwrap();
    let svg = lamport_svg(run.trace.records(), &Window::default());
    fits(&svg);
    assert!(note(&svg).contains("none left out"), "{}", note(&svg));
}
