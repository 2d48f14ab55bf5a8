//! `make local-release`: one real release on the local stack through the `rollgate` CLI; see
//! rollgate_tests::local_release. scripts/local-release.sh starts the stack first.

use std::path::PathBuf;

#[tokio::main]
async fn main() {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| rollgate_tests::repo().join("target"), PathBuf::from);
    let bin = target.join("debug/rollgate");
    if !bin.exists() {
        eprintln!("{} is missing; build it with `cargo build -p rollgate-cli`", bin.display());
        std::process::exit(1);
    }
    if let Err(problem) = rollgate_tests::local_release::run(&bin).await {
        eprintln!("\nlocal release failed: {problem}");
        std::process::exit(1);
    }
}
