//! `function-footprint`: what each function binary costs Lambda, beside the floor.
//!
//!     function-footprint [--runs N] [--arm64 DIR] --floor HELLO BINARY...
//!
//! For each binary: its size (x86_64, and arm64 from `cargo lambda build --arm64`'s DIR/<name>/
//! bootstrap when given), its cold start and its peak memory. The cold start is the time from
//! exec to the first Runtime API request (`GET …/invocation/next`): the function's whole init
//! (configuration, clients, tracing) is done then, and Lambda bills it on the first invocation.
//! The peak memory is the process's high-water mark of resident memory (VmHWM) at that moment.
//! A fake Runtime API on loopback answers nothing: the process is stopped once it asked.
//! The floor is a hello-world Lambda function built with the same profile; the targets come
//! from issue #12. Exit status 1 when a figure is over its target.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const MAX_SIZE_BYTES: u64 = 8_000_000;
const MAX_COLD_START: Duration = Duration::from_millis(5);
const MAX_PEAK_KIB: u64 = 16 * 1024;
/// How long a function may take to ask for its first event before the run counts as failed.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

struct Footprint {
    name: String,
    size: u64,
    arm64_size: Option<u64>,
    cold_starts: Vec<Duration>,
    peak_kib: u64,
}

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Vec<String>) -> Result<bool, String> {
    let mut runs = 20usize;
    let mut arm64: Option<PathBuf> = None;
    let mut floor: Option<PathBuf> = None;
    let mut binaries = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| args.next().ok_or_else(|| format!("{flag} needs a value"));
        match arg.as_str() {
            "--runs" => runs = value("--runs")?.parse().map_err(|e| format!("--runs: {e}"))?,
            "--arm64" => arm64 = Some(PathBuf::from(value("--arm64")?)),
            "--floor" => floor = Some(PathBuf::from(value("--floor")?)),
            _ => binaries.push(PathBuf::from(arg)),
        }
    }
    let floor = floor.ok_or("give the hello-world binary with --floor")?;
    if binaries.is_empty() || runs == 0 {
        return Err("give at least one function binary and --runs of 1 or more".into());
    }
    let floor = measure(&floor, arm64.as_deref(), runs)?;
    let mut measured = Vec::new();
    for binary in &binaries {
        measured.push(measure(binary, arm64.as_deref(), runs)?);
    }
    print_table(&floor, &measured, runs);
    Ok(measured.iter().all(|f| over_target(f).is_empty()))
}

fn measure(binary: &Path, arm64: Option<&Path>, runs: usize) -> Result<Footprint, String> {
    let name = binary.file_name().and_then(|n| n.to_str()).unwrap_or("?").to_string();
    let size = std::fs::metadata(binary).map_err(|e| format!("{}: {e}", binary.display()))?.len();
    let arm64_size = match arm64 {
        Some(dir) => {
            let bootstrap = dir.join(&name).join("bootstrap");
            Some(std::fs::metadata(&bootstrap).map_err(|e| format!("{}: {e}", bootstrap.display()))?.len())
        }
        None => None,
    };
    let mut cold_starts = Vec::with_capacity(runs);
    let mut peak_kib = 0;
    for _ in 0..runs {
        let (elapsed, peak) = cold_start(binary, &name)?;
        cold_starts.push(elapsed);
        peak_kib = peak_kib.max(peak);
    }
    cold_starts.sort();
    Ok(Footprint { name, size, arm64_size, cold_starts, peak_kib })
}

