#!/usr/bin/env bash
# The test command (README and CI): install what the tests need, build, run every test.
# Captures in ../shared/corpus are used when present (tests skip with a message otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
export TZ=UTC LC_ALL=C
swift build --build-tests
swift test --skip-build "$@"
