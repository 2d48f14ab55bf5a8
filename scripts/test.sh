#!/usr/bin/env bash
# Runs every test: unit tests and the integration tests against an AWS-compatible endpoint.
# With AWS_ENDPOINT_URL unset it installs and starts the emulator on loopback and stops it after;
# with AWS_ENDPOINT_URL set (LocalStack: http://localhost:4566) it uses that endpoint as it is.
set -euo pipefail
cd "$(dirname "$0")/.."

make --no-print-directory lint-infra
if [ -z "${AWS_ENDPOINT_URL:-}" ]; then
  export MOTO_PORT="${MOTO_PORT:-5055}"
  scripts/emulator.sh start
  trap 'scripts/emulator.sh stop' EXIT
  export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT"
fi
# Emulators accept any credentials; real ones from the environment win.
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_REGION="${AWS_REGION:-us-east-1}"
echo "testing against AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL"
cargo test --workspace --locked --no-fail-fast "$@"
