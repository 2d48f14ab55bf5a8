//! The timeline chart of a release, as SVG: the canary weight over time, and each metric's
//! judged canary (and baseline) values with the plan's bounds. `rollgate simulate --chart` and
//! `rollgate report --html` both draw it here, from a timeline read from the release's trail
//! (`rollgate::simulate::timeline`).

use std::fmt::Write as _;

use rollgate::simulate::{EntryKind, MetricPoint, Simulation, TimelineEntry};

/// What the chart draws.
pub struct Chart<'a> {
    /// The heading: the plan's name, and the scenario's or the release's.
    pub title: &'a str,
    pub subtitle: &'a str,
    /// The time the x axis spans, from offset zero.
    pub duration_secs: u64,
    pub timeline: &'a [TimelineEntry],
    /// Plan bounds per metric: (metric, label, value), as `rollgate::simulate::thresholds` gives.
    pub thresholds: &'a [(String, String, f64)],
}

impl<'a> Chart<'a> {
    pub fn of_simulation(sim: &'a Simulation) -> Self {
        Chart {
            title: &sim.plan,
            subtitle: sim.scenario.as_deref().unwrap_or("scenario"),
            duration_secs: sim.duration_secs,
            timeline: &sim.timeline,
            thresholds: &sim.thresholds,
        }
    }
}

