#!/usr/bin/env bash
# The local stack, on loopback, as plain processes:
#   the emulator (moto, with its Step Functions interpreter switched on),
#   `cargo lambda watch` serving our real function binaries,
#   and a router in front that sends the Lambda Invoke API to cargo lambda and the rest to the emulator.
#   scripts/local-stack.sh start|stop
# Ports: MOTO_PORT (emulator, default 5055), ROUTER_PORT (5056), FUNCTIONS_PORT (9055); several
# stacks on different ports run side by side (pid and log files are per port, in .local/).
# The functions use the tables `rollgate-e2e` and `rollgate-e2e-tokens`, the topic `rollgate-e2e`
# and the Slack signing secret `rollgate-e2e-slack` (tests create them). Their own AWS calls go through the router too, so that
# its fault injector (POST /_faults, see scripts/lambda_router.py) reaches them.
set -euo pipefail
cd "$(dirname "$0")/.."
MOTO_PORT="${MOTO_PORT:-5055}"
ROUTER_PORT="${ROUTER_PORT:-5056}"
FUNCTIONS_PORT="${FUNCTIONS_PORT:-9055}"
# Instances of each function at once (cargo lambda's default is one, which queues concurrent
# releases behind each other; Lambda runs them side by side).
FUNCTIONS_CONCURRENCY="${FUNCTIONS_CONCURRENCY:-4}"
STATE=.local
mkdir -p "$STATE"
ROUTER_PID="$STATE/router-$ROUTER_PORT.pid" ROUTER_LOG="$STATE/router-$ROUTER_PORT.log"
FUNCTIONS_PID="$STATE/functions-$FUNCTIONS_PORT.pid" FUNCTIONS_LOG="$STATE/functions-$FUNCTIONS_PORT.log"
export PATH="$PWD/.venv/bin:$PATH"

wait_for() { # url, name, pidfile, log
  for _ in $(seq 1 600); do
    if curl -s -o /dev/null "$1"; then return 0; fi
    if ! kill -0 "$(cat "$3")" 2>/dev/null; then break; fi
    sleep 0.2
  done
  echo "error: $2 did not come up at $1; its log says:" >&2
  tail -n 30 "$4" >&2 || true
  exit 1
}

case "${1:-}" in
  start)
    rm -f "$ROUTER_PID" "$FUNCTIONS_PID"
    # The interpreter invokes Lambda on the emulator's "own" port, which is the router's.
    MOTO_PORT="$MOTO_PORT" MOTO_LAMBDA_PORT="$ROUTER_PORT" scripts/emulator.sh start
    curl -fsS -X POST -H 'content-type: application/json' \
      -d '{"stepfunctions": {"execute_state_machine": true}}' "http://127.0.0.1:$MOTO_PORT/moto-api/config" >/dev/null
    # Each process gets its own session; its shell records the pid and becomes the process.
    setsid bash -c 'echo $$ > "$0"; exec .venv/bin/python scripts/lambda_router.py "$@"' "$ROUTER_PID" \
      "$ROUTER_PORT" "http://127.0.0.1:$MOTO_PORT" "http://127.0.0.1:$FUNCTIONS_PORT" >"$ROUTER_LOG" 2>&1 </dev/null &
    for _ in $(seq 1 50); do [ -s "$ROUTER_PID" ] && break; sleep 0.1; done
    wait_for "http://127.0.0.1:$ROUTER_PORT/moto-api/data.json" router "$ROUTER_PID" "$ROUTER_LOG"
    # Build the functions first, each as `cargo lambda watch` builds it (`cargo run --bin <name>`:
    # one package's features, not several unified), so that no first invocation waits minutes
    # for the compiler and runs past its state's timeout.
    for function in checklist-validator metric-gate traffic-switch rollback-notifier approval-request approval-webhook release-control; do
      cargo build --quiet --locked --bin "$function"
    done
    # The functions reach AWS through the router (AWS_ENDPOINT_URL), which forwards to the emulator.
    setsid bash -c 'echo $$ > "$0"; exec "$@"' "$FUNCTIONS_PID" \
      cargo lambda watch --ignore-changes -A 127.0.0.1 -P "$FUNCTIONS_PORT" --concurrency "$FUNCTIONS_CONCURRENCY" \
      --env-var ROLLGATE_TABLE=rollgate-e2e \
      --env-var ROLLGATE_TOKEN_TABLE=rollgate-e2e-tokens \
      --env-var "ROLLGATE_TOPIC_ARN=arn:aws:sns:us-east-1:123456789012:rollgate-e2e" \
      --env-var "AWS_ENDPOINT_URL=http://127.0.0.1:$ROUTER_PORT" \
      --env-var AWS_REGION=us-east-1 --env-var AWS_ACCESS_KEY_ID=test --env-var AWS_SECRET_ACCESS_KEY=test \
      --env-var ROLLGATE_ALLOW_INSECURE_LOOPBACK_WEBHOOK=1 \
      --env-var ROLLGATE_SLACK_SIGNING_SECRET_ARN=rollgate-e2e-slack \
      --env-var "ROLLGATE_SLACK_RESPONSE_URL_PREFIXES=http://127.0.0.1:" \
      >"$FUNCTIONS_LOG" 2>&1 </dev/null &
    for _ in $(seq 1 50); do [ -s "$FUNCTIONS_PID" ] && break; sleep 0.1; done
    wait_for "http://127.0.0.1:$FUNCTIONS_PORT/" "cargo lambda watch" "$FUNCTIONS_PID" "$FUNCTIONS_LOG"
    echo "local stack ready: emulator :$MOTO_PORT, router :$ROUTER_PORT, functions :$FUNCTIONS_PORT (logs in $STATE/)"
    echo "control endpoint (ROLLGATE_CONTROL_URL): http://127.0.0.1:$ROUTER_PORT/_api/release-control"
    ;;
  stop)
    for entry in "$FUNCTIONS_PID:$FUNCTIONS_PORT:functions" "$ROUTER_PID:$ROUTER_PORT:router"; do
      IFS=: read -r pidfile port name <<<"$entry"
      # A stack started before pid files were per port left .local/<name>.pid: stop that one only
      # if it serves this stack's port.
      legacy="$STATE/$name.pid"
      if [ ! -f "$pidfile" ] && [ -f "$legacy" ] &&
        tr '\0' ' ' <"/proc/$(cat "$legacy")/cmdline" 2>/dev/null | grep -qw -- "$port"; then
        pidfile="$legacy"
      fi
      if [ -f "$pidfile" ]; then
        kill -- "-$(cat "$pidfile")" 2>/dev/null || kill "$(cat "$pidfile")" 2>/dev/null || true
        rm -f "$pidfile"
      fi
    done
    MOTO_PORT="$MOTO_PORT" scripts/emulator.sh stop
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
