#!/usr/bin/env bash
# Installs Debian's chromium for the console's browser tests when it is missing (CI runs as root
# on a fresh machine). Downloading a browser build (`playwright install`) is not possible here.
set -euo pipefail
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
[ -x "$CHROMIUM" ] && exit 0
SUDO=""
[ "$(id -u)" = "0" ] || SUDO="sudo"
# another apt may hold the lock (shared machines): wait for it instead of failing
for _ in $(seq 120); do
  $SUDO apt-get update -qq && break
  sleep 5
done
for _ in $(seq 120); do
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null && break
  sleep 5
done
[ -x "$CHROMIUM" ] || { echo "chromium is not installed at $CHROMIUM" >&2; exit 1; }
