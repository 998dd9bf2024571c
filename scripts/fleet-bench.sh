#!/usr/bin/env bash
# The fleet's throughput (issue 21): events per second into Redis and rows per second merged
# into PostgreSQL, from one sensor and from four at once. Starts its own redis-server and
# PostgreSQL cluster on free loopback ports in a temporary folder and stops them at the end.
#   bash scripts/fleet-bench.sh [PACKETS]     (default 200000; a synth capture of that size)
# Redis: events, seconds, events/s and the ratio to the same run writing to /dev/null.
# PostgreSQL: rows each save merged and the save's time (the summary's `store:` line), against
# the same save into a SQLite file.
set -euo pipefail
cd "$(dirname "$0")/.."
packets=${1:-200000}
command -v redis-server >/dev/null || { echo "fleet-bench: redis-server is not installed (scripts/install-deps.sh)" >&2; exit 1; }
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$pgbin/initdb" ] || { echo "fleet-bench: PostgreSQL is not installed (scripts/install-deps.sh)" >&2; exit 1; }
swift build -c release >&2
bin=.build/release/spansight
tmp=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --dir "$tmp" --save "" --appendonly no --logfile "$tmp/redis.log" &
server=$!
pgport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg=()
if [ "$(id -u)" -eq 0 ]; then chown postgres "$tmp"; as_pg=(setpriv --reuid=postgres --regid=postgres --init-groups --); fi
"${as_pg[@]}" "$pgbin/initdb" -D "$tmp/pg" -U spansight -A trust -E UTF8 --locale=C --no-sync >/dev/null
"${as_pg[@]}" "$pgbin/postgres" -D "$tmp/pg" -p "$pgport" -k "$tmp" -c listen_addresses=127.0.0.1 -c fsync=off >"$tmp/pg.log" 2>&1 &
pgserver=$!
trap 'kill $server 2>/dev/null; kill -INT $pgserver 2>/dev/null; wait $server $pgserver 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do psql -X -q -h 127.0.0.1 -p "$pgport" -U spansight -d postgres -c 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.1; done
pg="postgresql://spansight@127.0.0.1:$pgport/postgres"
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
"$bin" synth --packets "$packets" "$tmp/big.pcap" >&2

# One run: prints "events seconds" (events from the summary, seconds of wall time).
run() {
    local start end
    start=$(date +%s.%N)
    "$bin" read "$@" "$tmp/big.pcap" 2>"$tmp/err" >/dev/null || { cat "$tmp/err" >&2; exit 1; }
    end=$(date +%s.%N)
    echo "$(sed -n 's/^  events: \([0-9]*\).*/\1/p' "$tmp/err") $(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')"
}
report() { # name events seconds base_rate
    awk -v n="$1" -v e="$2" -v s="$3" -v b="$4" 'BEGIN { r = e / s; printf "%-34s %9d events %7.2f s %10.0f events/s  %5.2fx the /dev/null rate\n", n, e, s, r, (b > 0 ? r / b : 1) }'
}
read -r e s < <(run -o /dev/null)
base=$(awk -v e="$e" -v s="$s" 'BEGIN { print e / s }')
report "file /dev/null" "$e" "$s" "$base"
for mode in list rpush stream channel; do
    redis-cli -p "$port" flushall >/dev/null
    read -r e s < <(run -o "redis://127.0.0.1:$port/bench?mode=$mode&buffer=256M&drain=120")
    stored=$(redis-cli -p "$port" --raw eval "local t = redis.call('type', KEYS[1])['ok']; if t == 'list' then return redis.call('llen', KEYS[1]) elseif t == 'stream' then return redis.call('xlen', KEYS[1]) else return 0 end" 1 bench)
    report "redis $mode (one sensor, $stored kept)" "$e" "$s" "$base"
done
redis-cli -p "$port" flushall >/dev/null
start=$(date +%s.%N)
pids=()
for i in 1 2 3 4; do
    "$bin" read -o "redis://127.0.0.1:$port/fleet?mode=rpush&buffer=256M&drain=120" "$tmp/big.pcap" >/dev/null 2>"$tmp/four.$i" &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || { cat "$tmp"/four.* >&2; exit 1; }; done
end=$(date +%s.%N)
total=$(cat "$tmp"/four.* | sed -n 's/^  events: \([0-9]*\).*/\1/p' | awk '{ t += $1 } END { print t }')
stored=$(redis-cli -p "$port" llen fleet)
[ "$stored" = "$total" ] || echo "fleet-bench: four sensors sent $total events, Redis holds $stored" >&2
report "redis rpush (four sensors at once)" "$total" "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')" "$base"

# PostgreSQL: the end-of-run save, one sensor (the first save of a site: every row inserted),
# the same again (every row an update), and four sensors of one site at once.
store() { # name, then the summary lines of the runs
    local name=$1; shift
    awk -v n="$name" '/^  store: / { rows += $2; ms = ($(NF-1) > ms ? $(NF-1) : ms) } END { printf "%-34s %9d rows    %7.3f s %10.0f rows/s\n", n, rows, ms / 1000, (ms > 0 ? rows * 1000 / ms : 0) }' "$@"
}
"$bin" read -o /dev/null --db "$tmp/bench.sqlite" "$tmp/big.pcap" 2>"$tmp/sq"; store "sqlite (one run)" "$tmp/sq"
"$bin" read -o /dev/null --db "$pg" --site bench "$tmp/big.pcap" 2>"$tmp/p1"; store "postgresql insert (one sensor)" "$tmp/p1"
"$bin" read -o /dev/null --db "$pg" --site bench "$tmp/big.pcap" 2>"$tmp/p2"; store "postgresql update (one sensor)" "$tmp/p2"
pids=()
for i in 1 2 3 4; do
    "$bin" read -o /dev/null --db "$pg" --site fleet --sensor-name "s$i" "$tmp/big.pcap" 2>"$tmp/pf.$i" &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || { cat "$tmp"/pf.* >&2; exit 1; }; done
store "postgresql (four sensors at once)" "$tmp"/pf.*
