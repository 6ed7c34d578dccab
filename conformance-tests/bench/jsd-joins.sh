#!/usr/bin/env bash
# Sustained JoinReq throughput of the real jsd over HTTP on loopback (join-server issue target:
# >= 3,000 JoinReq/s with p99 <= 20 ms, DevNonce and JoinNonce durably stored before each answer).
#
#   [SQLITE_SYNC=full|normal] conformance-tests/bench/jsd-joins.sh [sqlite|postgres] [DEVICES] [DURATION_S] [CONCURRENCY]
#
# Builds jsd and bi-load in release mode, starts a jsd on a fresh database (a SQLite file in a
# temporary directory, or a scratch PostgreSQL database on 127.0.0.1:5432), imports DEVICES
# LoRaWAN 1.0.4 devices through the admin API, claims each for NetID 000013, then lets bi-load
# send JoinReqs for DURATION_S seconds with CONCURRENCY requests in flight (one per device at a
# time, DevNonce counting up) and prints its JSON summary. Everything stops by itself.
set -euo pipefail
cd "$(dirname "$0")/../.."

engine=${1:-sqlite}
devices=${2:-10000}
duration=${3:-30}
concurrency=${4:-24}
sqlite_sync=${SQLITE_SYNC:-full}
port=${PORT:-18800}
join_eui=70b3d57ed0000001

cargo build --release --quiet --bin jsd --bin bi-load
work=$(mktemp -d)
pg_db="jsd_bench_$$"
jsd_pid=""
cleanup() {
    [ -n "$jsd_pid" ] && kill "$jsd_pid" 2>/dev/null && wait "$jsd_pid" 2>/dev/null
    if [ "$engine" = postgres ]; then
        psql -q -h 127.0.0.1 -U postgres -d test -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT

case "$engine" in
    sqlite) url="sqlite://$work/jsd.db" ;;
    postgres)
        psql -q -h 127.0.0.1 -U postgres -d test -c "CREATE DATABASE $pg_db" >/dev/null
        url="postgres://postgres@127.0.0.1:5432/$pg_db"
        ;;
    *) echo "engine must be sqlite or postgres" >&2; exit 2 ;;
esac

random_hex() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }
ns_token="bench-ns-$(random_hex)"
ops_token="bench-ops-$(random_hex)"
cat > "$work/jsd.toml" <<TOML
[server]
listen = "127.0.0.1:$port"

[database]
url = "$url"
max_connections = 8
sqlite_sync = "$sqlite_sync"

[keys]
master_key = "$(random_hex)"

[[peers]]
name = "bench-ns"
token = "$ns_token"
net_ids = ["000013"]

[[peers]]
name = "bench-ops"
token = "$ops_token"
operator = true

[[keks]]
net_id = "000013"
label = "bench-kek"
key = "$(random_hex)"
TOML

target/release/bi-load devices --count "$devices" --seed 7 --join-eui "$join_eui" \
    --version 1.0.4 --out "$work/devices.json"
target/release/jsd --config "$work/jsd.toml" --log warn &
jsd_pid=$!
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
    sleep 0.1
done

# Import through the admin API, then claim every device with its owner token (curl --parallel
# reads one request per device from a config file; `next` keeps each request's options apart).
curl -sSf -X POST "http://127.0.0.1:$port/api/imports?batch=bench" \
    -H "Authorization: Bearer $ops_token" -H 'Content-Type: application/json' \
    --data-binary "@$work/devices.json" > "$work/imported.json"
jq -r --arg port "$port" --arg token "$ops_token" '[.devices[] |
    "url = \"http://127.0.0.1:\($port)/api/devices/\(.dev_eui)/claim\"\n" +
    "header = \"Authorization: Bearer \($token)\"\nheader = \"Content-Type: application/json\"\n" +
    "data = \"{\\\"owner_token\\\":\\\"\(.owner_token)\\\",\\\"home_net_id\\\":\\\"000013\\\"}\"\n" +
    "output = \"/dev/null\"\nwrite-out = \"%{http_code}\\\\n\"\n"] | join("next\n")' \
    "$work/imported.json" > "$work/claims.cfg"
claimed=$(curl -s --no-progress-meter --parallel --parallel-max 16 -K "$work/claims.cfg" | grep -c '^200$' || true)
echo "imported and claimed $claimed of $devices devices ($engine, sqlite_sync=$sqlite_sync)" >&2
[ "$claimed" = "$devices" ] || { echo "provisioning failed" >&2; exit 1; }

target/release/bi-load run --peer "http://127.0.0.1:$port/bi" --token "$ns_token" \
    --sender-id 000013 --receiver-id "$join_eui" --devices "$work/devices.json" \
    --duration-s "$duration" --concurrency "$concurrency"
