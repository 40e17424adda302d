#!/usr/bin/env bash
# Load across a two-instance fleet: two release proxies in front of one
# bench/mock-upstream (OpenAI), each driven by its own oha at the same time,
# first on their own state (no REDIS_URL), then sharing one redis-server.
# The proxies use four keys in round-robin (one fleet-wide INCR per request
# with Redis) and ENABLE_RATE_LIMIT with a budget no run reaches (one
# INCRBY+PEXPIREAT per request with Redis), so every request pays both of
# its Redis round trips.
#
# Prints one table (req/s summed over both instances, p50/p99 of each, errors,
# Redis fallbacks) and writes $OUT/fleet.json (default target/bench/).
# Needs: redis-server, oha, jq, curl (as scripts/bench.sh). Knobs:
# BENCH_SECONDS (per run, default 5), BENCH_CONCURRENCY (per instance,
# default 32), BENCH_NO_BUILD=1, BENCH_OUT, REDIS_TIMEOUT_MS (default 5).
# Only 127.0.0.1 is used; every wait and every run is bounded; every process
# it starts is stopped by its pid.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${BENCH_OUT:-$TARGET_DIR/bench}
SECS=${BENCH_SECONDS:-5}
CONC=${BENCH_CONCURRENCY:-32}
TIMEOUT_MS=${REDIS_TIMEOUT_MS:-5}
FIXTURE=$ROOT/tests/fixtures/claude-code/01-write-turn2.json
KEY=bench-access-key

for tool in redis-server oha jq curl; do
    command -v "$tool" >/dev/null 2>&1 || { echo "bench-fleet.sh: $tool is required" >&2; exit 1; }
done
if [[ -z ${BENCH_NO_BUILD:-} ]]; then
    (cd "$ROOT" && cargo build --release -p claude-proxy -p mock-upstream >&2)
fi
PROXY_BIN=$TARGET_DIR/release/claude-proxy
MOCK_BIN=$TARGET_DIR/release/mock-upstream
[[ -x $PROXY_BIN && -x $MOCK_BIN ]] || { echo "bench-fleet.sh: release binaries missing in $TARGET_DIR/release" >&2; exit 1; }
ulimit -n 65536 2>/dev/null || ulimit -n 8192 2>/dev/null || true

mkdir -p "$OUT/raw"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/claude-proxy-fleet-bench.XXXXXX")
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
sed 's/"stream": true/"stream": false/' "$FIXTURE" >"$WORK/body.json"

wait_line() {
    local i line
    for ((i = 0; i < 200; i++)); do
        line=$(grep -oE "$2" "$1" 2>/dev/null | head -n1 || true)
        if [[ -n $line ]]; then echo "$line"; return 0; fi
        sleep 0.05
    done
    echo "bench-fleet.sh: timed out waiting for /$2/ in $1" >&2
    cat "$1" >&2
    return 1
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

"$MOCK_BIN" --port 0 >"$WORK/mock.log" 2>&1 &
PIDS+=($!)
MOCK_PORT=$(wait_line "$WORK/mock.log" 'listening on 127\.0\.0\.1:[0-9]+' | sed 's/.*://')

REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no >"$WORK/redis.log" 2>&1 &
REDIS_PID=$!
PIDS+=("$REDIS_PID")
wait_line "$WORK/redis.log" 'Ready to accept connections' >/dev/null

# start_proxy NAME [REDIS_URL]: sets PORT_<NAME> and PID_<NAME>.
start_proxy() {
    local name=$1 redis=${2:-} dir=$WORK/$1
    mkdir -p "$dir"
    cat >"$dir/.env" <<EOF
HOST=127.0.0.1
PORT=0
PROXY_ACCESS_KEY=$KEY
CONFIG_PATH=./config.json
DATA_DIR=off
LOG_LEVEL=warn
ENABLE_RATE_LIMIT=true
RATE_LIMIT_WINDOW=60000
RATE_LIMIT_MAX_REQUESTS=100000000
REDIS_TIMEOUT_MS=$TIMEOUT_MS
EOF
    [[ -n $redis ]] && echo "REDIS_URL=$redis" >>"$dir/.env"
    jq -n --arg base "http://127.0.0.1:$MOCK_PORT/v1" '{
        upstream: [{name: "bench", baseUrl: $base, serviceType: "openai",
                    apiKeys: ["sk-bench-1", "sk-bench-2", "sk-bench-3", "sk-bench-4"],
                    modelMapping: {"*": "gpt-4o"}}],
        currentUpstream: 0, loadBalance: "round-robin"}' >"$dir/config.json"
    (cd "$dir" && exec env -i PATH="$PATH" HOME="${HOME:-/tmp}" "$PROXY_BIN" >"$dir/proxy.log" 2>&1) &
    local pid=$!
    PIDS+=("$pid")
    local port
    port=$(wait_line "$dir/proxy.log" 'listening on http://127\.0\.0\.1:[0-9]+' | sed 's/.*://')
    printf -v "PORT_$name" '%s' "$port"
    printf -v "PID_$name" '%s' "$pid"
}

stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
CLK_TCK=$(getconf CLK_TCK)

