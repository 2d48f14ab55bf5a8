//! Commands that read or start releases in AWS (or any endpoint in AWS_ENDPOINT_URL): start,
//! status, list, history, report, verify, review. Operators' controls go through the control
//! endpoint (`control`).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use chrono::Utc;
use rollgate::adapters::dynamodb::DynamoStore;
use rollgate::ports::ReleaseStore;
use rollgate::release::week::ReviewWeek;
use rollgate::release::{EventKind, Release, ReleaseEvent};
use serde_json::json;

use super::aws::{self, Needs, store_failure};
use super::check::read_evidence;
use super::output::{errln, outln};
use super::{CliError, print_json};

#[derive(Clone, Copy)]
pub struct Target<'a> {
    pub table: &'a str,
    pub json: bool,
}

pub(super) fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| CliError::Usage(e.to_string()))
}

pub(super) async fn store(table: &str) -> (aws_config::SdkConfig, DynamoStore) {
    let config = rollgate::runtime::aws_config_with_platform_roots().await;
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
    /// Wait until admission decided (the checklist verdict, the lock), at most this long, and
    /// say what it decided.
    pub wait: Option<Duration>,
    pub json: bool,
}

pub fn start(args: StartArgs<'_>) -> Result<ExitCode, CliError> {
    // Validate here first: a bad plan gets its path-located errors before anything starts.
    let Some(plan) = super::plan_or_problems(args.plan, "nothing was started") else { return Ok(ExitCode::FAILURE) };
    let evidence = match args.evidence {
        Some(path) => read_evidence(path)?,
        None => Default::default(),
    };
    let release_id = args
        .release_id
        .map(str::to_string)
        .unwrap_or_else(|| rollgate::flow::admit::new_release_id(args.service, args.environment, args.version));
    let runtime = runtime()?;
    let config = runtime.block_on(rollgate::runtime::aws_config_with_platform_roots());
    // Who starts the release is the AWS caller, as STS knows them.
    let requested_by = runtime.block_on(aws::caller(&config))?;
    let input = json!({
        "release_id": release_id,
        "service": args.service,
        "environment": args.environment,
        "version": args.version,
        "stable_version": args.stable_version,
        "author": evidence.author,
        "requested_by": requested_by,
        "plan": plan,
        "evidence": evidence.evidence,
        "overrides": evidence.overrides,
    });
    let (started, admission) = runtime.block_on(async {
        let sfn = aws_sdk_sfn::Client::new(&config);
        let started = sfn
            .start_execution()
            .state_machine_arn(args.state_machine)
            .name(&release_id)
            .input(input.to_string())
            .send()
            .await
            .map_err(|e| {
                // What the error's type says is wrong, when it is not the setup.
                let specific = e.as_service_error().and_then(|s| {
                    if s.is_execution_already_exists() {
                        Some(format!(
                            "release {release_id} was started before; follow it with `rollgate status {release_id}`, or choose another --release-id"
                        ))
                    } else if s.is_invalid_name() {
                        Some("a release id (the execution's name) has 1 to 80 letters, digits, - or _; choose another --release-id".into())
                    } else {
                        None
                    }
                });
                aws::failure("StartExecution", &e, Needs::StateMachine(args.state_machine), specific)
            })?;
        let admission = match args.wait {
            Some(wait) => Some(admission(&sfn, started.execution_arn(), args.state_machine, wait).await?),
            None => None,
        };
        Ok::<_, CliError>((started, admission))
    })?;
    let refused = matches!(admission, Some(Admission::Refused { .. }));
    if args.json {
        let (admitted, error, cause) = match &admission {
            Some(Admission::Admitted) => (Some(true), None, None),
            Some(Admission::Refused { error, cause }) => (Some(false), Some(error.as_str()), Some(cause.as_str())),
            Some(Admission::Undecided) | None => (None, None, None),
        };
        print_json(&json!({
            "release_id": release_id, "execution_arn": started.execution_arn(),
            "admitted": admitted, "error": error, "cause": cause,
        }));
    } else {
        match &admission {
            Some(Admission::Refused { error, cause }) => {
                errln!("release {release_id} was not admitted ({error}): {cause}");
                errln!("execution: {}", started.execution_arn());
            }
            Some(Admission::Admitted) => {
                outln!(
                    "release {release_id} admitted ({} steps); follow it with `rollgate status {release_id} --watch`",
                    plan.traffic.steps.len()
                );
                outln!("execution: {}", started.execution_arn());
            }
            Some(Admission::Undecided) | None => {
                let still = if admission.is_some() { " (admission has not decided yet)" } else { "" };
                outln!(
                    "started release {release_id}{still} ({} steps); follow it with `rollgate status {release_id} --watch`",
                    plan.traffic.steps.len()
                );
                outln!("execution: {}", started.execution_arn());
            }
        }
    }
    Ok(if refused { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// What admission decided, as the execution tells it.
enum Admission {
    /// The checklist passed and the lock is this release's: traffic steps follow.
    Admitted,
    /// Blocked by the checklist, refused (another release holds the lock, an invalid request),
    /// or failed and undone: the error name and the task's own message.
    Refused { error: String, cause: String },
    /// Still deciding after the wait (the functions are slow to start, or throttled).
    Undecided,
}

/// Follows the execution until it leaves `ValidateChecklist` or ends.
async fn admission(sfn: &aws_sdk_sfn::Client, execution: &str, state_machine: &str, wait: Duration) -> Result<Admission, CliError> {
    use aws_sdk_sfn::types::ExecutionStatus;
    let deadline = std::time::Instant::now() + wait;
    loop {
        let described = sfn
            .describe_execution()
            .execution_arn(execution)
            .send()
            .await
            .map_err(|e| aws::failure("DescribeExecution", &e, Needs::StateMachine(state_machine), None))?;
        let history = sfn
            .get_execution_history()
            .execution_arn(execution)
            .reverse_order(true)
            .max_results(100)
            .send()
            .await
            .map_err(|e| aws::failure("GetExecutionHistory", &e, Needs::StateMachine(state_machine), None))?;
        let events = history.events();
        // FirstStep follows a successful admission only (a Catch leaves ValidateChecklist too).
        let admitted = events.iter().any(|e| e.state_entered_event_details().is_some_and(|d| d.name() == "FirstStep"));
        if admitted {
            return Ok(Admission::Admitted);
        }
        if described.status() != &ExecutionStatus::Running {
            // The task's own failure says why; a Fail state's cause is generic.
            let task = events.iter().find_map(|e| e.task_failed_event_details());
            let ended = described.error().unwrap_or("ended");
            let error = match task.and_then(|d| d.error()) {
                Some(name) if name != ended => format!("{ended}: {name}"),
                _ => ended.to_string(),
            };
            let cause = match task.and_then(|d| d.cause()) {
                Some(cause) => task_message(cause),
                None => described.cause().unwrap_or_default().to_string(),
            };
            return Ok(Admission::Refused { error, cause });
        }
        if std::time::Instant::now() >= deadline {
            return Ok(Admission::Undecided);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A Lambda error's cause is JSON with `errorMessage`; people want the message.
fn task_message(cause: &str) -> String {
    serde_json::from_str::<serde_json::Value>(cause)
        .ok()
        .and_then(|v| v.get("errorMessage").and_then(|m| m.as_str()).map(str::to_string))
        .unwrap_or_else(|| cause.to_string())
}

/// Where a release stands, for people. `now` adds how long the step has been running; watching
/// leaves it out, so that a status is printed again only when it changed.
fn describe(release: &Release, events: &[ReleaseEvent], now: Option<chrono::DateTime<Utc>>) -> String {
    let steps = release.plan.traffic.steps.len();
    let mut out =
        format!("release {}: {} — {} {} in {}", release.id, release.status.as_str(), release.service, release.version, release.environment);
    match (release.step, release.step_started_at) {
        (Some(step), Some(since)) => out.push_str(&format!(
            "\n  step {} of {steps}: {}% on {}, {}% on {} since {}{}",
            step + 1,
            release.canary_weight,
            release.version,
            100 - release.canary_weight.min(100),
            release.stable_version.as_deref().unwrap_or("stable"),
            since.format("%H:%M:%S"),
            now.map(|now| format!(
                " ({} ago)",
                rollgate::HumanDuration::from_secs(u64::try_from((now - since).num_seconds().max(0)).unwrap_or(0))
            ))
            .unwrap_or_default()
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
    if let Some(paused) = &release.paused {
        out.push_str(&format!(
            "\n  PAUSED by {} since {}{}: {} (checks go on; `rollgate resume {}` lets it advance; not resumed, it rolls back when the pause ends)",
            paused.by,
            paused.at.format("%Y-%m-%d %H:%M:%S UTC"),
            paused.until.map(|u| format!(" until {}", u.format("%Y-%m-%d %H:%M UTC"))).unwrap_or_default(),
            paused.reason,
            release.id
        ));
    }
    if let Some(asked) = &release.asked {
        out.push_str(&format!(
            "\n  {} asked by {} at {}: {} (taken by the step's next passing check)",
            asked.control.as_str(),
            asked.action.by,
            asked.action.at.format("%H:%M:%S"),
            asked.action.reason
        ));
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
        let began = std::time::Instant::now();
        loop {
            let found = store.release(release_id).await.map_err(|e| store_failure("reading the release", e, target.table))?;
            let Some(release) = found else {
                // Right after `start --no-wait`, admission may not have recorded the release yet.
                if watch && began.elapsed() < NOT_RECORDED_WAIT {
                    if last.is_empty() && !target.json {
                        outln!("release {release_id} is not recorded yet; waiting for its admission");
                        last = "waiting".into();
                    }
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    continue;
                }
                return Err(not_found(release_id, target.table));
            };
            let events = store.events(release_id).await.map_err(|e| store_failure("reading the audit trail", e, target.table))?;
            if target.json {
                let last_verdict = events.iter().rev().find_map(|e| match &e.kind {
                    EventKind::GateJudged { verdict, .. } => Some(verdict.clone()),
                    _ => None,
                });
                let status = json!({
                    "release_id": release.id, "status": release.status, "step": release.step, "canary_weight": release.canary_weight,
                    "version": release.version, "stable_version": release.stable_version, "closed_reason": release.closed_reason,
                    "last_verdict": last_verdict,
                });
                // Watching, a status is printed when it changed (one JSON document a line).
                let text = status.to_string();
                if text != last {
                    print_json(&status);
                    last = text;
                }
            } else {
                let text = describe(&release, &events, (!watch).then(Utc::now));
                if text != last {
                    outln!("{}{text}", if watch { format!("[{}] ", Utc::now().format("%H:%M:%S")) } else { String::new() });
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

pub fn list(target: Target<'_>, service: Option<&str>, status: Option<&str>, weeks: u32) -> Result<ExitCode, CliError> {
    const STATUSES: [&str; 7] = ["admitted", "blocked", "progressing", "awaiting_approval", "promoted", "rolled_back", "aborted"];
    if let Some(wanted) = status.filter(|s| !STATUSES.contains(s)) {
        return Err(CliError::Usage(format!("--status {wanted} is not a status; use one of {}", STATUSES.join(", "))));
    }
    let now = Utc::now();
    runtime()?.block_on(async {
        let (_, store) = store(target.table).await;
        let failure = |e| store_failure("listing releases", e, target.table);
        // Open releases hold their service's lock; ended ones are found by their admission in
        // the weekly index.
        let mut ids: Vec<String> = store.locks().await.map_err(failure)?.into_iter().map(|l| l.holder).collect();
        let mut week = rollgate::release::week::ReviewWeek::containing(now);
        for _ in 0..=weeks {
            // A page at a time: only the admissions are kept, not the week's events.
            let mut admitted = |e: rollgate::release::ReleaseEvent| {
                if matches!(e.kind, EventKind::Admitted { .. }) {
                    ids.push(e.release_id);
                }
            };
            rollgate::ports::WeeklyEvents::visit_events_in_week(&store, week, &mut admitted).await.map_err(failure)?;
            week = rollgate::release::week::ReviewWeek::before(week.start());
        }
        ids.sort();
        ids.dedup();
        let mut releases = Vec::new();
        for id in ids {
            if let Some(release) = store.release(&id).await.map_err(failure)? {
                let keep = service.is_none_or(|s| release.service == s) && status.is_none_or(|s| release.status.as_str() == s);
                if keep {
                    releases.push(release);
                }
            }
        }
        releases.sort_by_key(|r| std::cmp::Reverse(r.created_at));
        if target.json {
            let rows: Vec<serde_json::Value> = releases
                .iter()
                .map(|r| {
                    json!({"release_id": r.id, "service": r.service, "environment": r.environment, "version": r.version,
                        "status": r.status, "step": r.step, "canary_weight": r.canary_weight, "created_at": r.created_at,
                        "updated_at": r.updated_at, "closed_reason": r.closed_reason})
                })
                .collect();
            print_json(&rows);
        } else if releases.is_empty() {
            outln!("no releases{}", if service.is_some() || status.is_some() { " match" } else { "" });
        } else {
            for r in &releases {
                outln!(
                    "{}  {:<18} {:<24} {:<10} {:<12} {:>3}%  {}",
                    r.created_at.format("%Y-%m-%d %H:%M"),
                    r.status.as_str(),
                    r.service,
                    r.environment,
                    r.version,
                    r.canary_weight,
                    r.id
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn not_found(release_id: &str, table: &str) -> CliError {
    CliError::Usage(format!("release {release_id} was not found in table {table}; check the id and ROLLGATE_TABLE"))
}

/// How long `status --watch` waits for a release that admission has not recorded yet.
const NOT_RECORDED_WAIT: Duration = Duration::from_secs(120);

/// A release's audit trail; none at all is a wrong id or table, said so.
async fn trail(target: Target<'_>, release_id: &str) -> Result<Vec<ReleaseEvent>, CliError> {
    let (_, store) = store(target.table).await;
    let events = store.events(release_id).await.map_err(|e| store_failure("reading the audit trail", e, target.table))?;
    if events.is_empty() {
        return Err(CliError::Usage(format!(
            "release {release_id} has no recorded events in table {}; check the id and ROLLGATE_TABLE",
            target.table
        )));
    }
    Ok(events)
}

pub fn history(target: Target<'_>, release_id: &str) -> Result<ExitCode, CliError> {
    runtime()?.block_on(async {
        let events = trail(target, release_id).await?;
        if target.json {
            print_json(&events);
        } else {
            for e in &events {
                outln!("{}  {:<18} {:<20} {}", e.at.format("%Y-%m-%d %H:%M:%S"), e.actor, e.kind.name(), e.kind.summary());
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `rollgate report`: the release and its trail, read as `status` and `history` read them, on
/// one page (`--html`), as JSON or as text.
pub fn report(target: Target<'_>, release_id: &str, html: bool) -> Result<ExitCode, CliError> {
    if html && target.json {
        return Err(CliError::Usage("--html and --json each choose the report's form; give one of them".into()));
    }
    runtime()?.block_on(async {
        let events = trail(target, release_id).await?;
        let (_, store) = store(target.table).await;
        let release = store
            .release(release_id)
            .await
            .map_err(|e| store_failure("reading the release", e, target.table))?
            .ok_or_else(|| not_found(release_id, target.table))?;
        let report = super::report::Report::new(&release, &events);
        if html {
            outln!("{}", report.html());
        } else if target.json {
            print_json(&report.json());
        } else {
            outln!("{}", report.text());
        }
        Ok(if report.chain.is_ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
    })
}

pub fn verify(target: Target<'_>, release_id: &str) -> Result<ExitCode, CliError> {
    runtime()?.block_on(async {
        let events = trail(target, release_id).await?;
        let verdict = rollgate::release::chain::verify(&events);
        if target.json {
            print_json(&match &verdict {
                Ok(v) => json!({"release_id": release_id, "intact": true, "events": v.events, "unchained": v.unchained, "head": v.head}),
                Err(b) => json!({"release_id": release_id, "intact": false, "seq": b.seq, "problem": b.problem}),
            });
        } else {
            match &verdict {
                Ok(v) if v.unchained > 0 => outln!(
                    "trail of {release_id} intact: {} events; the first {} were written before trails were chained and are not covered; head {}",
                    v.events,
                    v.unchained,
                    v.head
                ),
                Ok(v) => outln!("trail of {release_id} intact: {} events, head {}", v.events, v.head),
                Err(b) => errln!("trail of {release_id} is NOT intact: {b}"),
            }
        }
        Ok(if verdict.is_ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
    })
}

pub fn review(target: Target<'_>, week: Option<&str>, previous_weeks: usize) -> Result<ExitCode, CliError> {
    let now = Utc::now();
    let week = match week {
        Some(w) => w.parse::<ReviewWeek>().map_err(CliError::Usage)?,
        None => ReviewWeek::before(now),
    };
    // `ReviewWeek::end` adds a week unchecked: the last week chrono can represent has no end.
    if week.start().checked_add_signed(chrono::Duration::weeks(1)).is_none() {
        return Err(CliError::Usage(format!("week {week} ends after the last date rollgate can represent; choose an earlier week")));
    }
    runtime()?.block_on(async {
        let (_, store) = store(target.table).await;
        let review = rollgate::review::compile(&store, &store, week, previous_weeks, now)
            .await
            .map_err(|e| store_failure("reading the week's audit trail", e, target.table))?;
        if target.json {
            print_json(&review);
        } else {
            outln!("{}", review.text());
        }
        Ok(ExitCode::SUCCESS)
    })
}
