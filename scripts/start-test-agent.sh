#!/usr/bin/env bash
# Starts Datadog's APM test agent (ddapm-test-agent) on loopback for the trace
# and log tests, idempotently, and prints `export` lines for the tests:
#
#   eval "$(scripts/start-test-agent.sh)"
#
#   PT_TEST_AGENT_URL         the agent's trace API          (http://127.0.0.1:<port>)
#   PT_OTLP_HTTP_ENDPOINT     OTLP HTTP/protobuf receiver    (http://127.0.0.1:<port>)
#   PT_OTLP_GRPC_ENDPOINT     OTLP gRPC receiver             (http://127.0.0.1:<port>)
#   PT_TEST_AGENT_STARTED_PID the agent's pid, only when this call started it
#
# The ports are free loopback ports picked at start, never the Datadog
# Agent's well-known 8125, 8126, 4317 and 4318, so a real Agent can always
# start on this machine. A running agent started by this script is reused
# (then no PT_TEST_AGENT_STARTED_PID is printed: whoever started it stops
# it). Its log and state live under target/test-agent/.
#
#   scripts/start-test-agent.sh --stop            stops the agent this script started
#   scripts/start-test-agent.sh --stop-pid <pid>  stops it only if it is still <pid>
#
# Only `export` lines go to stdout; progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
STATE_DIR="${PT_TEST_AGENT_DIR:-$ROOT/target/test-agent}"
STATE="$STATE_DIR/state"
LOG="$STATE_DIR/agent.log"
mkdir -p "$STATE_DIR"
# One caller at a time: test binaries and scripts started together must share
# one agent, not each start one and leave the others running.
exec 9>"$STATE_DIR/lock"
flock -w 120 9 || { echo "start-test-agent: $STATE_DIR/lock is held" >&2; exit 1; }

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

# is_agent PID: PID is alive and is a ddapm-test-agent (not a recycled pid).
is_agent() {
  kill -0 "$1" 2>/dev/null && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q ddapm-test-agent
}

# stop [PID]: stops the agent the state file names (only if it is PID, when given).
stop() {
  local want="$1" pid=""
  if [ -f "$STATE" ]; then read -r pid _ _ _ <"$STATE" || true; fi
  if [ -n "$want" ] && [ "$pid" != "$want" ]; then
    say "not stopping pid $want: the state file names ${pid:-no agent}"
    return 0
  fi
  if [ -n "$pid" ] && is_agent "$pid"; then
    kill "$pid" && say "stopped test agent (pid $pid)"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$STATE"
}

case "${1:-}" in
  --stop) stop ""; exit 0 ;;
  --stop-pid) stop "${2:?--stop-pid needs a pid}"; exit 0 ;;
esac

# Datadog's checks of what a tracer sends to the trace API, kept per session
# for GET /test/trace_check/failures.
CHECKS=trace_count_header,meta_tracer_version_header,trace_content_length,meta_events_is_valid_json

# Reuse an agent this script started earlier if it still answers and runs
# the same checks.
if [ -f "$STATE" ]; then
  read -r pid port http grpc checks <"$STATE" || true
  if [ "${checks:-}" != "$CHECKS" ]; then
    say "stopping the test agent started without the current checks (pid ${pid:-?})"
    stop ""
    pid=""
  fi
  case " $port $http $grpc " in
    *" 8126 "* | *" 4317 "* | *" 4318 "*)
      # Started by an older version of this script on the Agent's own ports.
      say "stopping the test agent on the Datadog Agent's ports (pid ${pid:-?})"
      stop ""
      pid="" ;;
  esac
  if [ -n "${pid:-}" ] && is_agent "$pid" && ready "$port" "$http"; then
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

# Three distinct free loopback ports, none of the Datadog Agent's own.
read -r port http grpc < <("$PY" - <<'EOF'
import socket
agent = {8125, 8126, 4317, 4318}
picked = []
while len(picked) < 3:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close()
    if p not in agent and p not in picked:
        picked.append(p)
print(*picked)
EOF
)

say "starting ddapm-test-agent on 127.0.0.1 (trace $port, OTLP HTTP $http, OTLP gRPC $grpc); log: $LOG"
ENABLED_CHECKS="$CHECKS" DD_POOL_TRACE_CHECK_FAILURES=true nohup .venv/bin/ddapm-test-agent --host 127.0.0.1 --port "$port" \
  --otlp-http-port "$http" --otlp-grpc-port "$grpc" --log-level INFO \
  >"$LOG" 2>&1 </dev/null 9>&- &
pid=$!
echo "$pid $port $http $grpc $CHECKS" >"$STATE"

for _ in $(seq 1 150); do
  if ready "$port" "$http"; then
    print_exports "$port" "$http" "$grpc"
    echo "export PT_TEST_AGENT_STARTED_PID=$pid"
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