/// One cold start: exec to the first Runtime API request, and the peak memory then.
fn cold_start(binary: &Path, name: &str) -> Result<(Duration, u64), String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("cannot listen on loopback: {e}"))?;
    let api = listener.local_addr().map_err(|e| e.to_string())?;
    let (asked, first_request) = mpsc::channel();
    std::thread::spawn(move || {
        if let Ok((stream, _)) = listener.accept() {
            let mut line = String::new();
            let _ = BufReader::new(&stream).read_line(&mut line);
            let _ = asked.send((Instant::now(), line));
            // Hold the connection until the process is stopped.
            std::thread::sleep(INIT_TIMEOUT);
        }
    });
    let started = Instant::now();
    let mut child = lambda_environment(&mut Command::new(binary), name, &api.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    let answer = first_request.recv_timeout(INIT_TIMEOUT);
    let peak = peak_kib(child.id());
    let _ = child.kill();
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    match answer {
        Ok((at, line)) if line.contains("/runtime/invocation/next") => Ok((at.duration_since(started), peak?)),
        Ok((_, line)) => Err(format!("{name} first asked `{}`, not for an event", line.trim())),
        Err(_) => Err(format!(
            "{name} did not ask for an event within {INIT_TIMEOUT:?}; it said: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )),
    }
}

/// The environment Lambda gives a function (with made-up credentials and resource names: init
/// builds clients and reads names, it calls nothing).
fn lambda_environment<'a>(command: &'a mut Command, name: &str, api: &str) -> &'a mut Command {
    command
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api)
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/12/02/[$LATEST]bench")
        .env("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023")
        .env("LAMBDA_TASK_ROOT", "/var/task")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "ASIABENCHMARK")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_SESSION_TOKEN", "bench")
        .env("RUST_LOG", "info")
        .env("ROLLGATE_TABLE", "rollgate-releases")
        .env("ROLLGATE_TOKEN_TABLE", "rollgate-task-tokens")
        .env("ROLLGATE_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:rollgate")
        .env("ROLLGATE_SLACK_SIGNING_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:slack-signing")
        .env("ROLLGATE_SLACK_BOT_TOKEN_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:slack-bot")
}

/// The process's peak resident memory so far (VmHWM), in KiB.
fn peak_kib(pid: u32) -> Result<u64, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| format!("cannot read the peak memory: {e}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmHWM in /proc/<pid>/status".to_string())
}

fn median(sorted: &[Duration]) -> Duration {
    sorted[sorted.len() / 2]
}

fn over_target(f: &Footprint) -> Vec<&'static str> {
    let mut over = Vec::new();
    if f.size > MAX_SIZE_BYTES || f.arm64_size.is_some_and(|s| s > MAX_SIZE_BYTES) {
        over.push("size");
    }
    if median(&f.cold_starts) > MAX_COLD_START {
        over.push("cold start");
    }
    if f.peak_kib > MAX_PEAK_KIB {
        over.push("peak memory");
    }
    over
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn print_table(floor: &Footprint, measured: &[Footprint], runs: usize) {
    println!(
        "Function binaries: stripped size, cold start (exec to the first Runtime API request; median of {runs}, min-max), peak memory (VmHWM then)"
    );
    println!("{:<24} {:>9} {:>9} {:>22} {:>12}", "binary", "x86_64", "arm64", "cold start", "peak memory");
    let row = |f: &Footprint, note: &str| {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let (first, last) = (f.cold_starts[0], f.cold_starts[f.cold_starts.len() - 1]);
        println!(
            "{:<24} {:>9} {:>9} {:>22} {:>12}  {note}",
            f.name,
            megabytes(f.size),
            f.arm64_size.map(megabytes).unwrap_or_else(|| "-".into()),
            format!("{:.2} ms ({:.2}-{:.2})", ms(median(&f.cold_starts)), ms(first), ms(last)),
            format!("{:.1} MiB", f.peak_kib as f64 / 1024.0),
        );
    };
    row(floor, "the floor: hello-world Lambda, same profile");
    for f in measured {
        let over = over_target(f);
        row(f, &if over.is_empty() { "within the targets".to_string() } else { format!("OVER TARGET: {}", over.join(", ")) });
    }
    println!(
        "{:<24} {:>9} {:>9} {:>22} {:>12}",
        "targets",
        format!("≤ {}", megabytes(MAX_SIZE_BYTES)),
        format!("≤ {}", megabytes(MAX_SIZE_BYTES)),
        format!("≤ {:.0} ms median", MAX_COLD_START.as_secs_f64() * 1000.0),
        format!("≤ {} MiB", MAX_PEAK_KIB / 1024)
    );
}
