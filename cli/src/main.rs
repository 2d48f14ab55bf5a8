//! `rollgate`: the command line for people.

mod commands;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rollgate::domain::control::{Control, OperatorCommand};

#[derive(Parser)]
#[command(
    name = "rollgate",
    version,
    about = "Release gates for AWS: validate plans, check evidence, run releases",
    after_help = "Exit status: 0 done; 1 the answer is no (an invalid plan, a blocked checklist, a simulation that ended \
otherwise than --expect); 2 an error (arguments, files, AWS); 141 the reader of the output went away (`rollgate … | head`), \
as for a program killed by SIGPIPE."
)]
struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a plan file and report every problem with its path and a fix.
    Validate {
        /// Plan files (YAML or JSON).
        #[arg(required = true)]
        plans: Vec<PathBuf>,
    },
    /// Judge release evidence against a plan's checklist.
    Check {
        plan: PathBuf,
        /// Evidence file: `{author, evidence: {...}, overrides: [...]}` (YAML or JSON).
        #[arg(long, short)]
        evidence: PathBuf,
        /// Judge as of this time (RFC 3339) instead of now, e.g. to replay a past release.
        #[arg(long)]
        at: Option<String>,
    },
    /// Run a plan on a virtual clock against a metric scenario: a timeline of every check and decision.
    Simulate {
        plan: PathBuf,
        /// Scenario file (YAML or JSON): synthetic series, or datapoints recorded from CloudWatch.
        #[arg(long, short)]
        scenario: PathBuf,
        /// Write an SVG chart of the weight and the metrics, with thresholds.
        #[arg(long)]
        chart: Option<PathBuf>,
        /// Fail (exit 1) unless the simulation ends this way: promoted, rolled_back or blocked.
        #[arg(long, value_parser = ["promoted", "rolled_back", "blocked"])]
        expect: Option<String>,
        /// With --expect: fail unless it ends at this step (1 is the first step, as the timeline
        /// counts).
        #[arg(long, requires = "expect", value_parser = clap::value_parser!(u32).range(1..))]
        at_step: Option<u32>,
        /// With --expect: fail unless the reason it ended with contains this text, e.g. `0.5%`.
        #[arg(long, requires = "expect")]
        reason: Option<String>,
        /// Run under this platform policy (`docs/policy.md`) instead of the scenario's: a weaker
        /// plan is refused at admission, and its freezes hold the release.
        #[arg(long)]
        policy: Option<PathBuf>,
    },
    /// What one release under a plan costs on AWS, and where the money goes: the release runs in
    /// the simulator (every metric healthy, every approval granted, unless --scenario says
    /// otherwise) and what it asked of AWS is priced at the list prices shipped with rollgate.
    Cost {
        plan: PathBuf,
        /// Evidence for the checklist (`{author, evidence, overrides}`, as `rollgate check`
        /// reads); without it, a plan with a checklist is costed as a blocked release.
        #[arg(long, short)]
        evidence: Option<PathBuf>,
        /// A scenario to run instead of the healthy one (as `rollgate simulate` reads).
        #[arg(long, short)]
        scenario: Option<PathBuf>,
        /// Releases a month under this plan: also print what they cost together.
        #[arg(long, value_name = "RELEASES")]
        per_month: Option<u32>,
        /// Billed duration of an average function invocation.
        #[arg(long, default_value_t = 100, value_name = "MS")]
        lambda_ms: u32,
        /// The functions' memory size (the template's MemorySize).
        #[arg(long, default_value_t = 256, value_name = "MB")]
        memory_mb: u32,
    },
    /// Start a release: the plan and its evidence go to the release state machine.
    Start {
        plan: PathBuf,
        /// Evidence file: `{author, evidence: {...}, overrides: [...]}`.
        #[arg(long, short)]
        evidence: Option<PathBuf>,
        #[arg(long)]
        service: String,
        #[arg(long)]
        environment: String,
        /// The new version.
        #[arg(long)]
        version: String,
        /// The version serving now, which a rollback restores.
        #[arg(long)]
        stable_version: String,
        /// Chosen id (an execution name); generated when absent.
        #[arg(long)]
        release_id: Option<String>,
        #[arg(long, env = "ROLLGATE_STATE_MACHINE_ARN")]
        state_machine: String,
        /// Do not wait for admission (the checklist verdict and the lock) before returning.
        #[arg(long, conflicts_with = "wait_secs")]
        no_wait: bool,
        /// How long to wait for admission before returning anyway (functions that start cold
        /// take longer).
        #[arg(long, default_value_t = 60, value_name = "SECONDS")]
        wait_secs: u64,
    },
    /// Where a release stands: step, weights, last verdict.
    Status {
        release_id: String,
        /// Refresh until the release ends.
        #[arg(long)]
        watch: bool,
        #[arg(long, env = "ROLLGATE_TABLE")]
        table: String,
    },
    /// Approve a release's pending Go/No-Go as your AWS identity: the control endpoint records
    /// the IAM principal that signed the request, which the plan lists among the approvers as an
    /// IAM user's ARN or a role's (`arn:aws:iam::<account>:role/<name>`), and counts the quorum.
    Approve {
        release_id: String,
        #[arg(long)]
        comment: Option<String>,
        #[command(flatten)]
        endpoint: ControlEndpoint,
    },
    /// Reject a release's pending Go/No-Go; the release rolls back.
    Reject {
        release_id: String,
        /// Why (recorded in the trail with who you are, as AWS knows you).
        #[arg(long)]
        comment: String,
        #[command(flatten)]
        endpoint: ControlEndpoint,
    },
    /// Pause a release: no step advances and its bake clock stops; checks go on and a failure
    /// still rolls back.
    Pause {
        release_id: String,
        /// Why (recorded in the trail with who you are, as AWS knows you).
        #[arg(long)]
        reason: String,
        /// How long the pause lasts (at most 7d); a release not resumed by then rolls back.
        #[arg(long = "for", default_value = "4h")]
        lasting: String,
        #[command(flatten)]
        endpoint: ControlEndpoint,
    },
    /// Resume a paused release: its bake clock runs again.
    Resume {
        release_id: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        endpoint: ControlEndpoint,
    },
    /// End the current step's bake: its next passing check advances.
    Skip {
        release_id: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        endpoint: ControlEndpoint,
    },
    /// Promote a release at its next passing check, skipping the remaining steps (where the
    /// platform policy allows it).
    Promote {
        release_id: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        endpoint: ControlEndpoint,
    },
    /// Run a rollback that could not finish again.
    Retry {
        release_id: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        endpoint: ControlEndpoint,
    },
    /// Roll a release back now: its execution is stopped and it ends `aborted`.
    Abort {
        release_id: String,
        #[arg(long, default_value = "aborted by hand")]
        reason: String,
        #[command(flatten)]
        endpoint: ControlEndpoint,
    },
    /// The audit trail of a release: every verdict, weight change, approval and notification.
    History {
        release_id: String,
        #[arg(long, env = "ROLLGATE_TABLE")]
        table: String,
    },
    /// One release on one page: the timeline chart (weight and every metric's judged values with
    /// its bounds), every verdict with its values, bounds, windows and baseline, the approvals,
    /// the operators' controls, the hooks, the rollback's reason, the final status and whether
    /// the trail's hash chain verifies. Exit 1 when the chain does not verify.
    Report {
        release_id: String,
        /// Print a self-contained HTML page (inline CSS and SVG, no script, nothing fetched):
        /// `rollgate report <release> --html > report.html`.
        #[arg(long)]
        html: bool,
        #[arg(long, env = "ROLLGATE_TABLE")]
        table: String,
    },
    /// Check a release's audit trail against its hash chain: reports the first event that was
    /// changed, removed or inserted (exit 1), or the chain's head hash.
    Verify {
        release_id: String,
        #[arg(long, env = "ROLLGATE_TABLE")]
        table: String,
    },
    /// The weekly policy review: gate failure rates, overrides, likely false positives, rollback
    /// times and approvals of one ISO week, read from the audit trail.
    Review {
        /// The week, e.g. 2026-W47 (default: the last full week).
        #[arg(long)]
        week: Option<String>,
        /// How many weeks before it the trends compare with (at most 12).
        #[arg(long, default_value_t = rollgate::review::DEFAULT_PREVIOUS_WEEKS as u8,
              value_parser = clap::value_parser!(u8).range(0..=rollgate::review::MAX_PREVIOUS_WEEKS as i64))]
        previous_weeks: u8,
        #[arg(long, env = "ROLLGATE_TABLE")]
        table: String,
    },
    /// Replay a service's past releases under a changed plan, from the datapoints their checks
    /// recorded (and from CloudWatch where those lack what the new plan reads): per release, whether the new plan would have rolled back earlier (where, on
    /// which metric and value against which bound), not at all, the same, or cannot tell.
    Backtest {
        /// The changed plan (YAML or JSON).
        plan: PathBuf,
        #[arg(long)]
        service: String,
        /// Only releases in this environment.
        #[arg(long)]
        environment: Option<String>,
        /// How far back to look (at most 366d).
        #[arg(long, default_value = "30d")]
        since: rollgate::HumanDuration,
        /// Judge on what the checks recorded only: read nothing again from CloudWatch (by default,
        /// a check whose trail lacks what the new plan reads is read again while CloudWatch keeps it).
        #[arg(long)]
        no_cloudwatch: bool,
        #[arg(long, env = "ROLLGATE_TABLE")]
        table: String,
    },
    /// Releases: every open one, and those started in the last weeks, newest first.
    List {
        /// Only this service.
        #[arg(long)]
        service: Option<String>,
        /// Only this status (progressing, awaiting_approval, promoted, rolled_back, aborted, blocked, admitted).
        #[arg(long)]
        status: Option<String>,
        /// How many ISO weeks back to look for ended releases (open ones are always listed).
        #[arg(long, default_value_t = 2)]
        weeks: u32,
        #[arg(long, env = "ROLLGATE_TABLE")]
        table: String,
    },
    /// A platform team's policy for a service in an environment: what every release plan there
    /// must require at least, checked at admission.
    Policy {
        #[command(subcommand)]
        action: PolicyAction,
    },
    /// Print the JSON Schema of plan files (for editors).
    Schema,
}

