//! A run as a self-contained HTML page (inline SVG, a little CSS and JS, no
//! external assets): one lane per node and per client connection, simulated
//! time on the x axis, operations as bars from send to reply coloured by
//! outcome, faults as shaded bands or vertical marks, and the event that
//! exposed a failure in red.
//!
//! The renderer knows nothing about the workload: it draws a [`Timeline`]
//! of lanes, spans, bands and marks with text already formatted. Only
//! [`from_history`], a small adapter, reads the recorded [`Event`]s; a new
//! node role or workload gets its own adapter (or extends this one) and the
//! renderer stays as is. Invariants: all text is HTML-escaped; the page is
//! a pure function of its input (no clock, no randomness), so the same run
//! gives the same file.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::history::{Event, EventKind};
use crate::resp::Reply;

/// How a span ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A normal reply.
    Ok,
    /// An error reply.
    Error,
    /// No reply (failed, timed out, or still in flight at the end).
    Unknown,
}

impl Outcome {
    fn class(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "err",
            Outcome::Unknown => "unk",
        }
    }
}

/// A horizontal lane (a node or a client connection).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lane {
    pub label: String,
}

/// An interval on one lane: an operation from request to reply.
#[derive(Clone, Debug)]
pub struct Span {
    pub lane: usize,
    pub start_ns: u64,
    pub end_ns: u64,
    pub outcome: Outcome,
    /// Hover text.
    pub detail: String,
    pub highlight: bool,
}

/// A shaded interval: on one lane, or across all lanes (`lane: None`).
#[derive(Clone, Debug)]
pub struct Band {
    pub lane: Option<usize>,
    pub start_ns: u64,
    pub end_ns: u64,
    /// CSS class suffix (e.g. `partition`, `down`).
    pub kind: String,
    pub detail: String,
}

/// An instant: a vertical line across all lanes, labelled on its lane.
#[derive(Clone, Debug)]
pub struct Mark {
    pub lane: usize,
    pub t_ns: u64,
    /// CSS class suffix (e.g. `kill`, `restart`).
    pub kind: String,
    pub detail: String,
    pub highlight: bool,
}

/// Everything the page shows.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    pub title: String,
    /// Extra lines under the title (outcome, failure message, reproduce).
    pub notes: Vec<String>,
    pub lanes: Vec<Lane>,
    pub spans: Vec<Span>,
    pub bands: Vec<Band>,
    pub marks: Vec<Mark>,
    /// End of the x axis.
    pub end_ns: u64,
    /// Time of the highlighted event (a red line even if it is no span).
    pub highlight_ns: Option<u64>,
}

impl Timeline {
    fn lane(&mut self, label: &str, index: &mut BTreeMap<String, usize>) -> usize {
        if let Some(&i) = index.get(label) {
            return i;
        }
        self.lanes.push(Lane {
            label: label.to_string(),
        });
        index.insert(label.to_string(), self.lanes.len() - 1);
        self.lanes.len() - 1
    }
}

