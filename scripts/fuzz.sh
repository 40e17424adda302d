#!/usr/bin/env bash
# Long fuzz run: every target of tests/fuzz (the quick run inside `cargo test`)
# with many more cases, each target bounded in time. Prints one line per target
# (cases run, seconds, result) and exits non-zero if any target failed; each
# target's full output, with the shrunk failing input and its FUZZ_SEED, is kept
# under $OUT (default target/fuzz/, or $CARGO_TARGET_DIR/fuzz/).
#
# Knobs:
#   FUZZ_CASES    cases per target (default 20000)
#   FUZZ_SECONDS  stop a target after about this long (default 30; checked
#                 between batches of 128 cases, and a hard `timeout` at
#                 FUZZ_SECONDS + 180 s covers shrinking a failure)
#   FUZZ_JOBS     targets run side by side (default 2)
#   FUZZ_SEED     replay: the seed a failure printed (with FUZZ_CASES set to
#                 about the number of cases it had run)
#   FUZZ_FILTER   only targets whose name contains this (default: all)
#   FUZZ_RELEASE=1  optimized build (many more cases per second) that keeps
#                 overflow checks and debug assertions, in its own target dir
# The default is the test profile, as `cargo test` builds it: overflow checks on.
# Nothing here touches the network.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${FUZZ_OUT:-$TARGET_DIR/fuzz}
CASES=${FUZZ_CASES:-20000}
SECONDS_PER_TARGET=${FUZZ_SECONDS:-30}
JOBS=${FUZZ_JOBS:-2}
FILTER=${FUZZ_FILTER:-}
HARD_LIMIT=$((SECONDS_PER_TARGET + 180))

cd "$ROOT"
mkdir -p "$OUT"
rm -f "$OUT"/*.log

build_args=(--test fuzz --no-run)
if [[ "${FUZZ_RELEASE:-0}" == 1 ]]; then
    export CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true
    export CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=true
    build_args+=(--release --target-dir "$TARGET_DIR/fuzz-release")
fi
echo "building the fuzz targets..." >&2
BIN=$(cargo test "${build_args[@]}" 2>&1 | sed -n 's/.*Executable tests\/fuzz\/main.rs (\(.*\))/\1/p' | tail -1)
if [[ -z "$BIN" || ! -x "$BIN" ]]; then
    echo "could not build the fuzz test binary" >&2
    exit 1
fi

# Every fuzz target (regression_ and fixed_ tests have fixed inputs: not repeated).
mapfile -t TARGETS < <("$BIN" --list --format=terse 2>/dev/null | sed -n 's/: test$//p' \
    | grep -v -e '::regression_' -e '::fixed_' | grep -F -- "$FILTER" || true)
if [[ ${#TARGETS[@]} -eq 0 ]]; then
    echo "no fuzz target matches '$FILTER'" >&2
    exit 1
fi
echo "${#TARGETS[@]} targets, up to $CASES cases or ${SECONDS_PER_TARGET} s each, $JOBS at a time" >&2

run_one() {
    local name=$1 log
    log="$OUT/${name//::/.}.log"
    local started=$SECONDS rc=0
    FUZZ_CASES=$CASES FUZZ_SECONDS=$SECONDS_PER_TARGET RUST_BACKTRACE=0 \
        timeout --kill-after=10 "$HARD_LIMIT" \
        "$BIN" --exact "$name" --nocapture --test-threads=1 >"$log" 2>&1 || rc=$?
    local count
    count=$(sed -n 's/.*fuzz-count \(.*\)$/\1/p' "$log" | tail -1)
    if [[ $rc -eq 0 ]]; then
        printf '%-40s ok      %s\n' "$name" "${count:-?}"
    elif [[ $rc -eq 124 || $rc -eq 137 ]]; then
        printf '%-40s TIMEOUT after %s s (see %s)\n' "$name" "$((SECONDS - started))" "$log"
    else
        printf '%-40s FAILED  %s\n' "$name" "$(grep -m1 -o 'failed (FUZZ_SEED=[0-9]*): .*' "$log" | cut -c1-160)"
    fi
    return "$rc"
}
export -f run_one
export BIN OUT CASES SECONDS_PER_TARGET HARD_LIMIT

status=0
printf '%s\n' "${TARGETS[@]}" | xargs -P "$JOBS" -I{} bash -c 'run_one "$@"' _ {} \
    | tee "$OUT/summary.txt" || status=$?

total=$(awk '$2 == "ok" { for (i = 3; i < NF; i++) if ($(i + 1) == "cases") n += $i } END { print n + 0 }' "$OUT/summary.txt")
echo "total: $total cases passed; logs in $OUT" >&2
exit $((status != 0))
