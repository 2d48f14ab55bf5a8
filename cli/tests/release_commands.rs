//! `rollgate start | status | approve | reject | pause | resume | skip | promote | abort | history
//! | report` against the local stack, through the real binary. `make test` starts the stack (and
//! `make tools` installs Chromium, which renders a report page).

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use rollgate::ports::ReleaseStore;
use rollgate_tests::fixtures::{Person, iam_user, role_session};
use rollgate_tests::local_stack::{Stack, TABLE, control_url, stack};
use serde_json::Value;

/// `rollgate` run by the stack's operator (an IAM user of the emulator).
fn rollgate(stack: &Stack, args: &[&str]) -> Output {
    rollgate_as(stack, &stack.operator, args)
}

/// `rollgate` run by `person`: their AWS credentials are who they are to rollgate.
fn rollgate_as(stack: &Stack, person: &Person, args: &[&str]) -> Output {
    command(stack, args).env_remove("AWS_SESSION_TOKEN").envs(person.env()).output().unwrap_or_else(|e| panic!("rollgate: {e}"))
}

fn command(stack: &Stack, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rollgate"));
    command
        .args(args)
        .env("ROLLGATE_TABLE", TABLE)
        .env("ROLLGATE_CONTROL_URL", control_url())
        .env("ROLLGATE_STATE_MACHINE_ARN", &stack.state_machine);
    command
}

/// The approvers of APPROVAL_PLAN: bob, an IAM user, and the role `release-managers`, of which
/// carol holds a session; mallory is an IAM user the plan does not list.
struct People {
    bob: Person,
    carol: Person,
    mallory: Person,
    plan: PathBuf,
}

async fn people(stack: &Stack, name: &str) -> People {
    people_for(stack, name, APPROVAL_PLAN).await
}

/// The people of `people`, approvers of a plan written from `template` (BOB, RELEASE_MANAGERS).
async fn people_for(stack: &Stack, name: &str, template: &str) -> People {
    let bob = iam_user(&stack.config, &unique("bob")).await;
    let mallory = iam_user(&stack.config, &unique("mallory")).await;
    let (carol, release_managers) = role_session(&stack.config, &unique("release-managers"), "carol").await;
    let plan = template.replace("BOB", &bob.arn).replace("RELEASE_MANAGERS", &release_managers);
    People { bob, carol, mallory, plan: plan_file(name, &plan) }
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "rollgate failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).to_string()
}

fn plan_file(name: &str, body: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("{name}-{}.yaml", std::process::id()));
    std::fs::write(&path, body).unwrap_or_else(|e| panic!("{e}"));
    path
}

fn wait_for_status(stack: &Stack, id: &str, wanted: &str) -> Value {
    wait_until(stack, id, wanted, |status| status["status"] == wanted)
}

