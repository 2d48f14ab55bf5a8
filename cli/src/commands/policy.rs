//! `rollgate policy put | show | check`: a platform team's policy for a service in an
//! environment, stored in the release table (written under a role of its own), read at every
//! admission; `check` compares a plan with a policy file offline.

use std::path::Path;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use rollgate::domain::plan::parse_plan_file;
use rollgate::domain::policy::Policy;
use rollgate::ports::{PolicyStore, StoredPolicy};
use serde_json::json;

use super::aws::{self, store_failure};
use super::output::outln;
use super::{CliError, print_json};

/// A policy file, with every problem of the policy itself named.
pub(crate) fn read_policy(path: &Path) -> Result<Policy, CliError> {
    let shown = path.display().to_string();
    let text = rollgate::domain::yaml::read_file(path).map_err(|e| CliError::Parse { path: shown.clone(), problem: e.to_string() })?;
    let policy: Policy = rollgate::domain::yaml::from_str(&text).map_err(|e| CliError::Parse {
        path: shown.clone(),
        problem: format!("{e}; a policy has service, environment and optional checklist, metrics, rollback_alarms, approval, first_step_at_most, freezes (see docs/policy.md)"),
    })?;
    let problems = policy.problems();
    if !problems.is_empty() {
        let lines: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
        return Err(CliError::Parse { path: shown, problem: format!("{} problem(s):\n{}", problems.len(), lines.join("\n")) });
    }
    Ok(policy)
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| CliError::Usage(e.to_string()))
}

/// Stores the policy in `path` as the next version, written by the AWS caller.
pub fn put(path: &Path, table: &str, as_json: bool) -> Result<ExitCode, CliError> {
    let policy = read_policy(path)?;
    runtime()?.block_on(async {
        let config = rollgate::runtime::aws_config_with_platform_roots().await;
        let store = rollgate::adapters::dynamodb::DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), table);
        let by = aws::caller(&config).await?;
        let current = store
            .policy(&policy.service, &policy.environment)
            .await
            .map_err(|e| store_failure("reading the current policy", e, table))?
            .map(|p| p.version);
        let version = current.map_or(1, |v| v.saturating_add(1));
        let stored = StoredPolicy { policy, version, updated_by: by, updated_at: Utc::now() };
        store.put_policy(&stored, current).await.map_err(|e| store_failure("storing the policy", e, table))?;
        if as_json {
            print_json(&json!({"service": stored.policy.service, "environment": stored.policy.environment, "version": version, "updated_by": stored.updated_by}));
        } else {
            outln!(
                "policy of {} in {} is now version {version}{}, by {}; every release admitted from now on must meet it",
                stored.policy.service,
                stored.policy.environment,
                current.map(|v| format!(" (was {v})")).unwrap_or_default(),
                stored.updated_by
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Prints the stored policy of `service` in `environment`.
pub fn show(service: &str, environment: &str, table: &str, as_json: bool) -> Result<ExitCode, CliError> {
    runtime()?.block_on(async {
        let config = rollgate::runtime::aws_config_with_platform_roots().await;
        let store = rollgate::adapters::dynamodb::DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), table);
        let Some(stored) = store.policy(service, environment).await.map_err(|e| store_failure("reading the policy", e, table))? else {
            return Err(CliError::Usage(format!(
                "no policy is stored for {service} in {environment}; releases there are judged by their plans alone (`rollgate policy put FILE` stores one)"
            )));
        };
        if as_json {
            print_json(&stored);
        } else {
            outln!("# version {}, by {} at {}", stored.version, stored.updated_by, stored.updated_at.to_rfc3339());
            let text = serde_json::to_string_pretty(&stored.policy).map_err(|e| CliError::Usage(e.to_string()))?;
            outln!("{text}");
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Whether the plan in `plan_path` meets the policy in `policy_path` for a release starting at
/// `at` (now by default): every rule it breaks, exit 1 if any.
pub fn check(policy_path: &Path, plan_path: &Path, at: Option<DateTime<Utc>>, as_json: bool) -> Result<ExitCode, CliError> {
    let policy = read_policy(policy_path)?;
    let plan = parse_plan_file(plan_path).map_err(|issues| CliError::Parse {
        path: plan_path.display().to_string(),
        problem: format!(
            "{} problem(s) (`rollgate validate` explains them):\n{}",
            issues.len(),
            issues.iter().map(|i| format!("  {i}")).collect::<Vec<_>>().join("\n")
        ),
    })?;
    let breaches = policy.breaches(&plan, at.unwrap_or_else(Utc::now));
    if as_json {
        print_json(
            &json!({"plan": plan.name, "service": policy.service, "environment": policy.environment, "meets": breaches.is_empty(), "breaches": breaches}),
        );
    } else if breaches.is_empty() {
        outln!("ok    plan `{}` meets the policy of {} in {}", plan.name, policy.service, policy.environment);
    } else {
        outln!(
            "refused: plan `{}` breaks {} rule(s) of the policy of {} in {}:",
            plan.name,
            breaches.len(),
            policy.service,
            policy.environment
        );
        for breach in &breaches {
            outln!("  {breach}");
        }
    }
    Ok(if breaches.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
