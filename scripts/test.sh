#!/usr/bin/env bash
# Install custseg with its test dependencies and run the whole test suite.
# As root on Debian/Ubuntu it also installs Chromium for the browser test; elsewhere that
# test skips itself when no browser can be found.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e ".[test]"
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1 && ! command -v chromium >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "warning: could not install chromium; the browser test will be skipped" >&2
fi
python3 -m pytest "$@"
