#!/usr/bin/env bash
# The test command (README and CI): install what the tests need, build, run every test, then
# the allocation gate (scripts/bench-gate.sh).
# Captures in ../shared/corpus are used when present (tests skip with a message otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
export TZ=UTC LC_ALL=C
swift build --build-tests
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
swift test --skip-build --disable-swift-testing "$@" 2>&1 | tee "$log" || status=$?
# One plain closing line with the XCTest totals.
summary=$(grep -E "Executed [0-9]+ tests?, with" "$log" | tail -1 || true)
if [ -n "$summary" ]; then
    total=$(sed -E 's/.*Executed ([0-9]+) tests?.*/\1/' <<<"$summary")
    failed=$(sed -E 's/.* ([0-9]+) failures?.*/\1/' <<<"$summary")
    skipped=$(grep -oE '[0-9]+ tests? skipped' <<<"$summary" | grep -oE '^[0-9]+' || echo 0)
    echo "tests: $((total - failed - skipped)) passed, $failed failed, $skipped skipped"
fi
# The allocation gate, on full runs only (arguments select tests: a quicker loop).
if [ $# -eq 0 ]; then
    gate=0
    bash scripts/bench-gate.sh || gate=$?
    if [ "$gate" -eq 0 ]; then echo "allocation gate: passed"; else echo "allocation gate: FAILED"; status=1; fi
else
    echo "allocation gate: skipped (tests selected)"
fi
exit "$status"
