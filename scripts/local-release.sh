#!/usr/bin/env bash
# `make local-release`: one real release on the local stack through the rollgate CLI (start,
# status, approve, watch, history, verify); see tests/examples/local_release.rs. It starts the
# stack and stops it afterwards; KEEP=1 leaves it running to go on by hand with the printed
# settings (stop it with `scripts/local-stack.sh stop`).
set -euo pipefail
cd "$(dirname "$0")/.."
export MOTO_PORT="${MOTO_PORT:-5055}"
export ROUTER_PORT="${ROUTER_PORT:-$((MOTO_PORT + 1))}"
export FUNCTIONS_PORT="${FUNCTIONS_PORT:-$((MOTO_PORT + 4000))}"
cargo build --locked --quiet -p rollgate-cli -p rollgate-tests --example local_release
if [ "${KEEP:-}" != 1 ]; then trap 'scripts/local-stack.sh stop' EXIT; fi
scripts/local-stack.sh start
# The emulator accepts any credentials; these are the release starter's.
export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
export ROLLGATE_LOCAL_STACK=1
"${CARGO_TARGET_DIR:-target}/debug/examples/local_release"
