#!/usr/bin/env bash
# Debian's Chromium for the console's browser tests (Playwright drives it by path; nothing
# is downloaded from Playwright's CDN). Already there: nothing to do. Without root or sudo,
# say so and go on: outside CI the browser tests then skip with that reason, in CI they fail.
set -uo pipefail
CHROMIUM="${NEXTBEST_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-chromium: no apt-get here; install Chromium and set NEXTBEST_CHROMIUM" >&2
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO="sudo -n"
else
  echo "install-chromium: need root to apt-get install chromium; browser tests will skip" >&2
  exit 0
fi
echo "installing Debian's chromium for the browser tests (once per machine)" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null \
  || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null; } \
  || echo "install-chromium: apt-get install chromium failed; browser tests will skip" >&2
exit 0
