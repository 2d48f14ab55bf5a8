//! Commands against AWS (or any endpoint in AWS_ENDPOINT_URL): start, status, approve, reject,
//! abort, history.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use chrono::Utc;
use rollgate::adapters::dynamodb::DynamoStore;
use rollgate::adapters::routers::Routers;
use rollgate::adapters::sfn::StepFunctionsWorkflow;
use rollgate::domain::plan::parse_plan_file;
use rollgate::flow::approval::{self, Vote};
use rollgate::flow::rollback::{RestorePolicy, roll_back};
use rollgate::ports::{Notifier, NotifyError, ReleaseStore};
use rollgate::release::notification::ReleaseNotification;
use rollgate::release::week::ReviewWeek;
use rollgate::release::{EventKind, Release, ReleaseEvent};
use serde_json::json;

use super::check::read_evidence;
use super::{CliError, print_json};

/// Who writes CLI actions in the audit trail.
const ACTOR: &str = "rollgate-cli";

pub struct Target<'a> {
    pub table: &'a str,
    pub json: bool,
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| CliError::Usage(e.to_string()))
}

fn aws_error(what: &str, e: impl std::fmt::Display) -> CliError {
    CliError::Usage(format!("{what} failed: {e}; check AWS credentials, region and AWS_ENDPOINT_URL"))
}

async fn store(table: &str) -> (aws_config::SdkConfig, DynamoStore) {
    let config = rollgate::runtime::aws_config().await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), table);
    (config, store)
}

pub struct StartArgs<'a> {
    pub plan: &'a Path,
    pub evidence: Option<&'a Path>,
    pub service: &'a str,
    pub environment: &'a str,
    pub version: &'a str,
    pub stable_version: &'a str,
    pub release_id: Option<&'a str>,
    pub state_machine: &'a str,
    pub json: bool,
}

