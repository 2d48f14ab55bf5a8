//! What a release costs on AWS: the usage of one release (measured by running it in the
//! simulator, which runs the deployed state machine and the functions' own code, see
//! `simulate::Simulation::usage`) priced from a dated list-price table in the repository.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What one release asked of AWS, counted while it ran (not estimated from the plan's shape).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// States the execution entered (Step Functions Standard bills each, retries included).
    pub state_transitions: u64,
    /// Invocations of each function.
    pub lambda_invocations: BTreeMap<String, u64>,
    /// DynamoDB request units, as the DynamoDB adapters' requests consume them (on-demand).
    pub dynamodb_read_units: u64,
    pub dynamodb_write_units: u64,
    pub get_metric_data_calls: u64,
    /// CloudWatch bills GetMetricData per metric requested.
    pub metrics_requested: u64,
    /// Notifications published to SNS (the release topic, the alarm topic).
    pub sns_publishes: u64,
    /// Requests through the HTTP API: approval votes (a Slack click, a CLI vote).
    pub api_requests: u64,
    /// Time the functions spent waiting for step hooks (billed as the functions' duration; the
    /// hooks' own Lambda functions or endpoints are the team's and not counted).
    #[serde(default)]
    pub hook_wait_ms: u64,
}

impl Usage {
    pub fn invocations(&self) -> u64 {
        self.lambda_invocations.values().sum()
    }
}

/// What the simulation cannot measure: how long an invocation bills, at which memory size.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Assumptions {
    /// The functions' memory size (the template's `MemorySize`).
    pub lambda_memory_mb: u32,
    /// Billed duration of an average invocation (a few DynamoDB calls and one AWS call).
    pub lambda_billed_ms: u32,
}

impl Default for Assumptions {
    fn default() -> Self {
        Self { lambda_memory_mb: 256, lambda_billed_ms: 100 }
    }
}

/// List prices of one region, in USD per unit (`pricing/<region>.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceTable {
    pub region: String,
    /// When the figures were last compared with the pricing pages.
    pub as_of: String,
    pub note: String,
    pub sources: Vec<String>,
    pub step_functions_state_transition: f64,
    pub lambda_request: f64,
    pub lambda_arm64_gb_second: f64,
    pub dynamodb_write_request_unit: f64,
    pub dynamodb_read_request_unit: f64,
    pub cloudwatch_metric_requested: f64,
    pub sns_publish: f64,
    pub http_api_request: f64,
}

impl PriceTable {
    /// The us-east-1 table shipped with rollgate.
    pub fn us_east_1() -> Result<Self, serde_json::Error> {
        serde_json::from_str(include_str!("../../pricing/us-east-1.json"))
    }

    fn prices(&self) -> [f64; 8] {
        [
            self.step_functions_state_transition,
            self.lambda_request,
            self.lambda_arm64_gb_second,
            self.dynamodb_write_request_unit,
            self.dynamodb_read_request_unit,
            self.cloudwatch_metric_requested,
            self.sns_publish,
            self.http_api_request,
        ]
    }

    /// Every price is a finite, positive number.
    pub fn is_sane(&self) -> bool {
        self.prices().iter().all(|p| p.is_finite() && *p > 0.0)
    }
}

/// One line of a bill: a service, what was used of it, and what that costs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CostLine {
    pub service: String,
    pub usage: String,
    pub quantity: f64,
    pub unit_price: f64,
    pub dollars: f64,
}

/// What one release costs, most expensive line first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bill {
    pub region: String,
    pub prices_as_of: String,
    pub assumptions: Assumptions,
    pub lines: Vec<CostLine>,
    pub total: f64,
}

