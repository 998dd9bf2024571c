#!/usr/bin/env bash
# The test command (README and CI): install what the tests need, build, run every test, then
# the allocation gate (scripts/bench-gate.sh), the dissector and engine suites under
# AddressSanitizer (scratch path .build-asan) and a bounded run of every fuzz target
# (scripts/fuzz.sh --runs).
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
# Under AddressSanitizer (issue 16), full runs only: the dissectors' suites and the engine's unit
# suites (wire views, reassembly, flow table and lifecycle, framing, slot blocks, envelope cache,
# JSON writer, Community ID), where the raw-pointer code is. Not the suites that replay every
# capture through the tool or check its processes (CLI, corpus, EVE conformance, outputs, live
# capture) nor inventory and detection: under ASan they take 10 of its 14 minutes here, and the
# fuzz run below replays every capture through the pipeline under ASan anyway.
asan_suites='^(ModbusTests|DNP3Tests|HL7Tests|DICOMTests)\.|^SpanSightTests\.(WireTests|ReassemblyTests|FlowTableTests|FlowLifecycleTests|StreamFramerTests|SlotBlockTests|EnvelopeCacheTests|JSONWriterTests|CommunityIDTests)/'
if [ $# -eq 0 ]; then
    asan_log=$(mktemp)
    trap 'rm -f "$log" "$asan_log"' EXIT
    asan=0
    started=$SECONDS
    # A Swift trap is reported as itself, not through Swift's backtracer (whose reads ASan flags).
    # No leak check at exit: what LeakSanitizer finds there is XCTest's (it keeps its test cases)
    # and Foundation's (Data(contentsOf:), Process), never ours; the fuzz runs check leaks per input.
    if swift build --build-tests --sanitize=address --scratch-path .build-asan >"$asan_log" 2>&1; then
        SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 swift test --skip-build --sanitize=address \
            --scratch-path .build-asan --disable-swift-testing --filter "$asan_suites" >>"$asan_log" 2>&1 || asan=$?
    else
        asan=$?
        echo "asan: the build under AddressSanitizer failed"
    fi
    asan_summary=$(grep -E "Executed [0-9]+ tests?, with" "$asan_log" | tail -1 | sed -E 's/^[[:space:]]*//' || true)
    if [ "$asan" -eq 0 ]; then
        echo "asan: passed (${asan_summary:-no summary}; $((SECONDS - started))s with the build)"
    else
        # The sanitizer's report (its first lines) and the failing tests, then the verdict.
        grep -m20 -E "ERROR: (AddressSanitizer|LeakSanitizer)|SUMMARY: |Swift runtime failure|Fatal error|error: |exited with unexpected signal" "$asan_log" | cut -c1-300 | sed 's/^/asan: | /' || true
        [ "$asan" -ne 0 ] && [ -z "$asan_summary" ] && tail -20 "$asan_log" | sed 's/^/asan: | /'
        reason=$(grep -m1 -oE "ERROR: (AddressSanitizer|LeakSanitizer): [^ ]+( [^ ]+)?" "$asan_log" || true)
        echo "asan: FAILED (${reason:-a test failed or crashed}; ${asan_summary:-no summary})"
        status=1
    fi
    # The fuzz targets, a bounded run each (about 90 s in all on 2 cores, after their build).
    fuzz=0
    bash scripts/fuzz.sh --runs 8000 || fuzz=$?
    if [ "$fuzz" -eq 0 ]; then echo "fuzz: passed"; else echo "fuzz: FAILED (a crash, a sanitizer report or an invalid event: see the lines above)"; status=1; fi
    # The totals again, last, where a reader of the log looks for them.
    [ -n "$summary" ] && echo "tests: $((total - failed - skipped)) passed, $failed failed, $skipped skipped"
else
    echo "asan: skipped (tests selected)"
    echo "fuzz: skipped (tests selected)"
fi
exit "$status"
