#!/usr/bin/env bash
# Instructions per request: the proxy under valgrind's callgrind, N sequential
# Claude Code requests (OpenAI upstream, bench/mock-upstream) after 50 warm-up
# requests. Unlike CPU time, the count hardly moves between runs on a noisy
# machine, so it tells a 2 % change from noise; it counts user-space
# instructions of every proxy thread (the store's writer included), not the
# kernel's.
#
#   scripts/instructions.sh [PROXY_BIN] [N]     # default: target/release, N=200
#
# Needs valgrind (installed with apt-get when missing and allowed) and oha.
# Writes the profile to $OUT/callgrind.out (callgrind_annotate reads it).
# Only 127.0.0.1 is used; every wait is bounded.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=${1:-$TARGET_DIR/release/claude-proxy}
N=${2:-200}
MOCK=${MOCK_BIN:-$(dirname "$BIN")/mock-upstream}
OUT=${INSTR_OUT:-$TARGET_DIR/bench}
export PATH="$HOME/.cargo/bin:$PATH"
[[ -x $BIN && -x $MOCK ]] || { echo "instructions.sh: $BIN or $MOCK missing (cargo build --release --workspace)" >&2; exit 1; }
if ! command -v valgrind >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]]; then
    apt-get install -y -q valgrind >&2 || { apt-get update -q >&2 && apt-get install -y -q valgrind >&2; }
fi
command -v valgrind >/dev/null || { echo "instructions.sh: valgrind is required" >&2; exit 1; }
command -v oha >/dev/null || cargo install oha --locked >&2

W=$(mktemp -d "${TMPDIR:-/tmp}/claude-proxy-instr.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT
sed 's/"stream": true/"stream": false/' "$ROOT/tests/fixtures/claude-code/01-write-turn2.json" >"$W/body.json"

# first_port FILE REGEX: the port in the first line matching REGEX (<= 60 s: valgrind starts slowly).
first_port() {
    local i p
    for ((i = 0; i < 300; i++)); do
        p=$(grep -oE "$2" "$1" 2>/dev/null | head -n1 | sed 's/.*://' || true)
        [[ -n $p ]] && { echo "$p"; return 0; }
        sleep 0.2
    done
    echo "instructions.sh: timed out waiting for $1" >&2; cat "$1" >&2; return 1
}

"$MOCK" --port 0 >"$W/mock.log" 2>&1 &
PIDS+=($!)
MPORT=$(first_port "$W/mock.log" '127\.0\.0\.1:[0-9]+')
mkdir -p "$W/p"
printf 'HOST=127.0.0.1\nPORT=0\nPROXY_ACCESS_KEY=k\nCONFIG_PATH=./config.json\nLOG_LEVEL=warn\n' >"$W/p/.env"
printf '{"upstream":[{"name":"b","baseUrl":"http://127.0.0.1:%s/v1","apiKeys":["sk"],"serviceType":"openai","modelMapping":{"*":"gpt-4o"}}]}\n' "$MPORT" >"$W/p/config.json"
(cd "$W/p" && exec env -i PATH="$PATH" HOME="${HOME:-/tmp}" valgrind --tool=callgrind \
    --callgrind-out-file="$W/cg.out" "$BIN" >proxy.log 2>&1) &
PP=$!
PIDS+=("$PP")
PPORT=$(first_port "$W/p/proxy.log" 'http://127\.0\.0\.1:[0-9]+')
URL=http://127.0.0.1:$PPORT/v1/messages
H=(-H 'content-type: application/json' -H 'x-api-key: k' -H 'anthropic-version: 2023-06-01')
oha --no-tui -c 1 -n 50 -m POST -D "$W/body.json" "${H[@]}" "$URL" >/dev/null
callgrind_control -z "$PP" >/dev/null 2>&1
oha --no-tui --output-format json -c 1 -n "$N" -m POST -D "$W/body.json" "${H[@]}" "$URL" >"$W/oha.json"
callgrind_control -d "$PP" >/dev/null 2>&1
for ((i = 0; i < 100; i++)); do [[ -s $W/cg.out.1 ]] && break; sleep 0.2; done
sleep 0.5
OK=$(jq '.statusCodeDistribution["200"] // 0' "$W/oha.json")
[[ $OK -eq $N ]] || { echo "instructions.sh: only $OK of $N requests succeeded" >&2; exit 1; }
IR=$(callgrind_annotate "$W/cg.out.1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}')
mkdir -p "$OUT"
cp "$W/cg.out.1" "$OUT/callgrind.out"
echo "$(basename "$BIN"): $((IR / N)) instructions per request ($N requests; profile in $OUT/callgrind.out)"