pub fn start(args: StartArgs<'_>) -> Result<ExitCode, CliError> {
    // Validate here first: a bad plan gets its path-located errors before anything starts.
    let plan = match parse_plan_file(args.plan) {
        Ok(plan) => plan,
        Err(issues) => {
            eprintln!("error {}: the plan has {} problem(s); nothing was started:", args.plan.display(), issues.len());
            for issue in &issues {
                eprintln!("  {issue}");
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    let evidence = match args.evidence {
        Some(path) => read_evidence(path)?,
        None => Default::default(),
    };
    let release_id = args
        .release_id
        .map(str::to_string)
        .unwrap_or_else(|| rollgate::flow::admit::new_release_id(args.service, args.environment, args.version));
    let input = json!({
        "release_id": release_id,
        "service": args.service,
        "environment": args.environment,
        "version": args.version,
        "stable_version": args.stable_version,
        "author": evidence.author,
        "requested_by": std::env::var("USER").ok(),
        "plan": plan,
        "evidence": evidence.evidence,
        "overrides": evidence.overrides,
    });
    let started = runtime()?.block_on(async {
        let config = rollgate::runtime::aws_config().await;
        aws_sdk_sfn::Client::new(&config)
            .start_execution()
            .state_machine_arn(args.state_machine)
            .name(&release_id)
            .input(input.to_string())
            .send()
            .await
            .map_err(|e| aws_error("StartExecution", aws_sdk_sfn::error::DisplayErrorContext(e)))
    })?;
    if args.json {
        print_json(&json!({"release_id": release_id, "execution_arn": started.execution_arn()}));
    } else {
        println!(
            "started release {release_id} ({} steps); follow it with `rollgate status {release_id} --watch`",
            plan.traffic.steps.len()
        );
        println!("execution: {}", started.execution_arn());
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(release: &Release, events: &[ReleaseEvent]) -> String {
    let steps = release.plan.traffic.steps.len();
    let mut out =
        format!("release {}: {} — {} {} in {}", release.id, release.status.as_str(), release.service, release.version, release.environment);
    match (release.step, release.step_started_at) {
        (Some(step), Some(since)) => out.push_str(&format!(
            "\n  step {} of {steps}: {}% on {}, {}% on {} since {} ({} ago)",
            step + 1,
            release.canary_weight,
            release.version,
            100 - release.canary_weight.min(100),
            release.stable_version.as_deref().unwrap_or("stable"),
            since.format("%H:%M:%S"),
            rollgate::HumanDuration::from_secs(u64::try_from((Utc::now() - since).num_seconds().max(0)).unwrap_or(0))
        )),
        _ => out.push_str("\n  no traffic moved yet"),
    }
    if let Some(e) = events.iter().rev().find(|e| matches!(e.kind, EventKind::GateJudged { .. })) {
        out.push_str(&format!("\n  last check {}: {}", e.at.format("%H:%M:%S"), e.kind.summary()));
        if let EventKind::GateJudged { verdict, .. } = &e.kind {
            for m in &verdict.metrics {
                out.push_str(&format!("\n    {:?}: {}", m.outcome, m.sentence));
            }
        }
    }
    let waiting = release.status == rollgate::release::ReleaseStatus::AwaitingApproval;
    if let Some(e) = events.iter().rev().find(|e| matches!(e.kind, EventKind::ApprovalRequested { .. })).filter(|_| waiting) {
        out.push_str(&format!("\n  waiting: {}", e.kind.summary()));
        let votes: Vec<String> = events
            .iter()
            .filter(|v| v.at >= e.at)
            .filter_map(|v| match &v.kind {
                EventKind::ApprovalDecided { by, approved, .. } => {
                    Some(format!("{by} {}", if *approved { "approved" } else { "rejected" }))
                }
                _ => None,
            })
            .collect();
        if !votes.is_empty() {
            out.push_str(&format!("\n  votes so far: {}", votes.join(", ")));
        }
    }
    if let Some(reason) = &release.closed_reason {
        out.push_str(&format!("\n  {reason}"));
    }
    out
}

pub fn status(target: Target<'_>, release_id: &str, watch: bool) -> Result<ExitCode, CliError> {
    runtime()?.block_on(async {
        let (_, store) = store(target.table).await;
        let mut last = String::new();
        loop {
            let release = store.release(release_id).await.map_err(|e| aws_error("reading the release", e))?.ok_or_else(|| {
                CliError::Usage(format!("release {release_id} was not found in table {}; check the id and ROLLGATE_TABLE", target.table))
            })?;
            let events = store.events(release_id).await.map_err(|e| aws_error("reading the audit trail", e))?;
            if target.json {
                let last_verdict = events.iter().rev().find_map(|e| match &e.kind {
                    EventKind::GateJudged { verdict, .. } => Some(verdict.clone()),
                    _ => None,
                });
                print_json(&json!({
                    "release_id": release.id, "status": release.status, "step": release.step, "canary_weight": release.canary_weight,
                    "version": release.version, "stable_version": release.stable_version, "closed_reason": release.closed_reason,
                    "last_verdict": last_verdict,
                }));
            } else {
                let text = describe(&release, &events);
                if text != last {
                    println!("{}{text}", if watch { format!("[{}] ", Utc::now().format("%H:%M:%S")) } else { String::new() });
                    last = text;
                }
            }
            if !watch || release.status.is_final() {
                return Ok(ExitCode::SUCCESS);
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    })
}

pub fn history(target: Target<'_>, release_id: &str) -> Result<ExitCode, CliError> {
    runtime()?.block_on(async {
        let (_, store) = store(target.table).await;
        let events = store.events(release_id).await.map_err(|e| aws_error("reading the audit trail", e))?;
        if events.is_empty() {
            return Err(CliError::Usage(format!(
                "release {release_id} has no recorded events in table {}; check the id and ROLLGATE_TABLE",
                target.table
            )));
        }
        if target.json {
            print_json(&events);
        } else {
            for e in &events {
                println!("{}  {:<18} {:<20} {}", e.at.format("%Y-%m-%d %H:%M:%S"), e.actor, e.kind.name(), e.kind.summary());
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub fn decide(target: Target<'_>, release_id: &str, by: &str, approved: bool, comment: Option<String>) -> Result<ExitCode, CliError> {
    runtime()?.block_on(async {
        let (config, store) = store(target.table).await;
        let workflow = StepFunctionsWorkflow::new(aws_sdk_sfn::Client::new(&config));
        let vote = Vote { release_id: release_id.to_string(), identities: vec![by.to_string()], approved, comment, on: None };
        let resolution = approval::resolve(&store, &workflow, ACTOR, &vote, Utc::now())
            .await
            .map_err(|e| if e.is_transient() { aws_error("recording the decision", e) } else { CliError::Usage(e.to_string()) })?;
        let message = resolution.describe();
        if target.json {
            print_json(&json!({"release_id": release_id, "result": message}));
        } else {
            println!("{message}");
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub fn review(target: Target<'_>, week: Option<&str>) -> Result<ExitCode, CliError> {
    let now = Utc::now();
    let week = match week {
        Some(w) => w.parse::<ReviewWeek>().map_err(CliError::Usage)?,
        None => ReviewWeek::before(now),
    };
    runtime()?.block_on(async {
        let (_, store) = store(target.table).await;
        let review =
            rollgate::review::compile(&store, &store, week, now).await.map_err(|e| aws_error("reading the week's audit trail", e))?;
        if target.json {
            print_json(&review);
        } else {
            println!("{}", review.text());
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Publishing when no topic is configured: the failure is recorded, never silent.
struct NoTopic;

#[async_trait::async_trait]
impl Notifier for NoTopic {
    async fn publish(&self, n: &ReleaseNotification) -> Result<(), NotifyError> {
        Err(NotifyError {
            event: n.event_name().into(),
            transient: false,
            message: "ROLLGATE_TOPIC_ARN is not set; set it to publish notifications".into(),
        })
    }
}

pub fn abort(target: Target<'_>, release_id: &str, by: &str, reason: &str, state_machine: Option<&str>) -> Result<ExitCode, CliError> {
    runtime()?.block_on(async {
        let (config, store) = store(target.table).await;
        // Stop the execution first, so that it cannot move traffic while we restore it.
        if let Some(arn) = state_machine {
            let execution = format!("{}:{release_id}", arn.replacen(":stateMachine:", ":execution:", 1));
            let stopped = aws_sdk_sfn::Client::new(&config)
                .stop_execution()
                .execution_arn(&execution)
                .error("Aborted")
                .cause(format!("aborted by {by}: {reason}"))
                .send()
                .await;
            if let Err(e) = stopped {
                eprintln!("note: the execution could not be stopped ({}); rolling back anyway", aws_sdk_sfn::error::DisplayErrorContext(e));
            }
        }
        let routers = Routers::from_config(&config);
        let topic = rollgate::runtime::sns_notifier(&config).ok();
        let notifier: &dyn Notifier = match &topic {
            Some(sns) => sns,
            None => &NoTopic,
        };
        let text = format!("aborted by {by}: {reason}");
        let outcome = roll_back(&store, &routers, notifier, release_id, &text, RestorePolicy::default(), Utc::now)
            .await
            .map_err(|e| CliError::Usage(e.to_string()))?;
        if target.json {
            print_json(&json!({"release_id": release_id, "status": outcome.release.status, "notified": outcome.notified}));
        } else if outcome.record.is_some() {
            println!(
                "release {release_id} rolled back: {text}{}",
                if outcome.notified { "" } else { " (notification not sent; see `rollgate history`)" }
            );
        } else {
            println!("release {release_id} had already ended: {}", outcome.release.status.as_str());
        }
        Ok(ExitCode::SUCCESS)
    })
}
