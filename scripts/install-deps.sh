#!/usr/bin/env bash
# Installs what SpanSight needs on Debian: libpcap-dev, libsqlite3-dev, libpq-dev and
# libhiredis-dev (build; libpq is the PostgreSQL store's client, hiredis the Redis event
# output's), postgresql and redis-server (their tests start servers of their own), ieee-data
# (MAC vendors, read at run time), tshark/capinfos (the tests' reference), tcpdump and
# iproute2 (live-capture test, fixture recording), tcpreplay (plays fixtures onto the veth
# pairs of the sensor tests), nftables (`nft -c` checks the rule sets
# `policy --format nft` writes); from PyPI jsonschema and communityid
# (the EVE schema and Community ID checks). Idempotent: does
# nothing when everything is present. Needs root (or sudo) only when something is missing.
set -euo pipefail
need=()
dpkg -s libpcap-dev >/dev/null 2>&1 || need+=(libpcap-dev)
dpkg -s libsqlite3-dev >/dev/null 2>&1 || need+=(libsqlite3-dev)
dpkg -s libhiredis-dev >/dev/null 2>&1 || need+=(libhiredis-dev)
dpkg -s libpq-dev >/dev/null 2>&1 || need+=(libpq-dev)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && [ -x /usr/bin/psql ] || need+=(postgresql)
[ -x /usr/bin/redis-server ] && [ -x /usr/bin/redis-cli ] || need+=(redis-server redis-tools)
[ -f /usr/share/ieee-data/oui.csv ] || need+=(ieee-data)
command -v tshark >/dev/null 2>&1 || need+=(tshark)
command -v capinfos >/dev/null 2>&1 || need+=(tshark)
command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v tcpreplay >/dev/null 2>&1 || need+=(tcpreplay)
[ -x /usr/sbin/nft ] || command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
# Python modules the tests use: jsonschema (Suricata's EVE schema check) and communityid (an
# independent Community ID implementation), from PyPI.
pymods=()
python3 -c "import jsonschema" 2>/dev/null || pymods+=(jsonschema)
python3 -c "import communityid" 2>/dev/null || pymods+=(communityid)
if [ ${#pymods[@]} -gt 0 ]; then
    python3 -m pip install -q --disable-pip-version-check "${pymods[@]}" >&2 || echo "install-deps: pip could not install ${pymods[*]}; the tests that need them skip" >&2
fi
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
