#!/usr/bin/env bash
# The hostile-traffic memory benchmark (issue 16 §1); a measurement, not a test: nothing fails
# on a number. Writes each capture of scripts/mkhostile.py (and ../shared/bench/mkbig.py's
# normal traffic, for reference) and reads it with `spansight read` at the default memory
# budget and at --memory-budget 64M, measuring peak RSS with GNU time. One table on stdout:
#   pattern, capture MB, packets, budget, peak RSS MiB, peak RSS minus budget (MiB), seconds,
#   and the `memory:` line of spansight's summary (verbatim, `-` if there is none).
# Builds nothing: SPANSIGHT names the binary (default .build/release/spansight).
#
# usage: scripts/memory-bench.sh [--quick] [--only NAME] [--dir DIR] [--budget SIZE]
#   --quick        small captures (seconds, a smoke check) instead of the benchmark sizes
#   --only NAME    one row (e.g. modbus-one-flow) or every row of a pattern (modbus-unanswered)
#   --dir DIR      write the captures there and keep them (reused when made with the same
#                  arguments); otherwise a temporary directory, each capture deleted after use
#   --budget SIZE  the explicit budget (default 64M)
# The benchmark sizes write about 3.9 GB of captures in all (at most 1.4 GB at a time without
# --dir); a release build reads them in minutes per pattern.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MKHOSTILE="$ROOT/scripts/mkhostile.py"
MKBIG=${MKBIG:-"$ROOT/../shared/bench/mkbig.py"}
# Relative to the current directory when given, else the package's release build.
SPANSIGHT=${SPANSIGHT:-"$ROOT/.build/release/spansight"}
[[ $SPANSIGHT == /* ]] || SPANSIGHT="$PWD/$SPANSIGHT"

quick=0 only='' dir='' budget=64M
while (($#)); do
    case $1 in
        --quick) quick=1 ;;
        --only) only=${2:?--only needs a name}; shift ;;
        --dir) dir=${2:?--dir needs a directory}; shift ;;
        --budget) budget=${2:?--budget needs a size}; shift ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "memory-bench: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

[[ -x $SPANSIGHT ]] || { echo "memory-bench: no spansight binary at $SPANSIGHT (set SPANSIGHT)" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "memory-bench: GNU time (/usr/bin/time) is needed" >&2; exit 2; }

# name | generator arguments at benchmark size | at --quick size
ROWS=(
    "syn-flood|syn-flood|syn-flood --flows 20000"
    "reassembly-bomb|reassembly-bomb|reassembly-bomb --flows 8 --bytes 16M"
    "mllp-endless|mllp-endless|mllp-endless --flows 20 --bytes 512K"
    "dicom-huge-pdu|dicom-huge-pdu|dicom-huge-pdu --flows 20 --bytes 256K"
    "dicom-huge-pdata|dicom-huge-pdata|dicom-huge-pdata --flows 20 --bytes 256K"
    "modbus-unanswered|modbus-unanswered|modbus-unanswered --flows 200 --requests 1100"
    "modbus-one-flow|modbus-unanswered --flows 1 --requests 2000000|modbus-unanswered --flows 1 --requests 100000"
    "modbus-many-flows|modbus-unanswered --flows 50000 --requests 20|modbus-unanswered --flows 2000 --requests 20"
    "dnp3-unfinished|dnp3-unfinished|dnp3-unfinished --flows 100 --requests 200"
    "big|2000000|100000"
)

if [[ -n $only ]]; then
    known=0
    for row in "${ROWS[@]}"; do
        IFS='|' read -r name full _ <<<"$row"
        [[ $only == "$name" || $only == "${full%% *}" ]] && known=1
    done
    ((known)) || { echo "memory-bench: no row or pattern named $only" >&2; exit 2; }
fi

# Size arguments (64M, 512K, 1G, plain bytes) in bytes; empty when not a size.
bytes_of() {
    python3 -c '
import re, sys
m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?", sys.argv[1].strip(), re.I)
if m: print(int(float(m[1]) * 1024 ** " KMGT".index(m[2].upper() or " ")))' "$1"
}

# Records in a classic pcap.
packets_in() {
    python3 -c '
import struct, sys
f = open(sys.argv[1], "rb", buffering=1 << 16); f.seek(24); n = 0
while True:
    h = f.read(16)
    if len(h) < 16: break
    f.seek(struct.unpack("<IIII", h)[2], 1); n += 1
print(n)' "$1"
}

help_text=$("$SPANSIGHT" read --help 2>&1 || true)
has_budget=0 default_budget=''
if grep -q -- '--memory-budget' <<<"$help_text"; then
    has_budget=1
    # The default as the help states it, e.g. "(default: 512M)", when it says one.
    d=$(grep -A3 -- '--memory-budget' <<<"$help_text" | tr '\n' ' ' | sed -n 's/.*(default: *\([^)]*\)).*/\1/p' | head -1)
    [[ -n $d ]] && default_budget=$(bytes_of "$d")
else
    echo "memory-bench: $SPANSIGHT has no --memory-budget: only the default runs" >&2
fi
budget_bytes=$(bytes_of "$budget")
[[ -n $budget_bytes ]] || { echo "memory-bench: not a size: $budget" >&2; exit 2; }

keep=1
if [[ -z $dir ]]; then
    dir=$(mktemp -d "${TMPDIR:-/tmp}/memory-bench.XXXXXX")
    keep=0
fi
mkdir -p "$dir"
work=$(mktemp -d "${TMPDIR:-/tmp}/memory-bench-run.XXXXXX")
trap 'rm -rf "$work"; ((keep)) || rm -rf "$dir"' EXIT
echo "memory-bench: $SPANSIGHT; captures in $dir$( ((quick)) && echo '; quick sizes' || true)" >&2

# Makes the capture of a row unless --dir already holds it with the same arguments.
make_capture() {
    local name=$1 args=$2 file=$3
    if ((keep)) && [[ -f $file && -f $file.args && $(cat "$file.args") == "$args" ]]; then
        echo "memory-bench: $name: reusing $file" >&2
        return 0
    fi
    rm -f "$file.args"
    if [[ $name == big ]]; then
        # mkbig.py has no options: mkbig.py OUT.pcap NPACKETS.
        echo "memory-bench: big: python3 $MKBIG $file $args" >&2
        python3 "$MKBIG" "$file" "$args"
    else
        local pattern options
        read -r pattern options <<<"$args"
        # shellcheck disable=SC2086  # the options are words
        python3 "$MKHOSTILE" "$pattern" "$file" $options
    fi
    echo "$args" >"$file.args"
}

# One spansight run: prints "rss_kb seconds rc memory-line".
measure() {
    local file=$1; shift
    local rc=0
    /usr/bin/time -f '%M %e' -o "$work/time" "$SPANSIGHT" read "$file" "$@" >/dev/null 2>"$work/stderr" || rc=$?
    local mem
    mem=$(grep -m1 -E '^[[:space:]]*memory:' "$work/stderr" | sed 's/^[[:space:]]*//' || true)
    # GNU time writes "Command exited with non-zero status N" before its line when rc != 0.
    echo "$(tail -1 "$work/time") $rc ${mem:--}"
}

fmt='%-18s %10s %10s %8s %12s %14s %8s  %s\n'
table=$(printf "$fmt" pattern 'capture MB' packets budget 'peak RSS MiB' 'RSS-budget MiB' seconds memory)
ran=0
for row in "${ROWS[@]}"; do
    IFS='|' read -r name full small <<<"$row"
    args=$full; ((quick)) && args=$small
    pattern=${args%% *}; [[ $name == big ]] && pattern=big
    if [[ -n $only && $only != "$name" && $only != "$pattern" ]]; then continue; fi
    if [[ $name == big && ! -f $MKBIG ]]; then
        echo "memory-bench: big: skipped, no $MKBIG" >&2
        continue
    fi
    file="$dir/$name.pcap"; ((quick)) && file="$dir/$name-quick.pcap"
    make_capture "$name" "$args" "$file"
    mb=$(awk -v b="$(stat -c %s "$file")" 'BEGIN { printf "%.1f", b / 1e6 }')
    npk=$(packets_in "$file")
    runs=("default|")
    ((has_budget)) && runs+=("$budget|--memory-budget $budget")
    for r in "${runs[@]}"; do
        IFS='|' read -r label opt <<<"$r"
        echo "memory-bench: $name: spansight read ${opt:-(default budget)}" >&2
        # shellcheck disable=SC2086
        read -r kb secs rc mem <<<"$(measure "$file" $opt)"
        rss=$(awk -v k="$kb" 'BEGIN { printf "%.1f", k / 1024 }')
        limit=$budget_bytes; [[ $label == default ]] && limit=$default_budget
        over=-
        [[ -n $limit ]] && over=$(awk -v k="$kb" -v b="$limit" 'BEGIN { printf "%+.1f", k / 1024 - b / 1048576 }')
        ((rc == 0)) || mem="exit $rc: $mem"
        line=$(printf "$fmt" "$name" "$mb" "$npk" "$label" "$rss" "$over" "$secs" "$mem")
        table+=$'\n'"$line"
        ran=1
    done
    ((keep)) || rm -f "$file" "$file.args"
done
((ran)) || { echo "memory-bench: nothing ran" >&2; exit 2; }
printf '%s\n' "$table"
