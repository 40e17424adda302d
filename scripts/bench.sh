#!/usr/bin/env bash
# Load benchmarks of claude-proxy against a fast mock upstream (bench/mock-upstream).
#
# Every proxied scenario is measured next to the same load sent straight to the
# mock in the same run, so the ratios mean something on a small, shared machine.
# Prints one table and writes $OUT/results.json (default target/bench/, or
# $CARGO_TARGET_DIR/bench/) plus each load run's raw output under $OUT/raw/.
#
# Needs: oha (installed with `cargo install oha --locked` when missing), curl and jq
# (installed with apt-get when missing and the user may).
# Knobs: BENCH_SECONDS (per load run, default 5), BENCH_NO_BUILD=1 (reuse the
# release binaries), BENCH_OUT (output directory), BENCH_TTFB_N (sequential
# requests for time to first byte, default 200).
# Only 127.0.0.1 is used; every wait and every load run is bounded.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${BENCH_OUT:-$TARGET_DIR/bench}
SECS=${BENCH_SECONDS:-5}
TTFB_N=${BENCH_TTFB_N:-200}
FIXTURE=$ROOT/tests/fixtures/claude-code/01-write-turn2.json
KEY=bench-access-key

# report RESULTS.JSON: the table on stdout, and the same as Markdown in
# results.md next to the file. Direct vs proxy, what it means, target, met.
report() {
    local tsv
    tsv=$(jq -r '
  def r1: . * 10 | round / 10;
  def r2: . * 100 | round / 100;
  def r3: . * 1000 | round / 1000;
  def met(c): if c then "met" else "NOT met" end;
  def row(a; b; c; d; e; f): [a, b, c, d, e, f] | @tsv;
  . as $r
  | ($r.throughput_openai_direct) as $td | ($r.throughput_openai_proxy) as $tp
  | ($r.overhead_c1_direct) as $o1d | ($r.overhead_c1_proxy) as $o1p
  | ($r.overhead_c16_direct) as $o16d | ($r.overhead_c16_proxy) as $o16p
  | ($r.streaming_openai_direct) as $sd | ($r.streaming_openai_proxy) as $sp
  | ($r.ttfb_openai_direct) as $fd | ($r.ttfb_openai_proxy) as $fp
  | ($r.throughput_gemini_direct) as $gd | ($r.throughput_gemini_proxy) as $gp
  | ($r.streaming_gemini_direct) as $gsd | ($r.streaming_gemini_proxy) as $gsp
  | ($r.ttfb_gemini_direct) as $gfd | ($r.ttfb_gemini_proxy) as $gfp
  | ($r.throughput_claude_direct) as $cd | ($r.throughput_claude_proxy) as $cp
  | ($r.held_direct) as $hd | ($r.held_proxy) as $hp
  | row("scenario"; "direct"; "proxy"; "proxy vs direct"; "target"; "result"),
    row("1 throughput OpenAI, c64 (req/s)"; ($td.rps | r1); ($tp.rps | r1); "\(($tp.rps / $td.rps * 100) | r1) %"; ">= 30 %"; met($tp.rps >= 0.3 * $td.rps)),
    row("1 throughput OpenAI, p50 / p99 (ms)"; "\($td.p50_ms | r2) / \($td.p99_ms | r2)"; "\($tp.p50_ms | r2) / \($tp.p99_ms | r2)"; ""; ""; ""),
    row("1 proxy CPU per request, OpenAI (ms)"; "-"; ($tp.cpu_ms_per_req | r3); ""; "<= 0.2 ms"; met($tp.cpu_ms_per_req <= 0.2)),
    row("2 overhead c1 p50 (ms)"; ($o1d.p50_ms | r3); ($o1p.p50_ms | r3); "+\(($o1p.p50_ms - $o1d.p50_ms) | r3) ms"; "<= +0.3 ms"; met($o1p.p50_ms - $o1d.p50_ms <= 0.3)),
    row("2 overhead c1 p99 (ms)"; ($o1d.p99_ms | r3); ($o1p.p99_ms | r3); "+\(($o1p.p99_ms - $o1d.p99_ms) | r3) ms"; "<= +1 ms"; met($o1p.p99_ms - $o1d.p99_ms <= 1)),
    row("2 overhead c16 p50 / p99 (ms)"; "\($o16d.p50_ms | r3) / \($o16d.p99_ms | r3)"; "\($o16p.p50_ms | r3) / \($o16p.p99_ms | r3)"; "+\(($o16p.p50_ms - $o16d.p50_ms) | r3) / +\(($o16p.p99_ms - $o16d.p99_ms) | r3) ms"; ""; ""),
    row("3 streams/s OpenAI, 100 chunks, c32"; ($sd.rps | r1); ($sp.rps | r1); "\(($sp.rps / $sd.rps * 100) | r1) %"; ">= 80 %"; met($sp.rps >= 0.8 * $sd.rps)),
    row("3 proxy CPU per stream, OpenAI (ms)"; "-"; ($sp.cpu_ms_per_req | r3); ""; ""; ""),
    row("3 TTFB OpenAI stream p50 / p99 (ms)"; "\($fd.p50_ms | r3) / \($fd.p99_ms | r3)"; "\($fp.p50_ms | r3) / \($fp.p99_ms | r3)"; "+\(($fp.p50_ms - $fd.p50_ms) | r3) ms p50"; "<= +1 ms"; met($fp.p50_ms - $fd.p50_ms <= 1)),
    row("4 held streams: errors"; $hd.errors; $hp.errors; ""; "0"; met($hp.errors == 0)),
    row("4 held streams: p50 (ms)"; ($hd.p50_ms | r1); ($hp.p50_ms | r1); "\((($hp.p50_ms / $hd.p50_ms - 1) * 100) | r2) %"; "within 2 %"; met(($hp.p50_ms / $hd.p50_ms - 1 | fabs) <= 0.02)),
    row("4 held streams: proxy peak RSS (MB)"; "-"; ($r.held_proxy_peak_rss_kb / 1024 | r1); ""; "<= 100 MB"; met($r.held_proxy_peak_rss_kb <= 100 * 1024)),
    row("5 idle RSS after start (MB)"; "-"; ($r.idle_rss_kb / 1024 | r1); ""; "<= 15 MB"; met($r.idle_rss_kb <= 15 * 1024)),
    row("Gemini throughput, c64 (req/s)"; ($gd.rps | r1); ($gp.rps | r1); "\(($gp.rps / $gd.rps * 100) | r1) %"; ">= 30 %"; met($gp.rps >= 0.3 * $gd.rps)),
    row("Gemini proxy CPU per request (ms)"; "-"; ($gp.cpu_ms_per_req | r3); ""; "<= 0.2 ms"; met($gp.cpu_ms_per_req <= 0.2)),
    row("Gemini streams/s, 100 chunks, c32"; ($gsd.rps | r1); ($gsp.rps | r1); "\(($gsp.rps / $gsd.rps * 100) | r1) %"; ">= 80 %"; met($gsp.rps >= 0.8 * $gsd.rps)),
    row("Gemini TTFB p50 / p99 (ms)"; "\($gfd.p50_ms | r3) / \($gfd.p99_ms | r3)"; "\($gfp.p50_ms | r3) / \($gfp.p99_ms | r3)"; "+\(($gfp.p50_ms - $gfd.p50_ms) | r3) ms p50"; "<= +1 ms"; met($gfp.p50_ms - $gfd.p50_ms <= 1)),
    row("Anthropic pass-through, c64 (req/s)"; ($cd.rps | r1); ($cp.rps | r1); "\(($cp.rps / $cd.rps * 100) | r1) %"; ""; ""),
    row("Anthropic pass-through CPU per request (ms)"; "-"; ($cp.cpu_ms_per_req | r3); ""; ""; "")
' "$1")
    column -t -s $'\t' <<<"$tsv"
    awk -F'\t' 'NR == 1 {print "| " $1 " | " $2 " | " $3 " | " $4 " | " $5 " | " $6 " |"; print "|---|---:|---:|---:|---|---|"; next}
                {print "| " $1 " | " $2 " | " $3 " | " $4 " | " $5 " | " $6 " |"}' <<<"$tsv" >"$(dirname "$1")/results.md"
}

if [[ ${1:-} == --report ]]; then
    report "${2:-$OUT/results.json}"
    exit 0
fi

# need TOOL: installs a missing Debian package (as root, or with sudo) so the
# script runs on a fresh machine; otherwise says what is missing.
need() {
    command -v "$1" >/dev/null 2>&1 && return 0
    local sudo=
    [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null 2>&1 && sudo="sudo -n"
    if command -v apt-get >/dev/null 2>&1 && { [[ $(id -u) -eq 0 ]] || [[ -n $sudo ]]; }; then
        echo "== $1 not found; installing it with apt-get" >&2
        $sudo apt-get install -y -q "$1" >&2 || { $sudo apt-get update -q >&2 && $sudo apt-get install -y -q "$1" >&2; } || true
    fi
    command -v "$1" >/dev/null 2>&1 || { echo "bench.sh: $1 is required (install the $1 package)" >&2; exit 1; }
}
need curl
need jq
if ! command -v oha >/dev/null 2>&1; then
    echo "== oha not found; installing it with cargo install oha --locked" >&2
    cargo install oha --locked >&2
    export PATH="$HOME/.cargo/bin:$PATH"
fi

if [[ -z ${BENCH_NO_BUILD:-} ]]; then
    echo "== cargo build --release --workspace" >&2
    (cd "$ROOT" && cargo build --release --workspace >&2)
fi
PROXY_BIN=$TARGET_DIR/release/claude-proxy
MOCK_BIN=$TARGET_DIR/release/mock-upstream
[[ -x $PROXY_BIN && -x $MOCK_BIN ]] || { echo "bench.sh: release binaries missing in $TARGET_DIR/release" >&2; exit 1; }

# 1,000 held streams need ~3,000 descriptors across the processes.
ulimit -n 65536 2>/dev/null || ulimit -n 8192 2>/dev/null || true

mkdir -p "$OUT/raw"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/claude-proxy-bench.XXXXXX")
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

# Request bodies: the Claude Code fixture as recorded (pretty-printed, ~55 KB),
# once as a stream and once with "stream": false.
cp "$FIXTURE" "$WORK/stream.json"
sed 's/"stream": true/"stream": false/' "$FIXTURE" >"$WORK/nostream.json"
grep -q '"stream": false' "$WORK/nostream.json" || { echo "bench.sh: cannot make the non-stream body" >&2; exit 1; }
BODY_BYTES=$(wc -c <"$WORK/nostream.json")

# wait_line FILE REGEX: prints the first capture of REGEX once it shows up in FILE (≤ 10 s).
wait_line() {
    local i line
    for ((i = 0; i < 200; i++)); do
        line=$(grep -oE "$2" "$1" 2>/dev/null | head -n1 || true)
        if [[ -n $line ]]; then echo "$line"; return 0; fi
        sleep 0.05
    done
    echo "bench.sh: timed out waiting for /$2/ in $1:" >&2
    cat "$1" >&2
    return 1
}

# start_mock NAME ARGS...: sets MOCK_PORT and MOCK_PID.
start_mock() {
    local name=$1; shift
    "$MOCK_BIN" --port 0 "$@" >"$WORK/$name.log" 2>&1 &
    MOCK_PID=$!
    PIDS+=("$MOCK_PID")
    MOCK_PORT=$(wait_line "$WORK/$name.log" 'listening on 127\.0\.0\.1:[0-9]+' | sed 's/.*://')
}

# start_proxy NAME SERVICE_TYPE BASE_URL MODEL: a fresh proxy in its own
# directory (.env + config.json); sets PROXY_PORT and PROXY_PID.
start_proxy() {
    local name=$1 type=$2 base=$3 model=$4 dir=$WORK/$1
    mkdir -p "$dir"
    cat >"$dir/.env" <<EOF
HOST=127.0.0.1
PORT=0
PROXY_ACCESS_KEY=$KEY
CONFIG_PATH=./config.json
LOG_LEVEL=warn
EOF
    jq -n --arg type "$type" --arg base "$base" --arg model "$model" '{
        upstream: [{name: "bench", baseUrl: $base, apiKeys: ["sk-bench"], serviceType: $type,
                    modelMapping: {"*": $model}}],
        currentUpstream: 0, loadBalance: "round-robin"}' >"$dir/config.json"
    # A clean environment: only .env decides the settings.
    (cd "$dir" && exec env -i PATH="$PATH" HOME="${HOME:-/tmp}" "$PROXY_BIN" >"$dir/proxy.log" 2>&1) &
    PROXY_PID=$!
    PIDS+=("$PROXY_PID")
    PROXY_PORT=$(wait_line "$dir/proxy.log" 'listening on http://127\.0\.0\.1:[0-9]+' | sed 's/.*://')
}

stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
CLK_TCK=$(getconf CLK_TCK)
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

# load NAME URL BODY CONCURRENCY ARGS...: one oha run; prints
# {rps, p50_ms, p99_ms, ok, errors} (errors: non-2xx plus transport errors;
# requests cut off by the end of a timed run are not errors).
load() {
    local name=$1 url=$2 body=$3 conc=$4; shift 4
    oha --no-tui --output-format json -c "$conc" -m POST -D "$body" \
        -H 'content-type: application/json' -H "x-api-key: $KEY" \
        -H 'anthropic-version: 2023-06-01' "$@" "$url" >"$OUT/raw/$name.json" 2>"$OUT/raw/$name.err" || {
        echo "bench.sh: oha failed for $name:" >&2; cat "$OUT/raw/$name.err" >&2; return 1; }
    jq -c '{
        rps: .summary.requestsPerSec,
        p50_ms: ((.latencyPercentiles.p50 // 0) * 1000),
        p99_ms: ((.latencyPercentiles.p99 // 0) * 1000),
        ok: ([.statusCodeDistribution | to_entries[] | select(.key | startswith("2")) | .value] | add // 0),
        errors: (([.statusCodeDistribution | to_entries[] | select(.key | startswith("2") | not) | .value] | add // 0)
                 + ([(.errorDistribution // {}) | to_entries[] | select(.key | test("deadline") | not) | .value] | add // 0))
    }' "$OUT/raw/$name.json"
}

# load_cpu NAME PID ARGS...: `load` plus the proxy's CPU time per request.
load_cpu() {
    local name=$1 pid=$2; shift 2
    local t0 t1 r
    t0=$(cpu_ticks "$pid")
    r=$(load "$name" "$@")
    t1=$(cpu_ticks "$pid")
    jq -c --argjson d "$((t1 - t0))" --argjson hz "$CLK_TCK" \
        '. + {cpu_ms_per_req: (if .ok > 0 then ($d / $hz * 1000 / .ok) else null end)}' <<<"$r"
}

# ttfb NAME URL BODY: time to first byte of N sequential requests on one
# connection (curl URL globbing); prints {p50_ms, p99_ms, n}.
ttfb() {
    local name=$1 url=$2 body=$3 sep='?'
    [[ $url == *\?* ]] && sep='&'
    curl -s -o /dev/null -w '%{http_code} %{time_starttransfer}\n' \
        -H 'content-type: application/json' -H "x-api-key: $KEY" -H 'anthropic-version: 2023-06-01' \
        --data-binary "@$body" "${url}${sep}n=[1-$TTFB_N]" >"$OUT/raw/$name.ttfb"
    awk '$1 ~ /^2/ {print $2 * 1000}' "$OUT/raw/$name.ttfb" | sort -n | awk '
        {v[NR] = $1}
        END {
            if (NR == 0) { print "{\"p50_ms\":null,\"p99_ms\":null,\"n\":0}"; exit }
            i50 = int(NR * 0.50); if (i50 < 1) i50 = 1
            i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
            printf "{\"p50_ms\":%.4f,\"p99_ms\":%.4f,\"n\":%d}\n", v[i50], v[i99], NR
        }'
}

warm() { load "warm-$1" "$2" "$3" "$4" -z 1s >/dev/null; }

RESULTS=$WORK/results.json
echo '{}' >"$RESULTS"
put() { jq --arg k "$1" --argjson v "$2" '.[$k] = $v' "$RESULTS" >"$RESULTS.tmp" && mv "$RESULTS.tmp" "$RESULTS"; }
say() { echo "== $*" >&2; }

# ---------------------------------------------------------------------------
start_mock mock --chunks 100
M=http://127.0.0.1:$MOCK_PORT
OA_DIRECT=$M/v1/chat/completions
GM_JSON_DIRECT=$M/v1beta/models/gemini-2.5-flash:generateContent
GM_SSE_DIRECT="$M/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"

# 5. idle RSS right after start
start_proxy openai openai "$M/v1" gpt-4o
sleep 1
put idle_rss_kb "$(status_kb "$PROXY_PID" VmRSS)"
P=http://127.0.0.1:$PROXY_PORT/v1/messages
say "idle RSS $(status_kb "$PROXY_PID" VmRSS) kB; mock :$MOCK_PORT, proxy :$PROXY_PORT (OpenAI upstream)"

# 1. throughput, OpenAI upstream, non-streaming ~55 KB request, concurrency 64
say "throughput (OpenAI, c64, ${SECS}s each)"
warm oa-direct "$OA_DIRECT" "$WORK/nostream.json" 64
put throughput_openai_direct "$(load tp-oa-direct "$OA_DIRECT" "$WORK/nostream.json" 64 -z "${SECS}s")"
warm oa-proxy "$P" "$WORK/nostream.json" 64
put throughput_openai_proxy "$(load_cpu tp-oa-proxy "$PROXY_PID" "$P" "$WORK/nostream.json" 64 -z "${SECS}s")"

# 2. latency overhead at concurrency 1 and 16
for c in 1 16; do
    say "overhead (OpenAI, c$c)"
    put "overhead_c${c}_direct" "$(load "ov$c-direct" "$OA_DIRECT" "$WORK/nostream.json" "$c" -z "${SECS}s")"
    put "overhead_c${c}_proxy" "$(load "ov$c-proxy" "$P" "$WORK/nostream.json" "$c" -z "${SECS}s")"
done

# 3. streaming: 100-chunk streams at concurrency 32, and time to first byte
say "streaming (OpenAI, 100 chunks, c32)"
put streaming_openai_direct "$(load st-oa-direct "$OA_DIRECT" "$WORK/stream.json" 32 -z "${SECS}s")"
warm st-oa-proxy "$P" "$WORK/stream.json" 32
put streaming_openai_proxy "$(load_cpu st-oa-proxy "$PROXY_PID" "$P" "$WORK/stream.json" 32 -z "${SECS}s")"
say "time to first byte (OpenAI, $TTFB_N sequential streams)"
put ttfb_openai_direct "$(ttfb ttfb-oa-direct "$OA_DIRECT" "$WORK/stream.json")"
put ttfb_openai_proxy "$(ttfb ttfb-oa-proxy "$P" "$WORK/stream.json")"
stop "$PROXY_PID"

# Gemini upstream: throughput and streaming
start_proxy gemini gemini "$M/v1beta" gemini-2.5-flash
P=http://127.0.0.1:$PROXY_PORT/v1/messages
say "throughput (Gemini, c64)"
put throughput_gemini_direct "$(load tp-gm-direct "$GM_JSON_DIRECT" "$WORK/nostream.json" 64 -z "${SECS}s")"
warm gm-proxy "$P" "$WORK/nostream.json" 64
put throughput_gemini_proxy "$(load_cpu tp-gm-proxy "$PROXY_PID" "$P" "$WORK/nostream.json" 64 -z "${SECS}s")"
say "streaming (Gemini, 100 chunks, c32)"
put streaming_gemini_direct "$(load st-gm-direct "$GM_SSE_DIRECT" "$WORK/stream.json" 32 -z "${SECS}s")"
put streaming_gemini_proxy "$(load_cpu st-gm-proxy "$PROXY_PID" "$P" "$WORK/stream.json" 32 -z "${SECS}s")"
put ttfb_gemini_direct "$(ttfb ttfb-gm-direct "$GM_SSE_DIRECT" "$WORK/stream.json")"
put ttfb_gemini_proxy "$(ttfb ttfb-gm-proxy "$P" "$WORK/stream.json")"
stop "$PROXY_PID"

# Anthropic upstream (pass-through): throughput
start_proxy claude claude "$M/v1" claude-sonnet-4-5
P=http://127.0.0.1:$PROXY_PORT/v1/messages
say "throughput (Anthropic pass-through, c64)"
put throughput_claude_direct "$(load tp-cl-direct "$M/v1/messages" "$WORK/nostream.json" 64 -z "${SECS}s")"
warm cl-proxy "$P" "$WORK/nostream.json" 64
put throughput_claude_proxy "$(load_cpu tp-cl-proxy "$PROXY_PID" "$P" "$WORK/nostream.json" 64 -z "${SECS}s")"
stop "$PROXY_PID"
stop "$MOCK_PID"

# 4. held connections: 2 s upstream delay, 1,000 concurrent streams (two waves)
say "held streams (2 s upstream delay, 1000 concurrent, 2000 streams)"
start_mock mock-slow --chunks 100 --delay-ms 2000
M=http://127.0.0.1:$MOCK_PORT
start_proxy held openai "$M/v1" gpt-4o
P=http://127.0.0.1:$PROXY_PORT/v1/messages
put held_direct "$(load held-direct "$M/v1/chat/completions" "$WORK/stream.json" 1000 -n 2000 -t 30s)"
put held_proxy "$(load held-proxy "$P" "$WORK/stream.json" 1000 -n 2000 -t 30s)"
put held_proxy_peak_rss_kb "$(status_kb "$PROXY_PID" VmHWM)"
stop "$PROXY_PID"
stop "$MOCK_PID"

# ---------------------------------------------------------------------------
CPU_MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
put machine "$(jq -n --arg cpu "$CPU_MODEL" --argjson nproc "$(nproc)" --arg kernel "$(uname -r)" \
    --arg oha "$(oha --version 2>/dev/null | head -n1)" --argjson body "$BODY_BYTES" --argjson secs "$SECS" \
    --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg rev "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    '{cpu: $cpu, nproc: $nproc, kernel: $kernel, load_tool: $oha, request_bytes: $body, seconds_per_run: $secs, date: $date, commit: $rev}')"
cp "$RESULTS" "$OUT/results.json"

report "$OUT/results.json"
echo
echo "machine: $(nproc) cores, $CPU_MODEL; request body $BODY_BYTES bytes; $SECS s per run; $(oha --version 2>/dev/null | head -n1)"
echo "results: $OUT/results.json and $OUT/results.md (raw load-tool output in $OUT/raw/)"
