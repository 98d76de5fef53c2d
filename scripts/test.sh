#!/usr/bin/env bash
# Install custseg with its test dependencies and run the whole test suite.
# As root on Debian/Ubuntu it also installs Chromium for the browser test; elsewhere that
# test skips itself when no browser can be found.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e ".[test,spark]"
# The Spark engine's tests need Java 17+ (PySpark starts a JVM); they skip without it.
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1 && ! command -v java >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null) \
    || (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >/dev/null) \
    || echo "warning: could not install Java; the Spark tests will be skipped" >&2
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1 && ! command -v chromium >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "warning: could not install chromium; the browser test will be skipped" >&2
fi
python3 -m pytest "$@"
