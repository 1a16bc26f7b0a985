#!/usr/bin/env bash
# Runs the whole test suite, real-peer tests included, on a fresh machine:
# installs the Python test peers in .venv, makes sure the local services are
# up, starts Datadog's APM test agent on loopback, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-peers.sh
scripts/ensure-services.sh
eval "$(scripts/start-test-agent.sh)"
export PT_REQUIRE_PEERS=1

cargo test --workspace "$@"