/// The adapter from this simulator's history: lane `server` (kills,
/// restarts, partitions), then one lane `client c<N>` per connection, in
/// order of first use. `highlight` is the index of the event that exposed a
/// failure (a reply, a failure, or a fault event).
pub fn from_history(events: &[Event], highlight: Option<usize>) -> Timeline {
    let mut tl = Timeline::default();
    let mut index = BTreeMap::new();
    let server = tl.lane("server", &mut index);
    // id -> (span index) of requests in flight.
    let mut open: BTreeMap<u64, usize> = BTreeMap::new();
    let mut clog: Option<(u64, usize)> = None;
    let mut down: Option<(u64, usize)> = None;
    let multi = events
        .iter()
        .any(|e| matches!(e.kind, EventKind::Send { conn, .. } if conn >= 1_000_000));
    // Multi-client faults in progress: name -> (start, description).
    let mut faults: BTreeMap<String, (u64, String)> = BTreeMap::new();
    let end_ns = events.last().map_or(0, |e| e.t_ns);
    tl.end_ns = end_ns.max(1);
    for (i, e) in events.iter().enumerate() {
        let hl = highlight == Some(i);
        if hl {
            tl.highlight_ns = Some(e.t_ns);
        }
        let at = |what: &str| format!("[{i}] {:.3} ms: {what}", e.t_ns as f64 / 1e6);
        match &e.kind {
            EventKind::Send { id, conn, op } => {
                // Multi-client runs number client N's connections from
                // (N-1) * 1_000_000: one lane per client there, one per
                // connection for the single client.
                let label = if multi {
                    format!("client {}", conn / 1_000_000 + 1)
                } else {
                    format!("client c{conn}")
                };
                let lane = tl.lane(&label, &mut index);
                tl.spans.push(Span {
                    lane,
                    start_ns: e.t_ns,
                    end_ns,
                    outcome: Outcome::Unknown,
                    detail: format!(
                        "{}\n(no reply by the end)",
                        at(&format!("#{id} {}", op.display()))
                    ),
                    highlight: hl,
                });
                open.insert(*id, tl.spans.len() - 1);
            }
            EventKind::Recv { id, reply } => {
                if let Some(s) = open.remove(id).and_then(|s| tl.spans.get_mut(s)) {
                    s.end_ns = e.t_ns;
                    s.outcome = if matches!(reply, Reply::Error(_)) {
                        Outcome::Error
                    } else {
                        Outcome::Ok
                    };
                    let head = s.detail.lines().next().unwrap_or_default().to_string();
                    s.detail = format!("{head}\n{}", at(&format!("reply {reply:?}")));
                    s.highlight |= hl;
                }
            }
            EventKind::Fail { id, err } => {
                if let Some(s) = open.remove(id).and_then(|s| tl.spans.get_mut(s)) {
                    s.end_ns = e.t_ns;
                    s.outcome = Outcome::Unknown;
                    let head = s.detail.lines().next().unwrap_or_default().to_string();
                    s.detail = format!("{head}\n{}", at(&format!("failed: {err}")));
                    s.highlight |= hl;
                }
            }
            EventKind::Kill => {
                tl.marks.push(Mark {
                    lane: server,
                    t_ns: e.t_ns,
                    kind: "kill".into(),
                    detail: at("KILL server"),
                    highlight: hl,
                });
                down = Some((e.t_ns, i));
            }
            EventKind::Restart => {
                tl.marks.push(Mark {
                    lane: server,
                    t_ns: e.t_ns,
                    kind: "restart".into(),
                    detail: at("RESTART server"),
                    highlight: hl,
                });
                if let Some((t0, _)) = down.take() {
                    tl.bands.push(Band {
                        lane: Some(server),
                        start_ns: t0,
                        end_ns: e.t_ns,
                        kind: "down".into(),
                        detail: format!(
                            "server down {:.3}..{:.3} ms",
                            t0 as f64 / 1e6,
                            e.t_ns as f64 / 1e6
                        ),
                    });
                }
            }
            EventKind::Clog => clog = Some((e.t_ns, i)),
            EventKind::Unclog => {
                if let Some((t0, _)) = clog.take() {
                    tl.bands.push(partition(t0, e.t_ns));
                }
            }
            EventKind::Fault { name, target, on } => {
                let key = format!("{name} {target}");
                if *on {
                    faults.insert(name.clone(), (e.t_ns, key.clone()));
                    if matches!(name.as_str(), "clock-jump" | "startup-failed") {
                        tl.marks.push(Mark {
                            lane: server,
                            t_ns: e.t_ns,
                            kind: "event".into(),
                            detail: at(&key),
                            highlight: hl,
                        });
                        faults.remove(name);
                    }
                } else if let Some((t0, k)) = faults.remove(name) {
                    tl.bands.push(Band {
                        lane: None,
                        start_ns: t0,
                        end_ns: e.t_ns,
                        kind: "fault".into(),
                        detail: format!(
                            "{k} {:.3}..{:.3} ms",
                            t0 as f64 / 1e6,
                            e.t_ns as f64 / 1e6
                        ),
                    });
                }
            }
            EventKind::Recovered { .. } | EventKind::Final { .. } | EventKind::Heal => {
                tl.marks.push(Mark {
                    lane: server,
                    t_ns: e.t_ns,
                    kind: "event".into(),
                    detail: at(&format!("{e}")),
                    highlight: hl,
                });
            }
            EventKind::Connect { .. }
            | EventKind::ConnectFailed { .. }
            | EventKind::WorkloadDone
            | EventKind::Violation { .. }
            | EventKind::Note { .. } => {}
        }
    }
    // Faults still active at the end run to the end of the axis.
    if let Some((t0, _)) = clog {
        tl.bands.push(partition(t0, end_ns));
    }
    if let Some((t0, _)) = down {
        tl.bands.push(Band {
            lane: Some(server),
            start_ns: t0,
            end_ns,
            kind: "down".into(),
            detail: "server down until the end".into(),
        });
    }
    tl
}

