//! The Mann-Whitney judge agrees with R's wilcox.test on the fixtures it produced
//! (see the command in the fixture file).

use rollgate::domain::stats::{Method, mann_whitney};
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixtures {
    command: String,
    confidence: f64,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    method: String,
    x: Vec<f64>,
    y: Vec<f64>,
    statistic: f64,
    p_value: f64,
    estimate: f64,
    conf_int: [f64; 2],
    r_conf_int_tol_1e4: [f64; 2],
}

fn close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance * b.abs().max(1.0)
}

#[test]
fn agrees_with_r_to_1e_6() {
    let text = include_str!("fixtures/mann_whitney.json");
    let fixtures: Fixtures = serde_json::from_str(text).unwrap_or_else(|e| panic!("fixtures: {e}"));
    assert!(fixtures.cases.len() >= 20, "at least 20 reference cases");
    assert!(fixtures.cases.iter().any(|c| c.method == "normal") && fixtures.cases.iter().any(|c| c.method == "exact"));
    let mut failures = Vec::new();
    for case in &fixtures.cases {
        let result = match mann_whitney(&case.x, &case.y, fixtures.confidence) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{}: {e}", case.name));
                continue;
            }
        };
        let method = if result.method == Method::Exact { "exact" } else { "normal" };
        let checks = [
            ("method", method == case.method),
            ("statistic", close(result.u, case.statistic, 1e-9)),
            ("p_value", close(result.p_value, case.p_value, 1e-6)),
            ("estimate", close(result.estimate, case.estimate, 1e-9)),
            ("ci_low", close(result.ci_low, case.conf_int[0], 1e-6)),
            ("ci_high", close(result.ci_high, case.conf_int[1], 1e-6)),
            // R's own interval, found with uniroot(tol = 1e-4).
            ("r_ci_low", close(result.ci_low, case.r_conf_int_tol_1e4[0], 2e-4)),
            ("r_ci_high", close(result.ci_high, case.r_conf_int_tol_1e4[1], 2e-4)),
        ];
        for (what, ok) in checks {
            if !ok {
                failures.push(format!(
                    "{} [{}]: {what} differs: ours u={} p={} est={} ci=[{}, {}] ({method}); R u={} p={} est={} ci={:?} ({})",
                    case.name,
                    case.method,
                    result.u,
                    result.p_value,
                    result.estimate,
                    result.ci_low,
                    result.ci_high,
                    case.statistic,
                    case.p_value,
                    case.estimate,
                    case.conf_int,
                    case.method
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{} disagreement(s) with R ({}):\n{}", failures.len(), fixtures.command, failures.join("\n"));
}
