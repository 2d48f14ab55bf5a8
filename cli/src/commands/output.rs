//! Every line the CLI prints goes through here, never through `println!`.
//!
//! A reader that stops early (`rollgate history r1 | head`) closes the pipe, and the next write
//! fails with `BrokenPipe`; `println!` would panic on it (exit 101, a panic message on stderr).
//! Here a broken pipe ends the process quietly with status 141, what a shell reports for a
//! program killed by SIGPIPE (128 + 13), as `cat` or `grep` would be: a script with
//! `set -o pipefail` still sees that the command was cut short, and without it the pipeline's
//! status is the reader's, as usual. Any other write error is reported on stderr (exit 2).

use std::fmt;
use std::io::{self, Write};

/// The exit status after the reader of our output went away: 128 + SIGPIPE (13).
pub const BROKEN_PIPE_EXIT: i32 = 141;

/// Writes `args` and a newline to stdout; ends the process if stdout is gone.
pub fn line(args: fmt::Arguments<'_>) {
    let mut out = io::stdout().lock();
    let written = out.write_fmt(args).and_then(|()| out.write_all(b"\n")).and_then(|()| out.flush());
    if let Err(e) = written {
        drop(out);
        write_failed(&e, "stdout");
    }
}

/// Writes `args` and a newline to stderr. A closed stderr ends the process like a closed stdout;
/// nothing else can be done about a failing stderr, so other errors are ignored.
pub fn error_line(args: fmt::Arguments<'_>) {
    let mut err = io::stderr().lock();
    if let Err(e) = err.write_fmt(args).and_then(|()| err.write_all(b"\n"))
        && e.kind() == io::ErrorKind::BrokenPipe
    {
        std::process::exit(BROKEN_PIPE_EXIT);
    }
}

/// Prints clap's help, version or usage error; a broken pipe exits like any other output.
pub fn clap_exit(e: &clap::Error) -> std::process::ExitCode {
    if let Err(io) = e.print()
        && io.kind() == io::ErrorKind::BrokenPipe
    {
        std::process::exit(BROKEN_PIPE_EXIT);
    }
    std::process::ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
}

fn write_failed(e: &io::Error, stream: &str) -> ! {
    if e.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(BROKEN_PIPE_EXIT);
    }
    // Best effort: if stderr fails too there is nobody left to tell.
    let _ = writeln!(io::stderr(), "error: cannot write to {stream}: {e}");
    std::process::exit(2);
}

/// For `println!` calls not yet routed through [`line`]: std panics with "failed printing to
/// stdout: <io error>" when a write fails. The panic hook ends such a panic quietly with
/// [`BROKEN_PIPE_EXIT`] when the error is a broken pipe, and leaves every other panic to the
/// default hook.
pub fn exit_quietly_on_broken_pipe_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if is_broken_pipe_print(message) {
            std::process::exit(BROKEN_PIPE_EXIT);
        }
        default(info);
    }));
}

/// `failed printing to stdout: Broken pipe (os error 32)`, as std words it (stderr likewise).
fn is_broken_pipe_print(message: &str) -> bool {
    let broken = io::Error::from_raw_os_error(EPIPE).to_string();
    ["stdout", "stderr"].iter().any(|stream| message == format!("failed printing to {stream}: {broken}"))
}

/// EPIPE on Linux, macOS and the BSDs.
const EPIPE: i32 = 32;

/// `outln!("...", args)`: a line on stdout through [`line`].
macro_rules! outln {
    () => {
        $crate::commands::output::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::commands::output::line(format_args!($($arg)*))
    };
}

/// `errln!("...", args)`: a line on stderr through [`error_line`].
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::commands::output::error_line(format_args!($($arg)*))
    };
}

pub(crate) use {errln, outln};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_broken_pipe_print_panic_is_recognised() {
        assert!(is_broken_pipe_print("failed printing to stdout: Broken pipe (os error 32)"));
        assert!(is_broken_pipe_print("failed printing to stderr: Broken pipe (os error 32)"));
        assert!(!is_broken_pipe_print("failed printing to stdout: No space left on device (os error 28)"));
        assert!(!is_broken_pipe_print("called `Option::unwrap()` on a `None` value"));
    }
}
