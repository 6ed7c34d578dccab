#!/usr/bin/env bash
# The hub against the bare HTTP relay of its own stack, same load tool, same member, same run
# (hub issue target: hub throughput >= 0.5 x the bare relay's, p99 added latency <= 3 ms at
# 5,000 transactions/s, memory flat over a 10-minute soak).
#
#   conformance-tests/bench/hub-relay.sh [--duration-s 10] [--warmup-s 1] [--connections 32]
#       [--rate 5000] [--rounds 5] [--message FILE] [--soak MINUTES]
#
# Builds hub, bi-sink, bi-relay and bi-bench in release mode, then on 127.0.0.1:
#   1. bi-sink: member ns14 (NetID 000014), answers every request Success at once;
#   2. bi-relay in front of it (the physical limit), and the real hub with members ns13
#      (000013, the sender) and ns14 (the sink), SQLite in a temporary directory;
#   3. ROUNDS rounds of `bi-bench closed`, each against the relay and right after against
#      the hub (ns13's token). This machine's speed drifts by tens of per cent within
#      minutes, so each round's ratio compares two neighbouring runs and the verdict takes
#      the median round. The CPU time the relay and the hub spent per answered request is
#      printed too: it does not depend on how much of the machine the run happened to get;
#   4. `bi-bench open --rate RATE` against the relay, then the hub: p99 added latency =
#      hub p99 - relay p99;
# and prints a table. The message defaults to conformance-tests/bench/xmit-data-req.json
# (SenderID 000013, ReceiverID 000014); bench/pr-start-req.json is the PRStartReq one.
#
# --soak MINUTES instead runs only sink + hub, `bi-bench open --rate RATE` for MINUTES, and
# prints the hub's resident memory (VmRSS) every 10 s.
#
# BENCH_HUB_LOG=FILE keeps the hub's log (default: in the temporary directory, removed on exit).
# BENCH_HUB_BINARY=FILE runs that hub executable instead of the one built here (to compare
# two builds of the hub on the same machine, run after run).
# Ports: PORT (default 18900) + 14 (sink), + 15 (relay), + 16 (hub). Everything started here
# is stopped on exit. Only figures from an otherwise idle machine belong in BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."

duration=10
warmup=1
connections=32
rate=5000
rounds=5
message=conformance-tests/bench/xmit-data-req.json
soak=""
while [ $# -gt 0 ]; do
    case "$1" in
        --duration-s) duration=$2; shift 2 ;;
        --warmup-s) warmup=$2; shift 2 ;;
        --connections) connections=$2; shift 2 ;;
        --rate) rate=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --message) message=$2; shift 2 ;;
        --soak) soak=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$rate" in ''|*[!0-9]*) echo "--rate must be a whole number per second" >&2; exit 2 ;; esac
case "$rounds" in ''|0|*[!0-9]*) echo "--rounds must be a whole number >= 1" >&2; exit 2 ;; esac
case "$soak" in *[!0-9]*) echo "--soak must be a whole number of minutes" >&2; exit 2 ;; esac
[ -f "$message" ] || { echo "no message file $message" >&2; exit 2; }

base=${PORT:-18900}
sink_port=$((base + 14))
relay_port=$((base + 15))
hub_port=$((base + 16))

cargo build --release --quiet --bin hub --bin bi-sink --bin bi-relay --bin bi-bench
bin=${CARGO_TARGET_DIR:-target}/release

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits until something accepts connections on $1; fails if process $2 died first.
wait_for_port() {
    for _ in $(seq 1 200); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
            return 0
        fi
        kill -0 "$2" 2>/dev/null || { echo "process $2 exited; its log:" >&2; cat "$3" >&2; exit 1; }
        sleep 0.05
    done
    echo "nothing listens on port $1 after 10 s" >&2
    exit 1
}

random_hex() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }
ns13_token="bench-ns13-$(random_hex)"
ns14_token="bench-ns14-$(random_hex)"

start_sink() {
    "$bin/bi-sink" --listen "127.0.0.1:$sink_port" 2>"$work/sink.log" &
    pids+=($!)
    wait_for_port "$sink_port" $! "$work/sink.log"
}