/// The control endpoint that operators' requests go to.
#[derive(clap::Args)]
struct ControlEndpoint {
    /// The control endpoint's URL: the stack's `ControlUrl` output (API Gateway, AWS_IAM). The
    /// request is signed with your AWS credentials, and that identity is what the trail records.
    #[arg(long = "control-url", env = commands::control::CONTROL_URL_ENV)]
    control_url: Option<String>,
}

impl ControlEndpoint {
    fn send(
        &self,
        release_id: &str,
        command: OperatorCommand,
        reason: Option<&str>,
        lasting: Option<&str>,
        json: bool,
    ) -> Result<ExitCode, commands::CliError> {
        let control_url = self.control_url.as_deref().ok_or_else(|| commands::CliError::Usage(commands::control::no_control_url()))?;
        commands::control::send(commands::control::ControlRequest { control_url, release_id, command, reason, lasting, json })
    }
}

#[derive(Subcommand)]
enum PolicyAction {
    /// Store a policy file as the next version of its service's and environment's policy, written
    /// by your AWS identity (the template's policy-admin role may write policies; the functions
    /// may not).
    Put {
        policy: PathBuf,
        #[arg(long, env = "ROLLGATE_TABLE")]
        table: String,
    },
    /// Print the stored policy of a service in an environment, with its version and author.
    Show {
        service: String,
        environment: String,
        #[arg(long, env = "ROLLGATE_TABLE")]
        table: String,
    },
    /// Check a plan against a policy file without AWS: every rule the plan breaks (exit 1).
    Check {
        policy: PathBuf,
        plan: PathBuf,
        /// The release's start (RFC 3339) for the policy's freezes; now by default.
        #[arg(long)]
        at: Option<chrono::DateTime<chrono::Utc>>,
    },
}