fn wait_until(stack: &Stack, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let output = rollgate(stack, &["--json", "status", id]);
        // Right after `start` the execution may not have admitted the release yet.
        let status: Value = if output.status.success() { serde_json::from_slice(&output.stdout).unwrap_or_default() } else { Value::Null };
        if done(&status) {
            return status;
        }
        // Generous: a function instance that starts cold builds first (`cargo run` under cargo lambda).
        assert!(started.elapsed() < Duration::from_secs(240), "release {id} never reached {what}: {status}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

const APPROVAL_PLAN: &str = r#"
name: cli-approval
traffic:
  router: { type: dry_run }
  steps:
    - { weight: 10, bake: 2s, approval: go-no-go }
    - { weight: 100, bake: 2s }
approvals:
  - { id: go-no-go, approvers: ["BOB", "RELEASE_MANAGERS"], quorum: 2, timeout: 10m }
"#;

fn start(stack: &Stack, plan: &std::path::Path, service: &str, id: &str) -> String {
    ok(start_output(stack, plan, service, id))
}

fn start_output(stack: &Stack, plan: &std::path::Path, service: &str, id: &str) -> Output {
    rollgate(
        stack,
        &[
            "start",
            plan.to_str().unwrap_or_default(),
            "--service",
            service,
            "--environment",
            "e2e",
            "--version",
            "42",
            "--stable-version",
            "41",
            "--release-id",
            id,
            // As patient as the test: a function instance that starts cold builds first.
            "--wait-secs",
            "240",
        ],
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn e2e_a_release_is_approved_by_quorum_and_promoted() {
    let stack = stack("cli-approve").await;
    let People { bob, carol, mallory, plan } = people(&stack, "approval").await;
    let (service, id) = (unique("billing"), unique("rel"));
    // `start` waits for admission and says what it decided.
    assert!(start(&stack, &plan, &service, &id).contains(&format!("release {id} admitted")));
    wait_for_status(&stack, &id, "awaiting_approval");
    let text = ok(rollgate(&stack, &["status", &id]));
    assert!(text.contains("waiting: approval `go-no-go` requested from") && text.contains("(quorum 2)"), "{text}");

    // Who votes is who AWS says the caller is: there is no flag to name someone else.
    let stranger = rollgate_as(&stack, &mallory, &["approve", &id]);
    let said = String::from_utf8_lossy(&stranger.stderr);
    assert!(!stranger.status.success());
    assert!(said.contains(&format!("{} is not an approver of `go-no-go`", mallory.arn)), "{said}");
    let named = rollgate_as(&stack, &mallory, &["approve", &id, "--by", &bob.arn]);
    assert!(!named.status.success() && String::from_utf8_lossy(&named.stderr).contains("--by"), "`--by` is gone");
    // The release was started by this test's own identity: it cannot approve it either.
    let own = rollgate(&stack, &["approve", &id]);
    assert!(!own.status.success(), "{}", String::from_utf8_lossy(&own.stdout));
    assert!(ok(rollgate_as(&stack, &bob, &["approve", &id])).contains("1 of 2 approvals"));
    let text = ok(rollgate(&stack, &["status", &id]));
    assert!(text.contains(&format!("votes so far: {} approved", bob.arn)), "{text}");
    // carol's session counts as the role the plan lists.
    let role = rollgate::release::approval::iam_identities(&carol.arn).pop().unwrap_or_default();
    let approved = ok(rollgate_as(&stack, &carol, &["approve", &id, "--comment", "metrics look good"]));
    let approved = approved.to_lowercase();
    assert!(
        approved.contains("approved by") && approved.contains(&bob.arn.to_lowercase()) && approved.contains(&role.to_lowercase()),
        "{approved}"
    );

    wait_for_status(&stack, &id, "promoted");
    let history = ok(rollgate(&stack, &["history", &id]));
    for line in [format!("granted by {}", bob.arn), format!("granted by {role}: metrics look good"), "closed promoted".to_string()] {
        assert!(history.to_lowercase().contains(&line.to_lowercase()), "history lacks `{line}`:\n{history}");
    }
    // The trail names the exact session that voted, not only the role it matched.
    let trail = ok(rollgate(&stack, &["--json", "history", &id]));
    assert!(trail.contains(&carol.arn), "the voting session is the event's actor: {trail}");
}

#[tokio::test(flavor = "multi_thread")]
async fn e2e_a_rejected_release_rolls_back_with_the_reason() {
    let stack = stack("cli-reject").await;
    let People { carol, plan, .. } = people(&stack, "reject").await;
    let (service, id) = (unique("billing"), unique("rel"));
    start(&stack, &plan, &service, &id);
    wait_for_status(&stack, &id, "awaiting_approval");
    assert!(ok(rollgate_as(&stack, &carol, &["reject", &id, "--comment", "freeze for the board demo"])).contains("rolls back"));
    let status = wait_for_status(&stack, &id, "rolled_back");
    let reason = status["closed_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("the approval `go-no-go` was rejected by") && reason.contains("role/release-managers"), "{reason}");
    assert!(reason.ends_with(": freeze for the board demo"), "{reason}");
}

#[tokio::test(flavor = "multi_thread")]
async fn e2e_abort_rolls_back_now_and_stops_the_execution() {
    let stack = stack("cli-abort").await;
    let plan = plan_file(
        "abort",
        "name: cli-abort\ntraffic:\n  router: { type: dry_run }\n  steps: [{ weight: 25, bake: 1h }, { weight: 100, bake: 1h }]\n",
    );
    let (service, id) = (unique("search"), unique("rel"));
    start(&stack, &plan, &service, &id);
    wait_until(&stack, &id, "25% on the first step", |status| status["status"] == "progressing" && status["canary_weight"] == 25);
    // A second release of the service is refused at admission, and `start` says so and why.
    let second = unique("rel");
    let refused = start_output(&stack, &plan, &service, &second);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "a refused release is a failed start: {said}");
    assert!(said.contains(&format!("release {second} was not admitted (Refused: LockHeld)")), "{said}");
    assert!(said.contains(&format!("locked by release {id}")) && said.contains(&format!("rollgate abort {id}")), "{said}");
    // Who aborts is the caller AWS knows (this test's own identity on the emulator).
    let aborted = ok(rollgate(&stack, &["abort", &id, "--reason", "customer reports"]));
    assert!(aborted.contains("rolled back: aborted by arn:aws:") && aborted.contains(": customer reports"), "{aborted}");
    // Rolled back, and ended as what it was: an operator's abort.
    let status = wait_for_status(&stack, &id, "aborted");
    assert_eq!(status["canary_weight"], 0);
    assert!(status["closed_reason"].as_str().is_some_and(|r| r.contains("customer reports")), "{status}");
    let execution = format!("{}:{id}", stack.state_machine.replacen(":stateMachine:", ":execution:", 1));
    let described = stack.sfn.describe_execution().execution_arn(execution).send().await.unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(described.status().as_str(), "ABORTED");
    assert_eq!(stack.store.lock(&service, "e2e").await.ok().flatten(), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn e2e_status_watch_follows_a_release_from_before_its_admission_to_its_end() {
    let stack = stack("cli-watch").await;
    let plan = plan_file(
        "watch",
        "name: cli-watch\ntraffic:\n  router: { type: dry_run }\n  steps: [{ weight: 50, bake: 2s }, { weight: 100, bake: 2s }]\n",
    );
    let (service, id) = (unique("watch"), unique("rel"));
    let plan = plan.to_str().unwrap_or_default().to_string();
    let args = ["start", &plan, "--service", &service, "--environment", "e2e", "--version", "2", "--stable-version", "1"];
    let started = ok(rollgate(&stack, &[&args[..], &["--release-id", &id, "--no-wait"]].concat()));
    assert!(started.contains(&format!("started release {id}")), "{started}");
    // At once: the release may not be recorded yet; watching waits for it and ends with it.
    let watched = ok(rollgate(&stack, &["status", &id, "--watch"]));
    assert!(watched.lines().last().is_some_and(|l| l.contains("promoted")), "{watched}");
    let lines: Vec<&str> = watched.lines().collect();
    let mut deduped = lines.clone();
    deduped.dedup();
    assert_eq!(lines, deduped, "a status is printed when it changed, not every few seconds");

    // Listed with its service and status; filters narrow the list; a status that is none is refused.
    let listed = ok(rollgate(&stack, &["list", "--service", &service]));
    assert!(listed.lines().any(|l| l.contains(&id) && l.contains("promoted") && l.contains(&service)), "{listed}");
    assert!(ok(rollgate(&stack, &["list", "--service", &service, "--status", "rolled_back"])).contains("no releases match"));
    let listed: Value = serde_json::from_str(&ok(rollgate(&stack, &["--json", "list", "--service", &service]))).unwrap_or_default();
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    let bogus = rollgate(&stack, &["list", "--status", "done"]);
    assert!(!bogus.status.success() && String::from_utf8_lossy(&bogus.stderr).contains("--status done is not a status"));
}

/// `make local-release`, the README's release on a laptop, runs as documented: start, approve as
/// another AWS identity, watch, history, verify.
#[tokio::test(flavor = "multi_thread")]
async fn e2e_the_local_release_of_the_readme_is_promoted() {
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_rollgate"));
    let id = rollgate_tests::local_release::run(binary).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(id.starts_with("local-"), "{id}");
}

/// A platform policy for the service, stored through the binary, refuses a weaker plan at
/// admission with every rule it breaks, and admits one that meets it under its version.
#[tokio::test(flavor = "multi_thread")]
async fn e2e_a_plan_weaker_than_the_policy_is_refused_at_admission_with_the_rules_it_breaks() {
    let stack = stack("cli-policy").await;
    let service = unique("ledger");
    let policy = plan_file(
        "policy",
        &format!(
            "service: {service}\nenvironment: e2e\nfirst_step_at_most: 10\nrollback_alarms: [{service}-5xx]\n\
             checklist: {{ items: [security-review] }}\n"
        ),
    );
    let stored = ok(rollgate(&stack, &["policy", "put", policy.to_str().unwrap_or_default()]));
    assert!(stored.contains(&format!("policy of {service} in e2e is now version 1, by arn:aws:")), "{stored}");
    let shown = ok(rollgate(&stack, &["--json", "policy", "show", &service, "e2e"]));
    assert!(shown.contains("\"version\": 1") && shown.contains(&format!("{service}-5xx")), "{shown}");

    let weak = plan_file(
        "weak",
        "name: weak\ntraffic:\n  router: { type: dry_run }\n  steps: [{ weight: 50, bake: 2s }, { weight: 100, bake: 2s }]\n",
    );
    let id = unique("rel");
    let refused = start_output(&stack, &weak, &service, &id);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{said}");
    assert!(said.contains(&format!("release {id} was not admitted (Refused: PlanInvalid)")), "{said}");
    for rule in [
        format!("platform policy of {service} in e2e (version 1)"),
        "policy checklist.items[0]: the plan's checklist has no item `security-review`".to_string(),
        format!("policy rollback_alarms[0]: the plan does not list the alarm `{service}-5xx`"),
        "policy first_step_at_most: the first step shifts 50%, more than 10%".to_string(),
    ] {
        assert!(said.contains(&rule), "missing `{rule}` in:\n{said}");
    }
    assert_eq!(stack.store.lock(&service, "e2e").await.ok().flatten(), None, "a refused plan takes no lock");

    let meeting = plan_file(
        "meeting",
        &format!(
            "name: meeting\nrollback_alarms: [{service}-5xx]\nchecklist: {{ mode: monitor, items: [{{ id: security-review, require: {{ kind: attestation, evidence: reviewed }} }}] }}\n\
             traffic:\n  router: {{ type: dry_run }}\n  steps: [{{ weight: 10, bake: 2s }}, {{ weight: 100, bake: 2s }}]\n"
        ),
    );
    let id = unique("rel");
    start(&stack, &meeting, &service, &id);
    // Admitted (how it ends is the plan's: the alarm it must list does not exist here, which
    // its checks take as inconclusive).
    wait_until(&stack, &id, "admitted", |status| status["status"].is_string());
    let trail = stack.store.events(&id).await.unwrap_or_default();
    assert!(
        matches!(trail.first().map(|e| &e.kind), Some(rollgate::release::EventKind::Admitted { policy_version: Some(1), .. })),
        "the trail records the policy version: {trail:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn e2e_an_operator_pauses_resumes_skips_and_promotes_a_release() {
    let stack = stack("cli-controls").await;
    // Checked every 2s; no datapoints, which this plan counts as a pass: each step waits its hour.
    let plan = plan_file(
        "controls",
        "name: cli-controls\ntraffic:\n  router: { type: dry_run }\n  steps: [{ weight: 10, bake: 1h }, { weight: 50, bake: 1h }, { weight: 100, bake: 1h }]\n\
         analysis:\n  interval: 2s\n  window: 15m\n  max_inconclusive: 0\n  on_inconclusive: pass\n  metrics:\n    - { name: errors, query: { metric: { namespace: E2E/Controls, name: Errors, stat: Sum } }, must: { below: 1 } }\n",
    );
    let (service, id) = (unique("ledger"), unique("rel"));
    start(&stack, &plan, &service, &id);
    wait_until(&stack, &id, "10% on the first step", |status| status["status"] == "progressing" && status["canary_weight"] == 10);

    // The endpoint authenticates the signature as API Gateway does: a wrong secret, or a key
    // AWS never issued, is refused before anything is recorded.
    let forger = Person { secret_access_key: "not-the-secret".into(), ..stack.operator.clone() };
    let unknown = Person { access_key_id: "AKIAUNKNOWN0000000000".into(), ..stack.operator.clone() };
    for (who, says) in
        [(&forger, "signature we calculated does not match"), (&unknown, "security token included in the request is invalid")]
    {
        let refused = rollgate_as(&stack, who, &["pause", &id, "--reason", "forged"]);
        let said = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success() && said.contains("refused your AWS identity") && said.contains(says), "{said}");
    }
    assert!(!ok(rollgate(&stack, &["history", &id])).contains("forged"), "a refused request records nothing");

    let paused = ok(rollgate(&stack, &["pause", &id, "--reason", "payment provider degraded"]));
    assert!(paused.contains("paused until ") && paused.contains("no step advances") && paused.contains("by arn:aws:"), "{paused}");
    let shown = ok(rollgate(&stack, &["status", &id]));
    assert!(shown.contains("PAUSED by arn:aws:") && shown.contains("payment provider degraded"), "{shown}");
    let twice = rollgate(&stack, &["pause", &id, "--reason", "again"]);
    assert!(!twice.status.success() && String::from_utf8_lossy(&twice.stderr).contains("already paused"), "{twice:?}");
    // A skip asked while paused waits for the resume: the pause wins.
    ok(rollgate(&stack, &["skip", &id, "--reason", "verified by hand"]));
    std::thread::sleep(Duration::from_secs(6));
    let held = ok(rollgate(&stack, &["--json", "status", &id]));
    assert!(held.contains("\"canary_weight\": 10") || held.contains("\"canary_weight\":10"), "paused at 10%: {held}");
    ok(rollgate(&stack, &["resume", &id, "--reason", "provider recovered"]));
    wait_until(&stack, &id, "50% after the skip", |status| status["canary_weight"] == 50);

    let promoted = ok(rollgate(&stack, &["promote", &id, "--reason", "hotfix for INC-4211"]));
    assert!(promoted.contains("promotes it to 100%"), "{promoted}");
    wait_for_status(&stack, &id, "promoted");
    let history = ok(rollgate(&stack, &["history", &id]));
    for control in ["pause by arn:aws:", "skip by arn:aws:", "resume by arn:aws:", "promote by arn:aws:"] {
        assert!(history.contains(control), "`{control}` missing from the trail:\n{history}");
    }
    assert!(history.contains("promoting to 100%, skipping the remaining steps"), "{history}");
    let late = rollgate(&stack, &["resume", &id, "--reason", "late"]);
    assert!(!late.status.success() && String::from_utf8_lossy(&late.stderr).contains("already promoted"), "{late:?}");
    // The lock goes back last, after the promotion is closed and announced.
    let started = Instant::now();
    while stack.store.lock(&service, "e2e").await.ok().flatten().is_some() {
        assert!(started.elapsed() < Duration::from_secs(60), "the lock of promoted {id} was never given back");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// APPROVAL_PLAN judged on latency (datapoints in NAMESPACE, put before the release starts): the
/// first step's checks pass, then the Go/No-Go before the second step.
const REPORT_PLAN: &str = r#"
name: cli-report
traffic:
  router: { type: dry_run }
  steps:
    - { weight: 10, bake: 2s }
    - { weight: 100, bake: 2s, approval: go-no-go }
approvals:
  - { id: go-no-go, approvers: ["BOB", "RELEASE_MANAGERS"], quorum: 2, timeout: 10m }
analysis:
  interval: 2s
  window: 15m
  min_samples: 5
  look_before_step: true
  metrics:
    - name: latency
      unit: ms
      query:
        metric: { namespace: NAMESPACE, name: Latency, stat: Average, dimensions: { Run: NAMESPACE } }
        canary: { Version: "{version}" }
        baseline: { Version: "{stable_version}" }
      must: { below: 200 }
      baseline: { max_increase: 10 }
"#;

/// Latency datapoints for the canary (version 42, as `start` names it) and the stable version.
async fn latency(stack: &Stack, namespace: &str) {
    rollgate_tests::releases::put_latency(&stack.config, namespace, "42", 101.0).await;
    rollgate_tests::releases::put_latency(&stack.config, namespace, "41", 100.0).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn e2e_report_html_names_the_verdicts_the_approvals_and_the_rollback_reason() {
    let stack = stack("cli-report").await;
    let namespace = unique("E2E/Report");
    latency(&stack, &namespace).await;
    let People { bob, carol, plan, .. } = people_for(&stack, "report", &REPORT_PLAN.replace("NAMESPACE", &namespace)).await;
    let (service, id) = (unique("billing"), unique("rel"));
    start(&stack, &plan, &service, &id);
    wait_for_status(&stack, &id, "awaiting_approval");
    ok(rollgate_as(&stack, &bob, &["approve", &id, "--comment", "dashboards green"]));
    // A comment with markup in it: the page shows it as text.
    let comment = r#"freeze <b>for</b> the "board" demo <script>alert(1)</script>"#;
    ok(rollgate_as(&stack, &carol, &["reject", &id, "--comment", comment]));
    let status = wait_for_status(&stack, &id, "rolled_back");
    let reason = status["closed_reason"].as_str().unwrap_or_default().to_string();
    assert!(reason.ends_with(comment), "{reason}");

    let page = ok(rollgate(&stack, &["report", &id, "--html"]));
    assert!(page.starts_with("<!DOCTYPE html>") && page.trim_end().ends_with("</html>"), "{page}");
    let lower = page.to_lowercase();
    assert!(!lower.contains("<script") && !page.contains("<b>for</b>"), "the comment's markup got onto the page:\n{page}");
    let escaped = |text: &str| text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    // The release's closing reason leads the page; the rollback's own reason heads its section.
    assert!(page.contains(&format!("<p class=\"reason\">{}</p>", escaped(&reason))), "the closing reason:\n{page}");
    let rollback = reason.strip_prefix("rolled back: ").unwrap_or(&reason).to_string();
    assert!(rollback.starts_with("the approval `go-no-go` was rejected by"), "{rollback}");
    assert!(page.contains(&format!("<h2>Rollback</h2><p class=\"reason\">{}</p>", escaped(&rollback))), "the rollback reason:\n{page}");
    assert!(page.contains("<p class=\"status rolled_back\">rolled back</p>"), "the final status");
    // The approvals: who, and when; the rejection with its comment.
    let trail = stack.store.events(&id).await.unwrap_or_default();
    for (by, decision) in trail.iter().filter_map(|e| match &e.kind {
        rollgate::release::EventKind::ApprovalDecided { by, approved, .. } => Some((by.clone(), *approved)),
        _ => None,
    }) {
        let row = format!("<td>go-no-go</td><td>{}", escaped(&by));
        assert!(page.contains(&row), "the approval of {by} ({decision}):\n{page}");
    }
    assert!(page.contains(&escaped(&bob.arn)) && page.contains("<td>granted</td><td>dashboards green</td>"), "bob's vote");
    assert!(page.contains(&format!("<td>REJECTED</td><td>{}</td>", escaped(comment))), "carol's rejection");
    // Every verdict with the values it judged.
    let verdicts: Vec<&rollgate::domain::gate::GateVerdict> = trail
        .iter()
        .filter_map(|e| match &e.kind {
            rollgate::release::EventKind::GateJudged { verdict, .. } => Some(verdict),
            _ => None,
        })
        .collect();
    assert!(!verdicts.is_empty(), "the first step was checked");
    for verdict in &verdicts {
        for metric in &verdict.metrics {
            for side in [metric.canary, metric.baseline].into_iter().flatten() {
                let shown = format!("{} ms (n={})", rollgate::domain::bounds::format_number(side.value), side.samples);
                assert!(page.contains(&shown), "the value `{shown}` of {}:\n{page}", metric.metric);
            }
        }
    }
    assert_eq!(page.matches("<div class=\"check ").count(), verdicts.len(), "one block per check");
    assert!(page.contains(&format!("trail of {id} intact: {} events", trail.len())), "the chain verifies");

    // Without --html: the same report as text, and as JSON.
    let text = ok(rollgate(&stack, &["report", &id]));
    assert!(text.contains(&reason) && text.contains(&format!("trail of {id} intact")), "{text}");
    let json: Value = serde_json::from_str(&ok(rollgate(&stack, &["--json", "report", &id]))).unwrap_or_default();
    assert_eq!(json["rollback_reason"], Value::String(rollback), "{json}");
    assert_eq!(json["chain"]["intact"], true, "{json}");
    let both = rollgate(&stack, &["--json", "report", &id, "--html"]);
    assert!(!both.status.success() && String::from_utf8_lossy(&both.stderr).contains("give one of them"), "{both:?}");
}

/// Chromium, as `make tools` installs it.
const CHROMIUM: &str = "/usr/bin/chromium";

/// A screenshot of `page` (a file) by headless Chromium, in a window of 1200×1600, with a new
/// empty profile; the PNG's bytes.
fn screenshot(page: &std::path::Path, name: &str) -> Vec<u8> {
    assert!(
        std::path::Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: `make tools` installs it (apt-get install chromium); the report page's rendering test needs it"
    );
    let dir = std::env::temp_dir().join(unique(&format!("rollgate-chromium-{name}")));
    let profile = dir.join("profile");
    std::fs::create_dir_all(&profile).unwrap_or_else(|e| panic!("{e}"));
    let png = dir.join("shot.png");
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", profile.display()),
            &format!("--screenshot={}", png.display()),
            "--window-size=1200,1600",
            &format!("file://{}", page.display()),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{CHROMIUM}: {e}"));
    // A bound on a browser that hangs, not a measure of speed.
    let started = Instant::now();
    while child.try_wait().ok().flatten().is_none() {
        if started.elapsed() > Duration::from_secs(180) {
            let _ = child.kill();
            panic!("{CHROMIUM} did not finish its screenshot of {} in 3 minutes", page.display());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let output = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    let bytes = std::fs::read(&png).unwrap_or_else(|e| {
        panic!(
            "no screenshot of {} ({e}): {}{}",
            page.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let _ = std::fs::remove_dir_all(&dir);
    bytes
}

/// The width and height of a PNG, from its IHDR chunk; `None` if it is not a PNG.
fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let header = bytes.get(..24)?;
    if header[..8] != *b"\x89PNG\r\n\x1a\n" || header[12..16] != *b"IHDR" {
        return None;
    }
    let number = |at: usize| header.get(at..at + 4).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes);
    Some((number(16)?, number(20)?))
}

#[tokio::test(flavor = "multi_thread")]
async fn e2e_the_report_page_renders_in_headless_chromium_without_javascript() {
    let stack = stack("cli-report-page").await;
    let namespace = unique("E2E/ReportPage");
    latency(&stack, &namespace).await;
    let plan = plan_file(
        "report-page",
        &REPORT_PLAN
            .replace("NAMESPACE", &namespace)
            .replace(", approval: go-no-go", "")
            .replace("approvals:\n  - { id: go-no-go, approvers: [\"BOB\", \"RELEASE_MANAGERS\"], quorum: 2, timeout: 10m }\n", ""),
    );
    let (service, id) = (unique("ledger"), unique("rel"));
    start(&stack, &plan, &service, &id);
    wait_for_status(&stack, &id, "promoted");
    let page = ok(rollgate(&stack, &["report", &id, "--html"]));
    // Readable without JavaScript: the page has none to run (no script, no handler), and its
    // content security policy lets none run.
    let lower = page.to_lowercase();
    for script in ["<script", "javascript:", " onload=", " onerror=", " onclick="] {
        assert!(!lower.contains(script), "the page holds `{script}`");
    }
    assert!(page.contains("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none';"), "no content security policy");
    let dir = std::env::temp_dir().join(unique("rollgate-report-page"));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let (report, blank) = (dir.join("report.html"), dir.join("blank.html"));
    std::fs::write(&report, &page).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&blank, "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body></body></html>")
        .unwrap_or_else(|e| panic!("{e}"));
    // The page with a script that would blank it: Chromium runs scripts, so this copy renders as
    // the page does only because the page's policy keeps every script from running. Chromium's
    // headless screenshot cannot be taken with JavaScript switched off, so this is how the test
    // sees the page as a browser without JavaScript shows it.
    let scripted = dir.join("scripted.html");
    let blanking = "<script>document.body.innerHTML = '';</script></body>";
    std::fs::write(&scripted, page.replacen("</body>", blanking, 1)).unwrap_or_else(|e| panic!("{e}"));

    let shot = screenshot(&report, "report");
    let empty = screenshot(&blank, "blank");
    assert_eq!(png_size(&shot), Some((1200, 1600)), "a PNG of the window's size");
    assert_eq!(png_size(&empty), Some((1200, 1600)), "a PNG of the window's size (blank page)");
    // A page with text, tables and a chart compresses far worse than an empty one.
    assert!(
        shot.len() > 5 * empty.len(),
        "the report's screenshot ({} bytes) is not much more than a blank page's ({} bytes)",
        shot.len(),
        empty.len()
    );
    let guarded = screenshot(&scripted, "scripted");
    assert!(
        guarded.len() > 5 * empty.len(),
        "a script on the page ran and blanked it ({} bytes against a blank page's {}): the content security policy did not hold",
        guarded.len(),
        empty.len()
    );
    if let Ok(keep) = std::env::var("ROLLGATE_KEEP_SCREENSHOT") {
        std::fs::write(keep, &shot).unwrap_or_else(|e| panic!("{e}"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// An abort whose rollback cannot restore traffic (the alias refuses every update) leaves the
/// release open and says so; once the router answers, `retry` finishes it, and it ends aborted.
/// Both go through the control endpoint as the operator's own IAM identity.
#[tokio::test(flavor = "multi_thread")]
async fn e2e_an_abort_whose_rollback_failed_is_finished_by_retry() {
    let stack = stack("cli-retry").await;
    let function = unique("orders-fn");
    let (v1, v2) = rollgate_tests::fixtures::lambda_with_two_versions(&stack.config, &function).await;
    let plan = plan_file(
        "retry",
        &format!(
            "name: cli-retry\ntraffic:\n  router: {{ type: lambda_alias, function_name: {function}, alias: live }}\n  steps: [{{ weight: 20, bake: 1h }}, {{ weight: 100, bake: 1h }}]\n"
        ),
    );
    let (service, id) = (unique("orders"), unique("rel"));
    let plan_path = plan.to_str().unwrap_or_default();
    let args = [
        "start",
        plan_path,
        "--service",
        &service,
        "--environment",
        "e2e",
        "--version",
        &v2,
        "--stable-version",
        &v1,
        "--release-id",
        &id,
        "--wait-secs",
        "240",
    ];
    ok(rollgate(&stack, &args));
    wait_until(&stack, &id, "20% on the first step", |status| status["status"] == "progressing" && status["canary_weight"] == 20);

    let faults = rollgate_tests::faults::FaultInjector::new();
    let refused = faults
        .add(&[serde_json::json!({"service": "lambda", "operation": "UpdateAlias", "contains": [function.as_str()], "action": "error", "label": "the router refuses"})])
        .await;
    let failed = rollgate(&stack, &["abort", &id, "--reason", "error budget burnt"]);
    let said = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success() && said.contains("could not be restored"), "{said}");
    let open = ok(rollgate(&stack, &["--json", "status", &id]));
    assert!(!open.contains("\"aborted\""), "a rollback that did not restore traffic does not close the release: {open}");

    faults.clear(&refused).await;
    let retried = ok(rollgate(&stack, &["retry", &id, "--reason", "the router answers again"]));
    assert!(retried.contains("aborted"), "{retried}");
    let status = wait_for_status(&stack, &id, "aborted");
    assert_eq!(status["canary_weight"], 0);
    let (target, weights) = rollgate_tests::fixtures::alias_routing(&stack.config, &function).await;
    assert_eq!((target, weights), (v1, vec![]), "the alias is back on the stable version alone");
    let history = ok(rollgate(&stack, &["history", &id]));
    assert!(history.contains(&format!("retry by {}: the router answers again", stack.operator.arn)), "{history}");
    assert!(history.contains(&format!("aborted by {}: error budget burnt", stack.operator.arn)), "{history}");
    ok(rollgate(&stack, &["verify", &id]));
}