relay_pid=""
start_relay() {
    "$bin/bi-relay" --listen "127.0.0.1:$relay_port" \
        --upstream "http://127.0.0.1:$sink_port/bi" 2>"$work/relay.log" &
    relay_pid=$!
    pids+=($!)
    wait_for_port "$relay_port" $! "$work/relay.log"
}

hub_pid=""
start_hub() {
    cat > "$work/members.toml" <<TOML
# ns13 only sends in this benchmark: nothing is ever routed to its url.
[[member]]
id = "ns13"
url = "http://127.0.0.1:9/bi"
token = "$ns13_token"
protocol = "1.1"
mode = "sync"
net_id = "000013"

[[member]]
id = "ns14"
url = "http://127.0.0.1:$sink_port/bi"
token = "$ns14_token"
protocol = "1.1"
mode = "sync"
net_id = "000014"
TOML
    # The agreement that lets ns13's messages reach ns14: every request is policy-checked.
    mkdir -p "$work/policies"
    cat > "$work/policies/bench.toml" <<TOML
[[agreement]]
id = "ns13/ns14"
between = ["ns13", "ns14"]
TOML
    hub_log=${BENCH_HUB_LOG:-$work/hub.log}
    HUB_MEMBERS__FILE="$work/members.toml" \
    HUB_POLICIES__DIR="$work/policies" \
    HUB_SERVER__LISTEN="127.0.0.1:$hub_port" \
    HUB_DATABASE__URL="sqlite://$work/hub.db" \
        "${BENCH_HUB_BINARY:-$bin/hub}" --log warn 2>"$hub_log" &
    hub_pid=$!
    pids+=($hub_pid)
    wait_for_port "$hub_port" "$hub_pid" "$hub_log"
    for _ in $(seq 1 100); do
        curl -sf "http://127.0.0.1:$hub_port/health" >/dev/null && return 0
        sleep 0.1
    done
    echo "the hub is not healthy; its log:" >&2
    cat "$hub_log" >&2
    exit 1
}

# bench NAME closed|open URL [bi-bench options…]: the JSON line goes to $work/NAME.json.
bench() {
    local name=$1 mode=$2 url=$3
    shift 3
    local pace=()
    [ "$mode" = open ] && pace=(--rate "$rate")
    echo "== $name" >&2
    if ! BI_BENCH_TOKEN=$ns13_token "$bin/bi-bench" "$mode" "${pace[@]}" --url "$url" \
        --message "$message" --connections "$connections" --duration-s "$duration" \
        --warmup-s "$warmup" "$@" >"$work/$name.json" 2>"$work/$name.err"; then
        cat "$work/$name.err" >&2
        exit 1
    fi
    sed 's/^/   /' "$work/$name.err" >&2
}

# CPU time (user + system) of process $1 so far, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# measured NAME URL PID: a closed-loop bench whose JSON also gets the CPU microseconds
# process PID (the relay or the hub) spent per answered request after the warm-up.
measured() {
    local name=$1 url=$2 pid=$3 before after
    bench "$name" closed "$url" &
    local bench_pid=$!
    sleep "$warmup"
    before=$(cpu_ticks "$pid")
    wait "$bench_pid"
    after=$(cpu_ticks "$pid")
    jq -c --argjson ticks $((after - before)) --argjson hz "$(getconf CLK_TCK)" \
        '. + {cpu_us_per_ok: (if .ok > 0 then $ticks / $hz * 1e6 / .ok else null end)}' \
        "$work/$name.json" >"$work/$name.tmp"
    mv "$work/$name.tmp" "$work/$name.json"
}

relay_url="http://127.0.0.1:$relay_port/bi"
hub_url="http://127.0.0.1:$hub_port/bi"