fn main() -> ExitCode {
    // Output goes through `commands::output`, where a reader that stops early (`| head`) ends
    // the process quietly with status 141; this catches any `println!` that still panics on it.
    commands::output::exit_quietly_on_broken_pipe_panics();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Help, the version, or a usage error; printed like every other output.
        Err(e) => return commands::output::clap_exit(&e),
    };
    let result = match cli.command {
        Command::Validate { plans } => commands::validate(&plans, cli.json),
        Command::Check { plan, evidence, at } => commands::check(&plan, &evidence, at.as_deref(), cli.json),
        Command::Cost { plan, evidence, scenario, per_month, lambda_ms, memory_mb } => commands::cost::run(commands::cost::CostArgs {
            plan: &plan,
            evidence: evidence.as_deref(),
            scenario: scenario.as_deref(),
            per_month,
            assumptions: rollgate::domain::cost::Assumptions { lambda_memory_mb: memory_mb, lambda_billed_ms: lambda_ms },
            json: cli.json,
        }),
        Command::Simulate { plan, scenario, chart, expect, at_step, reason, policy } => {
            commands::simulate::run(commands::simulate::SimulateArgs {
                plan: &plan,
                scenario: &scenario,
                policy: policy.as_deref(),
                chart: chart.as_ref(),
                expect: expect.as_deref(),
                at_step,
                reason: reason.as_deref(),
                json: cli.json,
            })
        }
        Command::Start { plan, evidence, service, environment, version, stable_version, release_id, state_machine, no_wait, wait_secs } => {
            commands::release::start(commands::release::StartArgs {
                plan: &plan,
                evidence: evidence.as_deref(),
                service: &service,
                environment: &environment,
                version: &version,
                stable_version: &stable_version,
                release_id: release_id.as_deref(),
                state_machine: &state_machine,
                wait: (!no_wait).then(|| std::time::Duration::from_secs(wait_secs)),
                json: cli.json,
            })
        }
        Command::Status { release_id, watch, table } => {
            commands::release::status(commands::release::Target { table: &table, json: cli.json }, &release_id, watch)
        }
        Command::Approve { release_id, comment, endpoint } => {
            endpoint.send(&release_id, OperatorCommand::Approve, comment.as_deref(), None, cli.json)
        }
        Command::Reject { release_id, comment, endpoint } => {
            endpoint.send(&release_id, OperatorCommand::Reject, Some(&comment), None, cli.json)
        }
        Command::Pause { release_id, reason, lasting, endpoint } => {
            endpoint.send(&release_id, OperatorCommand::Control(Control::Pause), Some(&reason), Some(&lasting), cli.json)
        }
        Command::Resume { release_id, reason, endpoint } => {
            endpoint.send(&release_id, OperatorCommand::Control(Control::Resume), Some(&reason), None, cli.json)
        }
        Command::Skip { release_id, reason, endpoint } => {
            endpoint.send(&release_id, OperatorCommand::Control(Control::Skip), Some(&reason), None, cli.json)
        }
        Command::Promote { release_id, reason, endpoint } => {
            endpoint.send(&release_id, OperatorCommand::Control(Control::Promote), Some(&reason), None, cli.json)
        }
        Command::Retry { release_id, reason, endpoint } => {
            endpoint.send(&release_id, OperatorCommand::Control(Control::Retry), Some(&reason), None, cli.json)
        }
        Command::Abort { release_id, reason, endpoint } => {
            endpoint.send(&release_id, OperatorCommand::Abort, Some(&reason), None, cli.json)
        }
        Command::History { release_id, table } => {
            commands::release::history(commands::release::Target { table: &table, json: cli.json }, &release_id)
        }
        Command::Report { release_id, html, table } => {
            commands::release::report(commands::release::Target { table: &table, json: cli.json }, &release_id, html)
        }
        Command::Verify { release_id, table } => {
            commands::release::verify(commands::release::Target { table: &table, json: cli.json }, &release_id)
        }
        Command::List { service, status, weeks, table } => commands::release::list(
            commands::release::Target { table: &table, json: cli.json },
            service.as_deref(),
            status.as_deref(),
            weeks,
        ),
        Command::Backtest { plan, service, environment, since, no_cloudwatch, table } => commands::backtest::run(
            commands::release::Target { table: &table, json: cli.json },
            commands::backtest::BacktestArgs { plan: &plan, service: &service, environment: environment.as_deref(), since, no_cloudwatch },
        ),
        Command::Review { week, previous_weeks, table } => commands::release::review(
            commands::release::Target { table: &table, json: cli.json },
            week.as_deref(),
            usize::from(previous_weeks),
        ),
        Command::Policy { action } => match action {
            PolicyAction::Put { policy, table } => commands::policy::put(&policy, &table, cli.json),
            PolicyAction::Show { service, environment, table } => commands::policy::show(&service, &environment, &table, cli.json),
            PolicyAction::Check { policy, plan, at } => commands::policy::check(&policy, &plan, at, cli.json),
        },
        Command::Schema => commands::schema(),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            commands::output::errln!("error: {err}");
            ExitCode::from(2)
        }
    }
}
