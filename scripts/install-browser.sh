#!/usr/bin/env bash
# The headless browser the HTML report's test drives (tests/test_report_files.py): Debian's chromium at
# /usr/bin/chromium, driven by Playwright's Python package (the `test` extra) without Playwright's own browser
# download. Run by the README's test command (and so by CI, .ci/run). Installs with apt when chromium is missing and
# this runs as root; otherwise it says how and exits 0, and the browser test skips with that reason (CI sets
# TOKENSIM_REQUIRE_BROWSER=1, which turns the skip into a failure).
set -u
CHROMIUM=${TOKENSIM_CHROMIUM:-/usr/bin/chromium}
if [ -x "$CHROMIUM" ]; then
  echo "install-browser: $CHROMIUM present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-browser: $CHROMIUM missing and this is not root with apt-get; the HTML report's browser test will" \
       "skip. Install it with: sudo apt-get install -y --no-install-recommends chromium (Debian/Ubuntu)"
  exit 0
fi
echo "install-browser: installing chromium with apt-get"
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get install -y -q --no-install-recommends chromium >/dev/null \
       || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends chromium >/dev/null; }; }; then
  echo "install-browser: apt-get could not install chromium; the HTML report's browser test will skip"
  exit 0
fi
echo "install-browser: installed $("$CHROMIUM" --version 2>/dev/null || echo chromium)"