oha_run() { # NAME PORT SECONDS
    oha --no-tui --output-format json -c "$CONC" -z "$3" -m POST -D "$WORK/body.json" \
        -H 'content-type: application/json' -H "x-api-key: $KEY" -H 'anthropic-version: 2023-06-01' \
        "http://127.0.0.1:$2/v1/messages" >"$OUT/raw/fleet-$1.json" 2>"$OUT/raw/fleet-$1.err"
}

summary() { # NAME
    jq -c '{rps: .summary.requestsPerSec, p50_ms: ((.latencyPercentiles.p50 // 0) * 1000),
            p99_ms: ((.latencyPercentiles.p99 // 0) * 1000),
            ok: ([.statusCodeDistribution | to_entries[] | select(.key | startswith("2")) | .value] | add // 0),
            errors: (([.statusCodeDistribution | to_entries[] | select(.key | startswith("2") | not) | .value] | add // 0)
                     + ([(.errorDistribution // {}) | to_entries[] | select(.key | test("deadline") | not) | .value] | add // 0))}' \
        "$OUT/raw/fleet-$1.json"
}

fallbacks() { # PORT
    curl -s -H "x-api-key: $KEY" "http://127.0.0.1:$1/metrics" |
        awk '$1 == "claude_proxy_shared_state_fallbacks_total" {print $2} END {}' | head -n1
}

# scenario NAME [REDIS_URL]: two proxies, both loaded at once.
scenario() {
    local name=$1 redis=${2:-}
    start_proxy a "$redis"
    start_proxy b "$redis"
    if [[ -n $redis ]]; then
        local i
        for ((i = 0; i < 100; i++)); do
            curl -s -H "x-api-key: $KEY" "http://127.0.0.1:$PORT_a/metrics" | grep -q '^claude_proxy_shared_state_up 1' && break
            sleep 0.05
        done
    fi
    oha_run "$name-warm-a" "$PORT_a" 1s & local w1=$!
    oha_run "$name-warm-b" "$PORT_b" 1s & local w2=$!
    wait "$w1" "$w2"
    local c0 r0
    c0=$(( $(cpu_ticks "$PID_a") + $(cpu_ticks "$PID_b") )); r0=$(cpu_ticks "$REDIS_PID")
    oha_run "$name-a" "$PORT_a" "${SECS}s" & local r1=$!
    oha_run "$name-b" "$PORT_b" "${SECS}s" & local r2=$!
    wait "$r1" "$r2"
    local c1 r1t fa fb
    c1=$(( $(cpu_ticks "$PID_a") + $(cpu_ticks "$PID_b") )); r1t=$(cpu_ticks "$REDIS_PID")
    fa=$(fallbacks "$PORT_a"); fb=$(fallbacks "$PORT_b")
    jq -n --argjson a "$(summary "$name-a")" --argjson b "$(summary "$name-b")" \
        --arg fa "${fa:-0}" --arg fb "${fb:-0}" --arg cpu "$((c1 - c0))" --arg rcpu "$((r1t - r0))" \
        --arg tck "$CLK_TCK" \
        '($a.ok + $b.ok) as $n
         | {rps: ($a.rps + $b.rps), a: $a, b: $b, errors: ($a.errors + $b.errors),
            fallbacks: (($fa | tonumber) + ($fb | tonumber)),
            proxy_cpu_ms_per_req: (if $n > 0 then ($cpu | tonumber) * 1000 / ($tck | tonumber) / $n else 0 end),
            redis_cpu_ms_per_req: (if $n > 0 then ($rcpu | tonumber) * 1000 / ($tck | tonumber) / $n else 0 end)}'
    stop "$PID_a"; stop "$PID_b"
}

echo "== two instances, local state" >&2
LOCAL=$(scenario local)
echo "== two instances sharing redis-server 127.0.0.1:$REDIS_PORT" >&2
SHARED=$(scenario shared "redis://127.0.0.1:$REDIS_PORT")
TURNS=$(redis-cli -p "$REDIS_PORT" GET claude-proxy:rr:bench 2>/dev/null || echo "?")

jq -n --argjson l "$LOCAL" --argjson s "$SHARED" --arg secs "$SECS" --arg conc "$CONC" \
    --arg turns "$TURNS" --arg commit "$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo -)" \
    '{commit: $commit, seconds: ($secs | tonumber), concurrency_per_instance: ($conc | tonumber),
      local: $l, shared: $s, redis_turns: $turns}' >"$OUT/fleet.json"
jq -r '
  def r1: . * 10 | round / 10;
  def r2: . * 100 | round / 100;
  def r3: . * 1000 | round / 1000;
  "| two instances | req/s (both) | p50 / p99 instance 1 (ms) | p50 / p99 instance 2 (ms) | proxy CPU / req (ms) | Redis CPU / req (ms) | errors | answered locally |",
  "|---|---:|---:|---:|---:|---:|---:|---:|",
  (["local state", .local], ["shared (Redis)", .shared]
   | "| \(.[0]) | \(.[1].rps | r1) | \(.[1].a.p50_ms | r2) / \(.[1].a.p99_ms | r2) | \(.[1].b.p50_ms | r2) / \(.[1].b.p99_ms | r2) | \(.[1].proxy_cpu_ms_per_req | r3) | \(.[1].redis_cpu_ms_per_req | r3) | \(.[1].errors) | \(.[1].fallbacks) |"),
  "",
  "Round-robin turns counted in Redis: \(.redis_turns)"' "$OUT/fleet.json"