fn partition(t0: u64, t1: u64) -> Band {
    Band {
        lane: None,
        start_ns: t0,
        end_ns: t1,
        kind: "partition".into(),
        detail: format!(
            "server partitioned {:.3}..{:.3} ms",
            t0 as f64 / 1e6,
            t1 as f64 / 1e6
        ),
    }
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

const LANE_H: f64 = 24.0;
const AXIS_H: f64 = 22.0;
/// Initial zoom: pixels per simulated millisecond (JS rescales).
const PX_PER_MS: f64 = 0.25;
/// Bars are at least this wide so millisecond ops stay visible.
const MIN_W: f64 = 2.0;

const CSS: &str = "body{font:13px sans-serif;margin:12px;color:#222}\
h1{font-size:16px;margin:0 0 4px}.note{font-family:monospace;white-space:pre-wrap;margin:2px 0}\
.wrap{display:flex;border:1px solid #ccc}.labels{flex:none;background:#f7f7f7;border-right:1px solid #ccc}\
.scroll{overflow-x:auto;flex:1}.lanebg{fill:#fff}.lanebg.odd{fill:#f4f6f8}\
.op.ok{fill:#3a9d3a}.op.err{fill:#f08c00}.op.unk{fill:#9a9a9a}\
.op.violation{fill:#d00000;stroke:#700;stroke-width:1}\
.band.partition{fill:#7b61ff;opacity:.15}.band.down{fill:#000;opacity:.12}\
.band.fault{fill:#ff8c00;opacity:.13}.mark.event{stroke:#06c;stroke-width:2;stroke-dasharray:2 2}\
.mark.kill{stroke:#b00;stroke-width:2}.mark.restart{stroke:#070;stroke-width:2;stroke-dasharray:4 2}\
.mark.violation,.hl{stroke:#d00000;stroke-width:3}.tick{stroke:#ddd}.ticklabel{font-size:10px;fill:#666}\
.legend span{display:inline-block;padding:1px 6px;margin-right:6px;color:#fff;border-radius:3px}\
button{margin:6px 4px 6px 0}";

const JS: &str = "var z=1;function zoom(f){z=Math.max(0.01,Math.min(400,z*f));\
var s=document.getElementById('tl');var k=z*PXMS;\
s.querySelectorAll('[data-t0]').forEach(function(e){var a=+e.dataset.t0,b=+e.dataset.t1;\
if(e.tagName=='line'){e.setAttribute('x1',a*k);e.setAttribute('x2',a*k);}\
else if(e.tagName=='text'){e.setAttribute('x',a*k+2);}\
else{e.setAttribute('x',a*k);e.setAttribute('width',Math.max(b>a?MINW:1,(b-a)*k));}});\
s.setAttribute('width',END*k+20);centre();}\
function centre(){var h=document.querySelector('.hl');if(h){var sc=document.querySelector('.scroll');\
sc.scrollLeft=Math.max(0,+h.getAttribute('x1')-sc.clientWidth/2);}}";

/// Render the page.
pub fn render_html(tl: &Timeline) -> String {
    let end_ms = tl.end_ns as f64 / 1e6;
    let width = end_ms * PX_PER_MS + 20.0;
    let lanes = tl.lanes.len().max(1) as f64;
    let height = AXIS_H + lanes * LANE_H;
    let x = |ns: u64| ns as f64 / 1e6 * PX_PER_MS;
    let ms = |ns: u64| format!("{:.3}", ns as f64 / 1e6);
    let lane_y = |l: usize| AXIS_H + l as f64 * LANE_H;
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title><style>{CSS}</style></head><body>\n<h1>{}</h1>\n",
        esc(&tl.title),
        esc(&tl.title)
    );
    for n in &tl.notes {
        let _ = writeln!(h, "<div class=\"note\">{}</div>", esc(n));
    }
    h.push_str(
        "<div class=\"legend\"><span style=\"background:#3a9d3a\">ok</span>\
         <span style=\"background:#f08c00\">error reply</span>\
         <span style=\"background:#9a9a9a\">failed / unknown</span>\
         <span style=\"background:#d00000\">violation</span>\
         <span style=\"background:#b9adff;color:#222\">partition</span>\
         <span style=\"background:#ccc;color:#222\">server down</span>\
         <span style=\"background:#fff;color:#b00;border:1px solid #b00\">| kill</span>\
         <span style=\"background:#fff;color:#070;border:1px dashed #070\">| restart</span></div>\n\
         <button onclick=\"zoom(2)\">zoom in</button><button onclick=\"zoom(0.5)\">zoom out</button>\
         (hover a bar for the operation and its reply; times are simulated ms)\n",
    );
    // Lane labels stay put while the chart scrolls.
    let _ = write!(
        h,
        "<div class=\"wrap\"><svg class=\"labels\" width=\"120\" height=\"{height}\">"
    );
    for (i, l) in tl.lanes.iter().enumerate() {
        let _ = write!(
            h,
            "<text class=\"lane\" x=\"6\" y=\"{:.1}\">{}</text>",
            lane_y(i) + LANE_H * 0.65,
            esc(&l.label)
        );
    }
    let _ = write!(
        h,
        "</svg><div class=\"scroll\"><svg id=\"tl\" width=\"{width:.1}\" height=\"{height}\">"
    );
    for i in 0..tl.lanes.len() {
        let _ = write!(
            h,
            "<rect class=\"lanebg{}\" x=\"0\" y=\"{:.1}\" width=\"100%\" height=\"{LANE_H}\"/>",
            if i % 2 == 1 { " odd" } else { "" },
            lane_y(i)
        );
    }
    // Axis ticks every second of simulated time (at most ~200 of them).
    let step_ms = ((end_ms / 200.0).ceil() as u64).max(1000);
    let mut t = 0u64;
    while (t as f64) <= end_ms {
        let ns = t * 1_000_000;
        let _ = write!(
            h,
            "<line class=\"tick\" data-t0=\"{t}\" data-t1=\"{t}\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{AXIS_H}\" y2=\"{height}\"/>\
             <text class=\"ticklabel\" data-t0=\"{t}\" data-t1=\"{t}\" x=\"{:.1}\" y=\"12\">{}s</text>",
            x(ns) + 2.0,
            t / 1000,
            x = x(ns)
        );
        t += step_ms;
    }
    for b in &tl.bands {
        let (y, hgt) = match b.lane {
            Some(l) => (lane_y(l), LANE_H),
            None => (AXIS_H, lanes * LANE_H),
        };
        let _ = write!(
            h,
            "<rect class=\"band {}\" data-t0=\"{}\" data-t1=\"{}\" x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{hgt:.1}\"><title>{}</title></rect>",
            esc(&b.kind),
            ms(b.start_ns),
            ms(b.end_ns),
            x(b.start_ns),
            (x(b.end_ns) - x(b.start_ns)).max(1.0),
            esc(&b.detail)
        );
    }
    for s in &tl.spans {
        let _ = write!(
            h,
            "<rect class=\"op {}{}\" data-t0=\"{}\" data-t1=\"{}\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"><title>{}</title></rect>",
            s.outcome.class(),
            if s.highlight { " violation" } else { "" },
            ms(s.start_ns),
            ms(s.end_ns),
            x(s.start_ns),
            lane_y(s.lane) + 5.0,
            (x(s.end_ns) - x(s.start_ns)).max(MIN_W),
            LANE_H - 10.0,
            esc(&s.detail)
        );
    }
    for m in &tl.marks {
        let _ = write!(
            h,
            "<line class=\"mark {}{}\" data-t0=\"{}\" data-t1=\"{}\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{:.1}\" y2=\"{height}\"><title>{}</title></line>",
            esc(&m.kind),
            if m.highlight { " violation" } else { "" },
            ms(m.t_ns),
            ms(m.t_ns),
            lane_y(m.lane),
            esc(&m.detail),
            x = x(m.t_ns)
        );
    }
    if let Some(ns) = tl.highlight_ns {
        let _ = write!(
            h,
            "<line class=\"hl\" data-t0=\"{}\" data-t1=\"{}\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{AXIS_H}\" y2=\"{height}\"><title>the event that exposed the failure</title></line>",
            ms(ns),
            ms(ns),
            x = x(ns)
        );
    }
    let _ = write!(
        h,
        "</svg></div></div>\n<script>var PXMS={PX_PER_MS},MINW={MIN_W},END={end_ms:.3};{JS}centre();</script>\n</body></html>\n"
    );
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Op;

    fn ev(t_ms: u64, kind: EventKind) -> Event {
        Event {
            t_ns: t_ms * 1_000_000,
            t_ms: 1_650_000_000_000 + t_ms as i64,
            kind,
        }
    }

    fn get(key: &str) -> Op {
        Op::Get { key: key.into() }
    }

    fn history() -> Vec<Event> {
        vec![
            ev(0, EventKind::Connect { conn: 1 }),
            ev(
                1,
                EventKind::Send {
                    id: 1,
                    conn: 1,
                    op: get("k0"),
                },
            ),
            ev(
                3,
                EventKind::Recv {
                    id: 1,
                    reply: Reply::Bulk(Some(b"v".to_vec())),
                },
            ),
            ev(
                5,
                EventKind::Send {
                    id: 2,
                    conn: 1,
                    op: Op::Incr { key: "k1".into() },
                },
            ),
            ev(
                7,
                EventKind::Recv {
                    id: 2,
                    reply: Reply::Error("ERR value is not an integer".into()),
                },
            ),
            ev(
                8,
                EventKind::Send {
                    id: 3,
                    conn: 1,
                    op: get("k<2>"),
                },
            ),
            ev(9, EventKind::Kill),
            ev(
                10,
                EventKind::Fail {
                    id: 3,
                    err: "connection reset".into(),
                },
            ),
            ev(400, EventKind::Restart),
            ev(410, EventKind::Connect { conn: 2 }),
            ev(420, EventKind::Clog),
            ev(
                421,
                EventKind::Send {
                    id: 4,
                    conn: 2,
                    op: get("k3"),
                },
            ),
            ev(900, EventKind::Unclog),
            ev(
                905,
                EventKind::Recv {
                    id: 4,
                    reply: Reply::Bulk(None),
                },
            ),
            ev(
                950,
                EventKind::Send {
                    id: 5,
                    conn: 2,
                    op: get("k4"),
                },
            ),
        ]
    }

    #[test]
    fn adapter_builds_lanes_spans_and_faults() {
        let tl = from_history(&history(), Some(4));
        let labels: Vec<&str> = tl.lanes.iter().map(|l| l.label.as_str()).collect();
        assert_eq!(labels, ["server", "client c1", "client c2"]);
        let outcomes: Vec<(usize, Outcome, bool)> = tl
            .spans
            .iter()
            .map(|s| (s.lane, s.outcome, s.highlight))
            .collect();
        assert_eq!(
            outcomes,
            [
                (1, Outcome::Ok, false),
                (1, Outcome::Error, true),
                (1, Outcome::Unknown, false),
                (2, Outcome::Ok, false),
                // No reply by the end: runs to the end of the axis.
                (2, Outcome::Unknown, false),
            ]
        );
        assert_eq!(tl.spans[3].start_ns, 421_000_000);
        assert_eq!(tl.spans[3].end_ns, 905_000_000);
        assert_eq!(tl.spans[4].end_ns, tl.end_ns);
        assert_eq!(tl.marks.len(), 2);
        let bands: Vec<(&str, u64, u64)> = tl
            .bands
            .iter()
            .map(|b| {
                (
                    b.kind.as_str(),
                    b.start_ns / 1_000_000,
                    b.end_ns / 1_000_000,
                )
            })
            .collect();
        assert_eq!(bands, [("down", 9, 400), ("partition", 420, 900)]);
        assert_eq!(tl.highlight_ns, Some(7_000_000));
    }

    #[test]
    fn html_has_lanes_bars_faults_and_the_highlight() {
        let mut tl = from_history(&history(), Some(4));
        tl.title = "strings seed=7 <safety>".into();
        let html = render_html(&tl);
        assert!(html.starts_with("<!DOCTYPE html>"));
        // Self-contained: no external assets.
        assert!(!html.contains("src=") && !html.contains("href="));
        for lane in ["server", "client c1", "client c2"] {
            assert!(html.contains(&format!(">{lane}</text>")), "lane {lane}");
        }
        assert_eq!(html.matches("class=\"op ok\"").count(), 2);
        assert_eq!(html.matches("class=\"op err violation\"").count(), 1);
        assert_eq!(html.matches("class=\"op unk\"").count(), 2);
        assert_eq!(html.matches("class=\"band partition\"").count(), 1);
        assert_eq!(html.matches("class=\"band down\"").count(), 1);
        assert_eq!(html.matches("class=\"mark kill\"").count(), 1);
        assert_eq!(html.matches("class=\"mark restart\"").count(), 1);
        assert_eq!(html.matches("class=\"hl\"").count(), 1);
        // Op text is in the tooltip, escaped.
        assert!(html.contains("<title>[5] 8.000 ms: #3 GET k&lt;2&gt;"));
        assert!(html.contains("reply -ERR value is not an integer"));
        assert!(html.contains("<title>strings seed=7 &lt;safety&gt;</title>"));
        // Deterministic.
        assert_eq!(html, render_html(&tl));
    }

    #[test]
    fn a_fault_event_can_be_the_highlight() {
        let tl = from_history(&history(), Some(6));
        assert!(tl.marks[0].highlight && !tl.marks[1].highlight);
        assert!(render_html(&tl).contains("class=\"mark kill violation\""));
        assert!(tl.spans.iter().all(|s| !s.highlight));
    }
}
