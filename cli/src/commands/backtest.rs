//! `rollgate backtest`: a changed plan against the past releases of a service, from the
//! datapoints their checks kept in the trail, and from CloudWatch for the checks whose trail
//! cannot answer the new plan (unless `--no-cloudwatch`).

use std::path::Path;
use std::process::ExitCode;

use chrono::Utc;
use rollgate::HumanDuration;
use rollgate::review::backtest::{backtest, past_releases, read_again};

use super::aws::store_failure;
use super::output::outln;
use super::release::{Target, runtime, store};
use super::{CliError, print_json};

/// How far back a backtest may look: a year and a day (trails are not kept forever, and every
/// week looked at is read from the weekly index).
const LONGEST_SINCE_SECS: u64 = 366 * 86_400;

pub struct BacktestArgs<'a> {
    pub plan: &'a Path,
    pub service: &'a str,
    pub environment: Option<&'a str>,
    pub since: HumanDuration,
    /// Judge on the trail alone: no GetMetricData call (each costs; see `rollgate cost`).
    pub no_cloudwatch: bool,
}

pub fn run(target: Target<'_>, args: BacktestArgs<'_>) -> Result<ExitCode, CliError> {
    if args.since.is_zero() || args.since.as_secs() > LONGEST_SINCE_SECS {
        return Err(CliError::Usage(format!("--since {} is out of range; give a duration from 1m to 366d, e.g. 30d", args.since)));
    }
    let Some(plan) = super::plan_or_problems(args.plan, "nothing was backtested") else { return Ok(ExitCode::FAILURE) };
    let now = Utc::now();
    let from = args.since.before(now);
    runtime()?.block_on(async {
        let (config, store) = store(target.table).await;
        let mut releases = past_releases(&store, &store, args.service, args.environment, from, now)
            .await
            .map_err(|e| store_failure("reading the past releases", e, target.table))?;
        if !args.no_cloudwatch {
            read_again(&rollgate::runtime::cloudwatch_source(&config), &plan, &mut releases, now).await;
        }
        let report = backtest(&plan, &releases);
        let scope = format!(
            "{}{} since {}",
            args.service,
            args.environment.map(|e| format!(" in {e}")).unwrap_or_default(),
            from.format("%Y-%m-%d %H:%M UTC")
        );
        if target.json {
            let mut value = serde_json::to_value(&report).map_err(|e| CliError::Usage(format!("cannot render the report: {e}")))?;
            if let Some(object) = value.as_object_mut() {
                object.insert("service".into(), args.service.into());
                object.insert("environment".into(), args.environment.into());
                object.insert("since".into(), from.to_rfc3339().into());
            }
            print_json(&value);
        } else if releases.is_empty() {
            outln!("no ended releases of {scope}; nothing to backtest");
        } else {
            outln!("releases of {scope}");
            outln!("{}", report.text().trim_end());
        }
        Ok(ExitCode::SUCCESS)
    })
}
