#!/usr/bin/env bash
# The local federation, in one command: builds the binaries, then starts on this machine, each
# on its own SQLite file under var/local/,
#   hub          the roaming hub                                   http://127.0.0.1:8600
#   nsd-a        operator A's network server (NetID 000002 + NSID)   http://127.0.0.1:8700, udp 1700
#   nsd-b        operator B's network server (NetID 000003)          http://127.0.0.1:8710, udp 1710
#   jsd          the join server of A's devices                     http://127.0.0.1:8800
#   as-receiver  A's application server, printing every report      http://127.0.0.1:8900
# with the example configs of deploy/local/ (README.md there), plays the scenario (simulated
# gateways of A and B, A's devices joining at home and roaming behind B's gateways, AS uplinks
# and downlinks, the hub's UDRs) and keeps the federation running until Ctrl-C.
#
#   ./deploy/local.sh            scenario, then keep running (Ctrl-C stops everything)
#   ./deploy/local.sh --once     stop after the scenario; exit status 1 if a step failed
#   ./deploy/local.sh --keep     keep the databases of the previous run (default: start empty)
# SWITCHYARD_LOCAL_ONCE=1 is --once. CARGO_TARGET_DIR is honoured. For tests:
# SWITCHYARD_LOCAL_BIN=DIR uses the binaries already built in DIR (no cargo build), and
# SWITCHYARD_LOCAL_DIR=DIR keeps databases and logs there instead of var/local.
set -euo pipefail
cd "$(dirname "$0")/.."

once="${SWITCHYARD_LOCAL_ONCE:-0}"
keep=0
for arg in "$@"; do
    case "$arg" in
        --once) once=1 ;;
        --keep) keep=1 ;;
        -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "local.sh: unknown argument $arg (see --help)" >&2; exit 2 ;;
    esac
done

if [ -n "${SWITCHYARD_LOCAL_BIN:-}" ]; then
    bin="$SWITCHYARD_LOCAL_BIN"
else
    echo "Building hub, nsd, jsd, as-receiver and the scenario driver ..."
    cargo build --quiet --bin hub --bin nsd --bin jsd --bin as-receiver --bin federation
    bin="${CARGO_TARGET_DIR:-target}/debug"
fi

# A port already taken is most likely an earlier federation still running.
for port in 8600 8700 8710 8800 8900; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "local.sh: 127.0.0.1:$port is in use (a federation already running?)" >&2
        exit 1
    fi
done

run="${SWITCHYARD_LOCAL_DIR:-var/local}"
mkdir -p "$run"
if [ "$keep" = 0 ]; then
    rm -f "$run"/*.db "$run"/*.db-shm "$run"/*.db-wal "$run"/members.api.toml
fi

# The jsd seals root keys, the nsds session keys, with a master key that has no default. A
# local run makes one per daemon once and keeps it beside the database (a real deployment
# keeps it in a secret store instead).
key() {
    if [ ! -s "$run/$1-master.key" ]; then
        (umask 077; od -An -N16 -tx1 /dev/urandom | tr -d ' \n' > "$run/$1-master.key")
    fi
    cat "$run/$1-master.key"
}

pids=()
names=()
stop() {
    trap - INT TERM EXIT
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap stop INT TERM EXIT

# start NAME ENV... -- COMMAND...: in the background, output to var/local/NAME.log.
start() {
    local name="$1"; shift
    local envs=()
    while [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    env "${envs[@]}" "$@" > "$run/$name.log" 2>&1 &
    pids+=("$!")
    names+=("$name")
}

jsd_key="$(key jsd)"
nsd_a_key="$(key nsd-a)"
nsd_b_key="$(key nsd-b)"

# wait_port PORT: until something listens on 127.0.0.1:PORT (15 s at most); a daemon that
# exits meanwhile is shown and ends the run.
wait_port() {
    for _ in $(seq 1 150); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        for i in "${!pids[@]}"; do
            if ! kill -0 "${pids[$i]}" 2>/dev/null; then
                echo "local.sh: ${names[$i]} exited; the end of $run/${names[$i]}.log:" >&2
                tail -n 20 "$run/${names[$i]}.log" >&2
                exit 1
            fi
        done
        sleep 0.1
    done
    echo "local.sh: nothing listens on 127.0.0.1:$1 after 15 s (logs in $run/)" >&2
    exit 1
}

# The hub and the jsd first: the nsds fetch their roaming peers from the hub as they start.
# (Databases in $run, whatever the example configs say.)
start hub "HUB_DATABASE__URL=sqlite://$run/hub.db" "HUB_MEMBERS__API_FILE=$run/members.api.toml" \
    -- "$bin/hub" --config deploy/local/hub.toml
start jsd "JSD_KEYS__MASTER_KEY=$jsd_key" "JSD_DATABASE__URL=sqlite://$run/jsd.db" \
    -- "$bin/jsd" --config deploy/local/jsd.toml
wait_port 8600
wait_port 8800
start nsd-a "NSD_KEYS__MASTER_KEY=$nsd_a_key" "NSD_DATABASE__URL=sqlite://$run/nsd-a.db" \
    -- "$bin/nsd" --config deploy/local/nsd-a.toml
start nsd-b "NSD_KEYS__MASTER_KEY=$nsd_b_key" "NSD_DATABASE__URL=sqlite://$run/nsd-b.db" \
    -- "$bin/nsd" --config deploy/local/nsd-b.toml
nsd_b_pid="${pids[-1]}"
start as-receiver -- "$bin/as-receiver" --listen 127.0.0.1:8900
# The driver then waits for every /health.
for port in 8700 8710 8900; do wait_port "$port"; done

echo
status=0
# With --once the scenario ends by stopping nsd-b (B's outage; A must lose nothing).
outage=()
if [ "$once" = 1 ]; then outage=(--outage-pid "$nsd_b_pid"); fi
"$bin/federation" "${outage[@]}" || status=$?

echo
echo "A's application server received ($run/as-receiver.log):"
sed -n 's|^as-receiver: /|  /|p' "$run/as-receiver.log"

if [ "$once" = 1 ]; then
    exit "$status"
fi

cat <<TXT

The federation is running (Ctrl-C stops it); configs in deploy/local/, logs and databases in var/local/:
  hub          http://127.0.0.1:8600   /bi /control /api (token local-hub-operator-token) /health /metrics
  nsd-a        http://127.0.0.1:8700   gateways udp://127.0.0.1:1700, NetID 000002 (operator A)
  nsd-b        http://127.0.0.1:8710   gateways udp://127.0.0.1:1710, NetID 000003 (operator B)
  jsd          http://127.0.0.1:8800
  as-receiver  http://127.0.0.1:8900   GET /reports; new reports are printed below
Try: curl -s -H 'Authorization: Bearer local-hub-operator-token' http://127.0.0.1:8600/api/udrs

TXT
tail -n 0 -f "$run/as-receiver.log" &
pids+=("$!")
wait -n "${pids[@]}"
