//! `rollgate review --week` refuses a week whose end chrono cannot represent, instead of
//! panicking on the date arithmetic (no AWS call is made).

use std::process::Command;

#[test]
fn the_last_representable_week_is_refused_not_a_panic() {
    let output = Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .args(["review", "--week", "262143-W01", "--table", "t"])
        // Nothing may be contacted; an endpoint nobody listens on would make any call fail.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_REGION", "eu-west-1")
        .output()
        .unwrap_or_else(|e| panic!("rollgate: {e}"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim_end(), "error: week 262143-W01 ends after the last date rollgate can represent; choose an earlier week");
}
