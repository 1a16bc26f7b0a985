#!/usr/bin/env bash
# Runs the whole test suite, real-peer tests included, on a fresh machine:
# installs the Python test peers in .venv, makes sure the local services are
# up, starts Datadog's APM test agent on free loopback ports (stopped again at
# the end unless PT_KEEP_TEST_AGENT=1), then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-peers.sh
scripts/ensure-services.sh
unset PT_TEST_AGENT_STARTED_PID # set below only if this run starts the agent
eval "$(scripts/start-test-agent.sh)"
# Stop the test agent when the suite ends, if this run started it (one that
# was already running is someone else's); PT_KEEP_TEST_AGENT=1 keeps it.
if [ -n "${PT_TEST_AGENT_STARTED_PID:-}" ] && [ "${PT_KEEP_TEST_AGENT:-0}" != 1 ]; then
  trap 'scripts/start-test-agent.sh --stop-pid "$PT_TEST_AGENT_STARTED_PID"' EXIT
fi
export PT_REQUIRE_PEERS=1

cargo test --workspace "$@"
# What `cargo add pipeline-telemetry` builds: the facade's tests again with
# its default features only (no OTLP transport; in the workspace run other
# packages turn it on), tests/default_build.rs sending spans to the test
# agent's trace intake.
PT_DEFAULT_BUILD=1 cargo test -p pipeline-telemetry
