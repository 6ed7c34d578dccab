#!/usr/bin/env bash
# The nsd's whole uplink pipeline under load (nsd core issue targets: >= 10,000 uplinks/s with
# 100,000 provisioned devices; PULL_RESP <= 50 ms after the dedup window closes at p99;
# <= 2 KiB resident per provisioned device at 1,000,000 devices).
#
#   conformance-tests/bench/nsd-uplinks.sh [sqlite|postgres] [DEVICES] [RATE] [DURATION_S] [extra uplink_load options]
#   conformance-tests/bench/nsd-uplinks.sh memory [COUNTS...]
#
# Builds the nsd's `uplink_load` example in release mode and runs it: a real nsd in-process
# (Semtech UDP front end on 127.0.0.1, deduplication, device match + MIC, counters committed,
# application events, class A answers) on a scratch database (a SQLite file in a temporary
# directory with the default `sqlite_sync = "normal"`, or a scratch PostgreSQL database on
# 127.0.0.1:5432 as user postgres), DEVICES US915 ABP devices provisioned through
# NetworkServer::put_device (what the admin API calls), then 8 simulated gateways send RATE
# frames/s for DURATION_S seconds, each frame heard by 2 gateways, one in 100 confirmed.
# Prints a human summary on stderr and a JSON line on stdout. Everything stops by itself.
# `memory` runs the `registry_memory` example instead (default counts: 100000 1000000).
# Extra options: --sqlite-sync full, --version 1.1, --gateways K, --heard-by H,
# --confirmed-every N, --window-ms W (see nsd/examples/uplink_load.rs).
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "${1:-}" = memory ]; then
    shift
    cargo build --release --quiet -p nsd --example registry_memory
    exec "${CARGO_TARGET_DIR:-target}/release/examples/registry_memory" "$@"
fi

engine=${1:-sqlite}
devices=${2:-100000}
rate=${3:-10000}
duration=${4:-20}
shift $(( $# < 4 ? $# : 4 ))

cargo build --release --quiet -p nsd --example uplink_load
exec "${CARGO_TARGET_DIR:-target}/release/examples/uplink_load" \
    --engine "$engine" --devices "$devices" --rate "$rate" --duration-s "$duration" "$@"
