//! One real release on the local stack, through the `rollgate` CLI, as a new user would run it
//! (`make local-release`, and an end-to-end test in cli/tests/release_commands.rs). The stack
//! must be running (scripts/local-stack.sh); this creates what the template would (the tables,
//! the topics, the state machine from infra/ with its function ARNs filled in), an approver with
//! her own AWS credentials, a plan and evidence dated relative to now, and then runs: start,
//! status, approve, status --watch, history, verify.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::fixtures::{Person, iam_user};
use crate::local_stack::{Stack, TABLE, stack};
use chrono::{SecondsFormat, Utc};

/// Runs the release with the CLI at `bin`; returns its id.
pub async fn run(bin: &Path) -> Result<String, String> {
    let stack = stack("local-release").await;
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..6];
    let alice = iam_user(&stack.config, &format!("alice-{suffix}")).await;
    let dir = crate::repo().join("target/local-release");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let dir = dir.canonicalize().unwrap_or(dir);
    let plan = write(&dir.join("plan.yaml"), &PLAN.replace("ALICE", &alice.arn))?;
    // Evidence is judged against the time of the release: dates relative to now stay valid.
    let backup = (Utc::now() - chrono::Duration::hours(2)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let evidence = write(&dir.join("evidence.yaml"), &EVIDENCE.replace("BACKUP_AT", &backup))?;
    let id = format!("local-{suffix}");
    let cli = Cli { stack: &stack, bin: bin.to_path_buf() };

    println!("The local stack is up; rollgate's settings for it:");
    for (name, value) in cli.env() {
        println!("  export {name}={value}");
    }
    println!("The approver is alice ({}); the plan and evidence are in {}.", alice.arn, dir.display());

    let (plan, evidence) = (path(&plan), path(&evidence));
    cli.show(
        None,
        "Start the release: admission takes the lock and judges the checklist",
        &[
            "start",
            &plan,
            "-e",
            &evidence,
            "--service",
            "checkout",
            "--environment",
            "local",
            "--version",
            "2",
            "--stable-version",
            "1",
            "--release-id",
            &id,
            "--wait-secs",
            "300",
        ],
    )?;
    cli.wait_for(&id, "awaiting_approval")?;
    cli.show(None, "The Go/No-Go before the first 10% waits for alice", &["status", &id])?;
    cli.show(Some(&alice), "alice approves, as her own AWS identity", &["approve", &id, "--comment", "dashboards look fine"])?;
    cli.show(None, "Watch the release to its end", &["status", &id, "--watch"])?;
    cli.show(None, "The audit trail: who decided what, on which values", &["history", &id])?;
    cli.show(None, "Check that no one changed the trail", &["verify", &id])?;
    cli.wait_for(&id, "promoted")?;
    println!("\nlocal release finished: {id} was admitted, approved by alice and promoted.");
    Ok(id)
}

/// The `rollgate` binary, run with the stack's settings.
struct Cli<'a> {
    stack: &'a Stack,
    bin: PathBuf,
}

impl Cli<'_> {
    fn env(&self) -> [(&'static str, String); 4] {
        [
            ("AWS_ENDPOINT_URL", std::env::var("AWS_ENDPOINT_URL").unwrap_or_default()),
            ("ROLLGATE_TABLE", TABLE.to_string()),
            ("ROLLGATE_CONTROL_URL", crate::local_stack::control_url()),
            ("ROLLGATE_STATE_MACHINE_ARN", self.stack.state_machine.clone()),
        ]
    }

    fn command(&self, person: Option<&Person>, args: &[&str]) -> Command {
        let mut command = Command::new(&self.bin);
        command.args(args).envs(self.env());
        if let Some(person) = person {
            command.env_remove("AWS_SESSION_TOKEN").envs(person.env());
        }
        command
    }

    /// Runs a step for the reader: what it shows, the command line, its output.
    fn show(&self, person: Option<&Person>, what: &str, args: &[&str]) -> Result<(), String> {
        let who = person.map(|_| "(as alice) ").unwrap_or_default();
        println!("\n\x1b[1m== {what}\x1b[0m\n$ {who}rollgate {}", args.join(" "));
        let status = self.command(person, args).status().map_err(|e| format!("{}: {e}", self.bin.display()))?;
        if status.success() { Ok(()) } else { Err(format!("`rollgate {}` failed ({status})", args.join(" "))) }
    }

    fn wait_for(&self, id: &str, wanted: &str) -> Result<(), String> {
        let started = Instant::now();
        loop {
            let output = self.command(None, &["--json", "status", id]).output().map_err(|e| e.to_string())?;
            let status: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
            if status["status"] == wanted {
                return Ok(());
            }
            if status["status"].as_str().is_some_and(|s| ["promoted", "rolled_back", "blocked", "aborted"].contains(&s)) {
                return Err(format!("release {id} ended {} before reaching {wanted}", status["status"]));
            }
            if started.elapsed() > Duration::from_secs(300) {
                return Err(format!("release {id} did not reach {wanted} in 5 minutes: {status}"));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

fn write(path: &Path, text: &str) -> Result<PathBuf, String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path.to_path_buf())
}

fn path(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

const PLAN: &str = r#"# A fast example release: a checklist, 10% behind a Go/No-Go, then 100%.
name: checkout-local
checklist:
  mode: strict
  items:
    - id: backup
      title: Database backup verified within 24 hours
      require: { kind: freshness, evidence: backup_verified_at, max_age: 24h }
    - id: tests
      title: All tests passing
      require: { kind: attestation, evidence: tests_passed }
traffic:
  # No router to move on a laptop: the weights are recorded, nothing is routed.
  router: { type: dry_run }
  steps:
    - { weight: 10, bake: 3s, approval: go-no-go }
    - { weight: 100, bake: 3s }
approvals:
  - { id: go-no-go, approvers: ["ALICE"], quorum: 1, timeout: 10m }
"#;

const EVIDENCE: &str = "author: dana\nevidence:\n  backup_verified_at: \"BACKUP_AT\"\n  tests_passed: true\n";
