#!/usr/bin/env bash
# Loads a scenario's report.html in headless Chromium: it must load without console errors
# and its charts must render (SVG polylines in the DOM, a non-blank screenshot).
# Usage: tests/report_check.sh [CHOKEPOINT_BINARY]   (installs Debian's chromium if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/debug/chokepoint}
if ! command -v chromium >/dev/null 2>&1; then
  echo "report check: installing chromium (Debian package)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" run scripts/2025-04-china-licensing.rhai --out "$work/out" >/dev/null
"$bin" sweep scripts/whatif-us-stockpile-12m-ban.rhai --grid 3 --set stockpile_t=0..12000 --out "$work/sweep" >/dev/null
chrome() {
  timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$work/profile-$RANDOM" "$@"
}
status=0
for page in "$work/out/report.html" "$work/sweep/report.html"; do
  chrome --enable-logging=stderr --v=0 --virtual-time-budget=3000 --dump-dom "file://$page" \
    >"$work/dom.html" 2>"$work/console.log" || true
  errors=$(grep -E 'CONSOLE|Uncaught' "$work/console.log" | grep -ciE 'error|uncaught' || true)
  lines=$(grep -o '<polyline' "$work/dom.html" | wc -l)
  svgs=$(grep -o '<svg' "$work/dom.html" | wc -l)
  chrome --hide-scrollbars --window-size=1000,1400 --screenshot="$work/shot.png" "file://$page" >/dev/null 2>&1 || true
  size=$(stat -c %s "$work/shot.png" 2>/dev/null || echo 0)
  echo "report check: $(basename "$(dirname "$page")")/report.html: $svgs charts, $lines lines, $errors console errors, screenshot $size bytes"
  if [ "$errors" -ne 0 ] || [ "$svgs" -lt 2 ] || [ "$lines" -lt 2 ] || [ "$size" -lt 20000 ]; then
    echo "report check FAILED for $page"; grep -E 'CONSOLE|Uncaught' "$work/console.log" || true
    status=1
  fi
done
exit $status
