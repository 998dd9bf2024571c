#!/usr/bin/env bash
# The main job on a fresh machine: install what is needed, build, and analyse a bundled capture
# (a Modbus/TCP session between pymodbus client and server, recorded on a bridge).
# Events go to standard output as NDJSON; the summary to standard error.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build -c release --product spansight >&2
exec .build/release/spansight read "${@:-fixtures/modbus-pymodbus.pcap}"
