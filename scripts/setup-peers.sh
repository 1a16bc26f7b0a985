#!/usr/bin/env bash
# Installs the Python test peers into ./.venv (idempotent; re-installs when
# scripts/peers-requirements.txt changes). What each peer is for is written
# beside it in that file. Safe to run from several test processes at once.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
REQ=scripts/peers-requirements.txt
exec 9>".venv.lock"
flock 9
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
want="$(sha256sum "$REQ" | cut -d' ' -f1)"
have="$(cat .venv/.peers-stamp 2>/dev/null || true)"
if [ "$want" != "$have" ]; then
  echo "setup-peers: installing the Python test peers into .venv" >&2
  .venv/bin/pip install --quiet --disable-pip-version-check -r "$REQ" >&2
  echo "$want" >.venv/.peers-stamp
fi
# Headless Chromium for the dev page's browser test.
scripts/setup-browser.sh || echo "setup-peers: no chromium: the dev page browser test will fail" >&2
