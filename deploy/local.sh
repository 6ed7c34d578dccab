#!/usr/bin/env bash
# Starts a local Switchyard on this machine: hub, nsd and jsd with the example configs in
# deploy/, each on its own SQLite file under var/. Ctrl-C stops all three.
# (The passive-roaming issue grows this into a full two-operator federation.)
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet --bin hub --bin nsd --bin jsd
mkdir -p var

# The jsd seals root keys, the nsd session keys, with a master key that has no default. A
# local run makes one per daemon once and keeps it beside the database (a real deployment
# keeps it in a secret store instead).
for daemon in jsd nsd; do
    if [ ! -s "var/$daemon-master.key" ]; then
        (umask 077; od -An -N16 -tx1 /dev/urandom | tr -d ' \n' > "var/$daemon-master.key")
    fi
done
JSD_KEYS__MASTER_KEY="$(cat var/jsd-master.key)"
NSD_KEYS__MASTER_KEY="$(cat var/nsd-master.key)"
export JSD_KEYS__MASTER_KEY NSD_KEYS__MASTER_KEY

pids=()
stop() {
    trap - INT TERM EXIT
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap stop INT TERM EXIT

for daemon in hub nsd jsd; do
    "target/debug/$daemon" --config "deploy/$daemon.toml" &
    pids+=("$!")
done

# Wait until every daemon answers /health, then say where they are.
for port in 8600 8700 8800; do
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
        sleep 0.1
    done
done
cat <<TXT

Switchyard is running (Ctrl-C to stop):
  hub  http://127.0.0.1:8600/health   http://127.0.0.1:8600/metrics
  nsd  http://127.0.0.1:8700/health   http://127.0.0.1:8700/metrics   gateways: udp://127.0.0.1:1700
  jsd  http://127.0.0.1:8800/health   http://127.0.0.1:8800/metrics
Databases: var/hub.db, var/nsd.db, var/jsd.db

TXT
wait -n "${pids[@]}"