/// Prices `usage` (one release) at `prices`. Free tiers are not deducted: the bill is what a
/// release adds once they are used up.
pub fn price(usage: &Usage, assumptions: Assumptions, prices: &PriceTable) -> Bill {
    let invocations = usage.invocations();
    let billed_secs = (invocations as f64 * f64::from(assumptions.lambda_billed_ms) + usage.hook_wait_ms as f64) / 1000.0;
    let gb_seconds = billed_secs * f64::from(assumptions.lambda_memory_mb) / 1024.0;
    let hooks =
        if usage.hook_wait_ms > 0 { format!(" + {:.1} s waiting for hooks", usage.hook_wait_ms as f64 / 1000.0) } else { String::new() };
    let line = |service: &str, usage: String, quantity: f64, unit_price: f64| CostLine {
        service: service.to_string(),
        usage,
        quantity,
        unit_price,
        dollars: quantity * unit_price,
    };
    let mut lines = vec![
        line(
            "Step Functions",
            format!("{} state transitions", usage.state_transitions),
            usage.state_transitions as f64,
            prices.step_functions_state_transition,
        ),
        line(
            "CloudWatch",
            format!("{} metrics requested in {} GetMetricData calls", usage.metrics_requested, usage.get_metric_data_calls),
            usage.metrics_requested as f64,
            prices.cloudwatch_metric_requested,
        ),
        line(
            "DynamoDB",
            format!("{} write request units", usage.dynamodb_write_units),
            usage.dynamodb_write_units as f64,
            prices.dynamodb_write_request_unit,
        ),
        line(
            "DynamoDB",
            format!("{} read request units", usage.dynamodb_read_units),
            usage.dynamodb_read_units as f64,
            prices.dynamodb_read_request_unit,
        ),
        line("Lambda", format!("{invocations} invocations"), invocations as f64, prices.lambda_request),
        line(
            "Lambda",
            format!(
                "{gb_seconds:.2} GB-seconds ({invocations} × {} ms{hooks} at {} MB, arm64)",
                assumptions.lambda_billed_ms, assumptions.lambda_memory_mb
            ),
            gb_seconds,
            prices.lambda_arm64_gb_second,
        ),
        line("SNS", format!("{} publishes", usage.sns_publishes), usage.sns_publishes as f64, prices.sns_publish),
        line("API Gateway", format!("{} HTTP API requests", usage.api_requests), usage.api_requests as f64, prices.http_api_request),
    ];
    lines.sort_by(|a, b| b.dollars.total_cmp(&a.dollars));
    let total = lines.iter().map(|l| l.dollars).sum();
    Bill { region: prices.region.clone(), prices_as_of: prices.as_of.clone(), assumptions, lines, total }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_price_table_parses_and_every_price_is_positive() {
        let prices = PriceTable::us_east_1().unwrap_or_else(|e| panic!("pricing/us-east-1.json: {e}"));
        assert!(prices.is_sane(), "{prices:?}");
        assert_eq!(prices.region, "us-east-1");
    }

    #[test]
    fn a_bill_adds_up_its_lines_most_expensive_first() {
        let prices = PriceTable::us_east_1().unwrap_or_else(|e| panic!("{e}"));
        let usage = Usage {
            state_transitions: 1000,
            lambda_invocations: BTreeMap::from([("MetricGate".to_string(), 100), ("TrafficSwitch".to_string(), 10)]),
            dynamodb_read_units: 400,
            dynamodb_write_units: 2000,
            get_metric_data_calls: 100,
            metrics_requested: 1200,
            sns_publishes: 7,
            api_requests: 2,
            hook_wait_ms: 0,
        };
        let bill = price(&usage, Assumptions::default(), &prices);
        let sum: f64 = bill.lines.iter().map(|l| l.dollars).sum();
        assert!((bill.total - sum).abs() < 1e-12);
        // 1,000 transitions at $0.025 per 1,000.
        assert!((bill.lines[0].dollars - 0.025).abs() < 1e-9, "{:?}", bill.lines[0]);
        assert!(bill.lines.windows(2).all(|w| w[0].dollars >= w[1].dollars));
        // 110 invocations × 0.1 s × 0.25 GB.
        let duration = bill.lines.iter().find(|l| l.usage.contains("GB-seconds")).map(|l| l.quantity);
        assert!(duration.is_some_and(|q| (q - 2.75).abs() < 1e-9), "{duration:?}");
    }
}