if [ -n "$soak" ]; then
    start_sink
    start_hub
    seconds=$((soak * 60))
    duration=$seconds
    echo "soak: $rate/s against the hub for $soak min; hub VmRSS every 10 s" >&2
    bench soak open "$hub_url" --max-requests $((rate * (seconds + 10))) &
    bench_pid=$!
    pids+=($bench_pid)
    printf '%8s %12s\n' t_s rss_kib
    rss() { awk '/^VmRSS:/ {print $2}' "/proc/$hub_pid/status"; }
    series=()
    for t in $(seq 0 10 "$seconds"); do
        [ "$t" -gt 0 ] && sleep 10
        kib=$(rss)
        series+=("$kib")
        printf '%8d %12d\n' "$t" "$kib"
    done
    wait "$bench_pid"
    jq -c . "$work/soak.json"
    printf '%s\n' "${series[@]}" | awk '
        NR == 1 {first = $1; min = $1; max = $1}
        {last = $1; if ($1 < min) min = $1; if ($1 > max) max = $1}
        END {printf "hub VmRSS KiB: first %d, last %d, min %d, max %d, last-first %+d\n",
             first, last, min, max, last - first}'
    exit 0
fi

start_sink
start_relay
start_hub
closed_runs=()
for round in $(seq 1 "$rounds"); do
    measured "relay-closed-$round" "$relay_url" "$relay_pid"
    measured "hub-closed-$round" "$hub_url" "$hub_pid"
    closed_runs+=("relay-closed-$round" "hub-closed-$round")
done
bench relay-open open "$relay_url"
bench hub-open open "$hub_url"

echo
printf '%-15s %10s %10s %9s %9s %9s %9s %8s %7s %10s\n' \
    run "req/s" "ok/s" "p50 ms" "p99 ms" "p99.9 ms" "max ms" failed misses "cpu µs/ok"
for name in "${closed_runs[@]}" relay-open hub-open; do
    jq -r --arg name "$name" '[$name, .rate_per_s, .ok_per_s, .p50_ms, .p99_ms, .p999_ms,
        .max_ms, .failed, .misses, (.cpu_us_per_ok // "-")] | @tsv' "$work/$name.json"
done | awk -F'\t' '{printf "%-15s %10.0f %10.0f %9.3f %9.3f %9.3f %9.3f %8d %7d %10s\n",
    $1, $2, $3, $4, $5, $6, $7, $8, $9, ($10 == "-" ? "-" : sprintf("%.1f", $10))}'
echo
for round in $(seq 1 "$rounds"); do
    cat "$work/relay-closed-$round.json" "$work/hub-closed-$round.json"
done | jq -rs --argjson rate "$rate" --argjson connections "$connections" '
    def median: sort | if length % 2 == 1 then .[length / 2 | floor]
        else (.[length / 2 - 1] + .[length / 2]) / 2 end;
    def r3: . * 1000 | round / 1000;
    [range(0; length; 2) as $i | .[$i + 1].ok_per_s / ([.[$i].ok_per_s, 1] | max)] as $ratios
    | ($ratios | median) as $ratio
    | [range(0; length; 2) as $i | .[$i].cpu_us_per_ok] as $relay_cpu
    | [range(0; length; 2) as $i | .[$i + 1].cpu_us_per_ok] as $hub_cpu
    | "throughput (closed, \($connections) connections, ok/s), hub / relay per round: \($ratios | map(r3) | join(", ")); median \($ratio | r3)  (target >= 0.5: \(if $ratio >= 0.5 then "met" else "NOT met" end))",
      "CPU per answered request, median of the rounds: relay \($relay_cpu | median | . * 10 | round / 10) µs, hub \($hub_cpu | median | . * 10 | round / 10) µs"
'
jq -rs --argjson rate "$rate" '
    (.[1].p99_ms - .[0].p99_ms) as $added
    | "p99 added latency at \($rate)/s: hub \(.[1].p99_ms) ms - relay \(.[0].p99_ms) ms = \($added * 1000 | round / 1000) ms  (target <= 3 ms: \(if $added <= 3 then "met" else "NOT met" end))"
' "$work/relay-open.json" "$work/hub-open.json"
for name in "${closed_runs[@]}" relay-open hub-open; do
    jq -e '.failed > 0 or .misses > 0' "$work/$name.json" >/dev/null && {
        echo "WARNING: some requests failed or were missed; see the runs above"
        break
    }
done
exit 0
