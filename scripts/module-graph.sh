#!/usr/bin/env bash
# The library's top-level module graph, from every `crate::<module>` path in
# src/: prints one "from -> to" edge per line and exits non-zero, naming the
# modules involved, when the graph has a cycle. Test code counts too (the
# sibling `*_tests.rs` / `tests.rs` files and inline `mod tests`): a test that
# reaches into a module its parent must not depend on is still a cycle.
#
# A module is `src/<name>.rs` or `src/<name>/`; src/lib.rs and src/main.rs are
# the roots and are left out. `tsort` finds the cycles.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT/src"

edges=$(
    grep -rnoE --include='*.rs' 'crate::[a-z_][a-z0-9_]*' . |
        while IFS=: read -r file _line path; do
            from=${file#./}
            from=${from%%/*}
            from=${from%.rs}
            to=${path#crate::}
            case "$from" in lib | main) continue ;; esac
            [ "$from" != "$to" ] && [ -e "$to.rs" -o -d "$to" ] && echo "$from $to"
        done | sort -u
)

printf '%s\n' "$edges" | awk 'NF { print $1 " -> " $2 }'

if ! printf '%s\n' "$edges" | tsort >/dev/null 2>"${TMPDIR:-/tmp}/module-graph.$$"; then
    echo "module cycle:" >&2
    sed 's/^tsort: /  /' "${TMPDIR:-/tmp}/module-graph.$$" >&2
    rm -f "${TMPDIR:-/tmp}/module-graph.$$"
    exit 1
fi
rm -f "${TMPDIR:-/tmp}/module-graph.$$"
echo "no cycle among $(printf '%s\n' "$edges" | tr ' ' '\n' | sort -u | grep -c .) modules"
