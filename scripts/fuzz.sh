#!/usr/bin/env bash
# Fuzzing (issue 16): builds the libFuzzer targets in Fuzz/ (release, -sanitize=fuzzer,address),
# makes seeds from fixtures/*.pcap and ../shared/corpus (Fuzz/seeds.py, into Fuzz/.build/fuzz/),
# and runs each target.
#
#   bash scripts/fuzz.sh [TARGET] [--runs N | --seconds S] [-- LIBFUZZER_FLAGS...]
#
# TARGET: modbus, dnp3, hl7, dicom, s7comm, pipeline or all (the default).
# --runs N     a bounded run (what scripts/test.sh does): N executions per target, seeds
#              included, with a fixed random seed and a fresh corpus, so that it repeats.
# --seconds S  a long run (default 600 s per target): a random seed, and the corpus kept in
#              Fuzz/.build/fuzz/corpus/TARGET between runs (it grows with what was found).
# A crash, a sanitizer report, a timeout, an out-of-memory or an invalid event fails the run
# (exit 1) with one line per target naming the input libFuzzer saved and how to replay it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
all=(modbus dnp3 hl7 dicom s7comm pipeline)
targets=() runs="" seconds="" extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs="${2:?--runs needs a count}"; shift 2 ;;
        --seconds) seconds="${2:?--seconds needs a duration}"; shift 2 ;;
        --) shift; extra=("$@"); break ;;
        all) targets=("${all[@]}"); shift ;;
        modbus|dnp3|hl7|dicom|s7comm|pipeline) targets+=("$1"); shift ;;
        -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "fuzz.sh: unknown argument '$1' (targets: ${all[*]} all; --runs N | --seconds S)" >&2; exit 64 ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
if [ -n "$runs" ] && [ -n "$seconds" ]; then echo "fuzz.sh: --runs or --seconds, not both" >&2; exit 64; fi
[ -n "$runs" ] || seconds="${seconds:-600}"

scratch="$root/Fuzz/.build"
work="$scratch/fuzz"
export TZ=UTC LC_ALL=C
# A Swift trap goes to libFuzzer's handler (a "deadly signal" with the trap's message in its
# stack) rather than to Swift's backtracer, whose own memory reads ASan reports instead.
export SWIFT_BACKTRACE=enable=no
# Swift code only (-Xswiftc): C dependencies build as usual, and the output check (CFuzz) stays
# without coverage instrumentation. SwiftPM's --sanitize would order several sanitizers at
# random between runs (swiftc keeps only the last, and every change rebuilds everything).
build_log=$(mktemp)
trap 'rm -f "$build_log"' EXIT
if ! swift build -c release -Xswiftc -sanitize=fuzzer,address --package-path Fuzz --scratch-path "$scratch" >"$build_log" 2>&1; then
    cat "$build_log"
    echo "fuzz: FAILED (the fuzz targets do not build)"
    exit 1
fi
bin="$scratch/release"

rm -rf "$work/seeds"
sources=(fixtures)
corpus_dir="$root/../shared/corpus"
[ -n "${SPANSIGHT_CORPUS:-}" ] && corpus_dir="$SPANSIGHT_CORPUS"
if [ -f "$corpus_dir/MANIFEST.md" ]; then sources+=("$corpus_dir"); else echo "fuzz: no corpus at $corpus_dir (seeds from fixtures only)"; fi
python3 Fuzz/seeds.py "$work/seeds" "${sources[@]}" | sed 's/^/fuzz: /'

status=0
for t in "${targets[@]}"; do
    case "$t" in
        modbus) exe=FuzzModbus; max_len=4096 ;;
        dnp3) exe=FuzzDNP3; max_len=4096 ;;
        hl7) exe=FuzzHL7; max_len=4096 ;;
        dicom) exe=FuzzDICOM; max_len=4096 ;;
        s7comm) exe=FuzzS7comm; max_len=4096 ;;
        pipeline) exe=FuzzPipeline; max_len=16384 ;;
    esac
    mkdir -p "$work/artifacts" "$work/logs"
    if [ -n "$runs" ]; then
        corpus=$(mktemp -d)
        mode=(-runs="$runs" -seed=1)
        limit=$((runs / 10 + 300))   # a hung run fails instead of holding CI
    else
        corpus="$work/corpus/$t"
        mkdir -p "$corpus"
        mode=(-max_total_time="$seconds")
        limit=$((seconds + 600))
    fi
    log="$work/logs/$t.log"
    rm -f "$work/artifacts/$t-"*
    start=$SECONDS
    rc=0
    timeout "$limit" "$bin/$exe" "${mode[@]}" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$work/artifacts/$t-" "${extra[@]}" \
        "$corpus" "$work/seeds/$t" >"$log" 2>&1 || rc=$?
    [ -n "$runs" ] && rm -rf "$corpus"
    took=$((SECONDS - start))
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true)
    execs=$(grep -oE '^stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo "?")
    cov=$(grep -oE 'cov: [0-9]+' <<<"$done_line" | grep -oE '[0-9]+' || echo "?")
    ft=$(grep -oE 'ft: [0-9]+' <<<"$done_line" | grep -oE '[0-9]+' || echo "?")
    corp=$(grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' <<<"$done_line" | sed 's/corp: //' || echo "?")
    if [ "$rc" -eq 0 ] && [ -n "$done_line" ]; then
        echo "fuzz $t: $execs executions, cov $cov, ft $ft, corpus $corp, no crash (${took}s)"
        continue
    fi
    status=1
    artifact=$(ls -t "$work/artifacts/$t-"* 2>/dev/null | head -1 || true)
    # A Swift trap's message or the invalid event first, else the sanitizer's or libFuzzer's line.
    reason=$(grep -m1 -oE 'Swift runtime failure: [^/]*[^/ ]|spansight-fuzz: [^(]*[^( ]' "$log" || true)
    [ -n "$reason" ] || reason=$(grep -m1 -oE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer): [^ ]+( [^ ]+)?' "$log" || true)
    [ "$rc" -eq 124 ] && reason="no end within ${limit}s"
    echo "fuzz $t: FAILED (${reason:-exit status $rc}) after ${took}s; log $log"
    if [ -n "$artifact" ]; then
        echo "fuzz $t: input $artifact; replay: $bin/$exe $artifact"
    fi
    # Small inputs are printed whole, so that a CI log alone can reproduce them.
    grep -m1 '^Base64: ' "$log" | sed "s/^/fuzz $t: input as /" || true
    # The report itself (sanitizer summary, Swift's fatal error, the invalid event), briefly.
    grep -m12 -E 'ERROR:|SUMMARY:|Fatal error|spansight-fuzz:|#[0-9]+ 0x' "$log" | sed "s/^/fuzz $t: | /" | cut -c1-300 || true
done
exit "$status"
