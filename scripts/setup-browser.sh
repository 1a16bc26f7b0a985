#!/usr/bin/env bash
# Installs headless Chromium from Debian's packages when it is missing: the
# `pipeline-telemetry-cli dev` tests take a screenshot of the dev page with it
# (crates/pipeline-telemetry-cli/tests/dev_browser.rs). Idempotent; needs root
# (or sudo) to install.
set -euo pipefail
for b in chromium chromium-browser google-chrome; do
  if command -v "$b" >/dev/null 2>&1; then
    exit 0
  fi
done
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo -n"
  else
    echo "setup-browser: chromium is missing and this is not root: run 'apt-get install -y chromium' as root" >&2
    exit 1
  fi
fi
echo "setup-browser: installing chromium with apt-get" >&2
exec 8>/tmp/pipeline-telemetry-setup-browser.lock
flock 8
$SUDO apt-get update -qq >&2 || true
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >&2
