#!/usr/bin/env bash
# Starts or stops the AWS-compatible emulator (moto's server mode) as a plain process on loopback.
#   scripts/emulator.sh start|stop|status
# MOTO_PORT picks the port (default 5055); the endpoint is http://127.0.0.1:$MOTO_PORT.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${MOTO_PORT:-5055}"
STATE=.local
PIDFILE="$STATE/moto-$PORT.pid"
LOG="$STATE/moto-$PORT.log"
URL="http://127.0.0.1:$PORT"
mkdir -p "$STATE"

ready() { curl -fsS -o /dev/null "$URL/moto-api/data.json" 2>/dev/null; }

case "${1:-}" in
  start)
    if ready; then
      # The local stack's interpreter must invoke Lambda through its router (MOTO_LAMBDA_PORT): an
      # emulator this script did not start may invoke elsewhere, and every release would fail
      # with "Function not found".
      if [ -n "${MOTO_LAMBDA_PORT:-}" ] && [ ! -s "$PIDFILE" ]; then
        echo "error: something already answers at $URL that this script did not start; stop it or pick another MOTO_PORT" >&2
        exit 1
      fi
      echo "emulator already answering at $URL"; exit 0
    fi
    [ -x .venv/bin/moto_server ] || { echo "error: .venv/bin/moto_server is missing; run \`make tools\` first" >&2; exit 1; }
    rm -f "$PIDFILE"
    # setsid: the emulator must not die with the shell that started it, nor take it down.
    # Its Step Functions interpreter invokes Lambda on the port in MOTO_PORT: the local stack's
    # router when MOTO_LAMBDA_PORT is given, else the emulator itself.
    # The new session's shell records its own pid, then becomes the server: the pid is the server's.
    # scripts/moto_server.py is moto_server with its DynamoDB requests handled one at a time (see there).
    MOTO_PORT="${MOTO_LAMBDA_PORT:-$PORT}" setsid bash -c 'echo $$ > "$0"; exec .venv/bin/python scripts/moto_server.py -H 127.0.0.1 -p "$1"' \
      "$PIDFILE" "$PORT" >"$LOG" 2>&1 < /dev/null &
    for _ in $(seq 1 50); do [ -s "$PIDFILE" ] && break; sleep 0.1; done
    for _ in $(seq 1 150); do
      if ready; then echo "emulator ready at $URL (pid $(cat "$PIDFILE"), log $LOG)"; exit 0; fi
      if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then break; fi
      sleep 0.2
    done
    echo "error: the emulator did not come up at $URL; its log says:" >&2
    tail -n 30 "$LOG" >&2 || true
    exit 1
    ;;
  stop)
    if [ -f "$PIDFILE" ]; then
      pid="$(cat "$PIDFILE")"
      kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
      # The emulator may linger on its Step Functions threads; the next start must not find it
      # answering (it would reuse it), so it goes for good.
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -9 -- "-$pid" 2>/dev/null || kill -9 "$pid" 2>/dev/null || true
      rm -f "$PIDFILE"
      echo "emulator at $URL stopped"
    fi
    ;;
  status)
    if ready; then echo "emulator answering at $URL"; else echo "no emulator at $URL"; exit 1; fi
    ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
