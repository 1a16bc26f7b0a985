#!/usr/bin/env bash
# Installs the Python test peers into ./.venv (idempotent):
#   datadog          - the official DogStatsD client, used as a wire-format oracle
#   ddapm-test-agent - Datadog's APM test agent, the OTLP receiver of the trace/log tests
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import datadog, ddapm_test_agent" 2>/dev/null; then
  .venv/bin/pip install --quiet --disable-pip-version-check -r scripts/peers-requirements.txt
fi