/// An SVG chart: the canary weight over time, and each metric's canary (and baseline) values with
/// the plan's thresholds drawn. Every text from the plan or the trail is escaped.
pub fn svg(chart: &Chart<'_>) -> String {
    let metrics: Vec<String> = {
        // Lines with a value only (a hook's line has none and is not charted).
        let mut unique: Vec<String> = Vec::new();
        for name in
            chart.timeline.iter().flat_map(|e| e.metrics.iter().filter(|m| m.canary.is_some() || m.baseline.is_some()).map(|m| &m.metric))
        {
            if !unique.contains(name) {
                unique.push(name.clone());
            }
        }
        unique
    };
    let (width, panel, left, top) = (900.0, 120.0, 70.0, 40.0);
    let height = top + panel * (1 + metrics.len()) as f64 + 30.0 * (1 + metrics.len()) as f64 + 20.0;
    let span = chart.duration_secs.max(1) as f64;
    let x = |secs: u64| left + (width - left - 20.0) * secs as f64 / span;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11"><rect width="100%" height="100%" fill="white"/><text x="{left}" y="20" font-size="14" font-weight="bold">{} — {}</text>"#,
        escape(chart.title),
        escape(chart.subtitle)
    );
    let mut panel_top = top;
    let mut draw_panel = |svg: &mut String,
                          title: &str,
                          lines: Vec<(&str, Vec<(u64, f64)>)>,
                          thresholds: Vec<(&str, f64)>,
                          fixed: Option<(f64, f64)>| {
        // Only finite values are drawn (a mean that overflowed is in the verdict's text).
        let values: Vec<f64> = lines
            .iter()
            .flat_map(|(_, p)| p.iter().map(|(_, v)| *v))
            .chain(thresholds.iter().map(|(_, v)| *v))
            .filter(|v| v.is_finite())
            .collect();
        let (mut lo, mut hi) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
        if !lo.is_finite() {
            (lo, hi) = (0.0, 1.0);
        }
        if hi - lo < 1e-9 {
            hi = lo + 1.0;
        }
        let pad = (hi - lo) * 0.1;
        let (lo, hi) = fixed.unwrap_or((lo - pad, hi + pad));
        let y = |v: f64| panel_top + panel * (1.0 - (v - lo) / (hi - lo));
        let _ = write!(
            svg,
            r##"<text x="{left}" y="{}" font-weight="bold">{}</text><rect x="{left}" y="{panel_top}" width="{}" height="{panel}" fill="none" stroke="#ccc"/>"##,
            panel_top - 6.0,
            escape(title),
            width - left - 20.0
        );
        let _ = write!(
            svg,
            r##"<text x="4" y="{}">{}</text><text x="4" y="{}">{}</text>"##,
            panel_top + 10.0,
            axis(hi),
            panel_top + panel,
            axis(lo)
        );
        for (label, value) in thresholds.iter().filter(|(_, v)| v.is_finite()) {
            let color = if *label == "rollback" { "#d62728" } else { "#ff7f0e" };
            let _ = write!(
                svg,
                r#"<line x1="{left}" x2="{}" y1="{yv}" y2="{yv}" stroke="{color}" stroke-dasharray="4 3"/><text x="{}" y="{}" fill="{color}">{} {}</text>"#,
                width - 20.0,
                width - 120.0,
                y(*value) - 3.0,
                escape(label),
                rollgate::domain::bounds::format_number(*value),
                yv = y(*value)
            );
        }
        for (i, (name, points)) in lines.iter().enumerate() {
            let color = ["#1f77b4", "#7f7f7f"][i % 2];
            let path: Vec<String> =
                points.iter().filter(|(_, v)| v.is_finite()).map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v))).collect();
            let _ = write!(
                svg,
                r#"<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{}"/><text x="{}" y="{}" fill="{color}">{}</text>"#,
                path.join(" "),
                left + 6.0 + 70.0 * i as f64,
                panel_top + panel + 14.0,
                escape(name)
            );
        }
        panel_top += panel + 30.0;
    };
    let weights: Vec<(u64, f64)> = chart.timeline.iter().map(|e| (e.offset_secs, f64::from(e.canary_weight))).collect();
    draw_panel(&mut svg, "canary weight (%)", vec![("weight", weights)], vec![], Some((0.0, 100.0)));
    for metric in &metrics {
        let series = |pick: fn(&MetricPoint) -> Option<f64>| -> Vec<(u64, f64)> {
            chart
                .timeline
                .iter()
                .flat_map(|e| e.metrics.iter().filter(|m| &m.metric == metric).filter_map(move |m| pick(m).map(|v| (e.offset_secs, v))))
                .collect()
        };
        let mut lines = vec![("canary", series(|m| m.canary))];
        let baseline = series(|m| m.baseline);
        if !baseline.is_empty() {
            lines.push(("baseline", baseline));
        }
        let thresholds = chart.thresholds.iter().filter(|(m, _, _)| m == metric).map(|(_, l, v)| (l.as_str(), *v)).collect();
        draw_panel(&mut svg, metric, lines, thresholds, None);
    }
    if let Some(end) = chart.timeline.last().filter(|e| e.kind == EntryKind::RolledBack) {
        let _ = write!(
            svg,
            r##"<line x1="{x0}" x2="{x0}" y1="{top}" y2="{}" stroke="#d62728" stroke-width="2"/><text x="{}" y="{}" fill="#d62728">rollback</text>"##,
            height - 20.0,
            x(end.offset_secs) - 50.0,
            top - 8.0,
            x0 = x(end.offset_secs)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn axis(value: f64) -> String {
    if value.abs() >= 100.0 { format!("{value:.0}") } else { rollgate::domain::bounds::format_number((value * 100.0).round() / 100.0) }
}

/// Text made safe for HTML and SVG, in element content and in quoted attributes alike.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_leaves_no_markup_in_text_or_attributes() {
        assert_eq!(escape(r#"<script>alert("x")</script> & 'y'"#), "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;");
        assert_eq!(escape("déjà vu ✓"), "déjà vu ✓");
    }

    #[test]
    fn a_hostile_metric_name_and_plan_name_are_drawn_as_text() {
        let entry = TimelineEntry {
            offset_secs: 60,
            at: chrono::Utc::now(),
            step: Some(0),
            canary_weight: 10,
            kind: EntryKind::Check,
            text: "pass → bake".into(),
            metrics: vec![MetricPoint {
                metric: "<img src=x onerror=alert(1)>".into(),
                canary: Some(1.5),
                baseline: Some(f64::NAN),
                outcome: rollgate::domain::gate::MetricOutcome::Pass,
                sentence: String::new(),
            }],
        };
        let thresholds = vec![("<img src=x onerror=alert(1)>".to_string(), "must".to_string(), 2.0)];
        let svg = svg(&Chart { title: "</svg><b>", subtitle: "r1", duration_secs: 120, timeline: &[entry], thresholds: &thresholds });
        assert!(!svg.contains("<img") && !svg.contains("<b>") && svg.matches("</svg>").count() == 1, "{svg}");
        assert!(svg.contains("&lt;img src=x onerror=alert(1)&gt;") && svg.contains("must 2"), "{svg}");
        assert!(!svg.contains("NaN"), "a value that is not a number is not drawn: {svg}");
    }
}
