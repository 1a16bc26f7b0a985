#!/usr/bin/env bash
# Starts Datadog's APM test agent (ddapm-test-agent) on loopback for the trace
# and log tests, idempotently, and prints `export` lines for the tests:
#
#   eval "$(scripts/start-test-agent.sh)"
#
#   PT_TEST_AGENT_URL        the agent's trace API          (default http://127.0.0.1:8126)
#   PT_OTLP_HTTP_ENDPOINT    OTLP HTTP/protobuf receiver    (default http://127.0.0.1:4318)
#   PT_OTLP_GRPC_ENDPOINT    OTLP gRPC receiver             (default http://127.0.0.1:4317)
#
# The default ports are used when free, otherwise free loopback ports are
# picked. A running agent started by this script is reused. Its log and state
# live under target/test-agent/. `scripts/start-test-agent.sh --stop` stops it.
# Only `export` lines go to stdout; progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
STATE_DIR="${PT_TEST_AGENT_DIR:-$ROOT/target/test-agent}"
STATE="$STATE_DIR/state"
LOG="$STATE_DIR/agent.log"
mkdir -p "$STATE_DIR"

say() { echo "start-test-agent: $*" >&2; }

# ready PORT OTLP_HTTP_PORT: the trace API and the OTLP HTTP receiver answer.
ready() {
  curl -fsS -m 2 "http://127.0.0.1:$1/info" >/dev/null 2>&1 &&
    curl -sS -m 2 -o /dev/null "http://127.0.0.1:$2/test/session/traces" 2>/dev/null
}

print_exports() {
  echo "export PT_TEST_AGENT_URL=http://127.0.0.1:$1"
  echo "export PT_OTLP_HTTP_ENDPOINT=http://127.0.0.1:$2"
  echo "export PT_OTLP_GRPC_ENDPOINT=http://127.0.0.1:$3"
}

if [ "${1:-}" = "--stop" ]; then
  if [ -f "$STATE" ]; then
    read -r pid _ _ _ <"$STATE" || true
    if [ -n "${pid:-}" ] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" && say "stopped test agent (pid $pid)"
    fi
    rm -f "$STATE"
  fi
  exit 0
fi

# Reuse an agent this script started earlier if it still answers.
if [ -f "$STATE" ]; then
  read -r pid port http grpc <"$STATE" || true
  if [ -n "${pid:-}" ] && kill -0 "$pid" 2>/dev/null && ready "$port" "$http"; then
    say "reusing test agent (pid $pid)"
    print_exports "$port" "$http" "$grpc"
    exit 0
  fi
  rm -f "$STATE"
fi

if [ ! -x .venv/bin/ddapm-test-agent ]; then
  say "installing test peers (scripts/setup-peers.sh)"
  scripts/setup-peers.sh >&2
fi
PY=.venv/bin/python

# Picks the wanted loopback port if it is free, else a free one, never one in
# the exclusion list.
pick_port() {
  "$PY" - "$@" <<'EOF'
import socket, sys
want, avoid = int(sys.argv[1]), {int(p) for p in sys.argv[2:]}
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        return True
    except OSError:
        return False
    finally:
        s.close()
if want not in avoid and free(want):
    print(want)
else:
    while True:
        s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close()
        if p not in avoid:
            print(p); break
EOF
}

port="$(pick_port 8126)"
http="$(pick_port 4318 "$port")"
grpc="$(pick_port 4317 "$port" "$http")"

say "starting ddapm-test-agent on 127.0.0.1 (trace $port, OTLP HTTP $http, OTLP gRPC $grpc); log: $LOG"
nohup .venv/bin/ddapm-test-agent --host 127.0.0.1 --port "$port" \
  --otlp-http-port "$http" --otlp-grpc-port "$grpc" --log-level INFO \
  >"$LOG" 2>&1 </dev/null &
pid=$!
echo "$pid $port $http $grpc" >"$STATE"

for _ in $(seq 1 150); do
  if ready "$port" "$http"; then
    print_exports "$port" "$http" "$grpc"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    say "the test agent exited; last lines of $LOG:"
    tail -n 20 "$LOG" >&2 || true
    rm -f "$STATE"
    exit 1
  fi
  sleep 0.2
done
say "the test agent did not become ready in 30s; last lines of $LOG:"
tail -n 20 "$LOG" >&2 || true
kill "$pid" 2>/dev/null || true
rm -f "$STATE"
exit 1
