#!/usr/bin/env bash
# The library's module graph, from the `crate::…` and `super::…` paths in
# src/ (comment lines skipped): prints the top-level graph, one "from -> to"
# edge per line, and exits non-zero naming the modules of any cycle — among
# the top-level modules, or among the files of one top-level module
# (`src/<top>/<name>.rs` or `src/<top>/<name>/`, seen through `super::<name>`
# and `crate::<top>::<name>`). Test code counts too (the sibling `*_tests.rs`
# / `tests.rs` files and inline `mod tests`): a test that reaches into a
# module its parent must not depend on is still a cycle.
#
# src/lib.rs, src/main.rs and each `mod.rs` (a module's own façade) are
# roots and are left out as sources. `tsort` finds the cycles.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT/src"
status=0

# `file path` for every path matching $1 outside comment lines under $2.
paths() {
    { grep -rnE --include='*.rs' "$1" "$2" || true; } |
        { grep -vE '^[^:]+:[0-9]+:[[:space:]]*//' || true; } |
        while IFS= read -r hit; do
            file=${hit%%:*}
            grep -oE "$1" <<<"${hit#*:*:}" | sed "s|^|$file |"
        done
}

# Reports a cycle among the "from to" lines on stdin, labelled $1.
check() {
    local edges err
    edges=$(sort -u)
    err=$(printf '%s\n' "$edges" | tsort 2>&1 >/dev/null) || {
        echo "module cycle in $1:" >&2
        grep -v 'input contains a loop' <<<"$err" | sed 's/^tsort: /  /' >&2
        status=1
    }
}

# Top level: src/<from>… uses crate::<to>.
top=$(
    paths 'crate::[a-z_][a-z0-9_]*' . | while read -r file path; do
        from=${file#./}
        from=${from%%/*}
        from=${from%.rs}
        to=${path#crate::}
        case "$from" in lib | main) continue ;; esac
        if [ "$from" != "$to" ] && { [ -e "$to.rs" ] || [ -d "$to" ]; }; then
            echo "$from $to"
        fi
    done | sort -u
)
printf '%s\n' "$top" | awk 'NF { print $1 " -> " $2 }'
check "src/" <<<"$top"

# Inside each top-level directory: its files and subdirectories.
inner() {
    local dir=$1
    paths "(crate::$dir::|super::)[a-z_][a-z0-9_]*" "$dir" | while read -r file path; do
        rel=${file#"$dir"/}
        from=${rel%%/*}
        from=${from%.rs}
        [ "$from" = mod ] && continue
        case "$path" in
            super::*) [ "$rel" != "${rel#*/}" ] && continue ; to=${path#super::} ;;
            *) to=${path#crate::"$dir"::} ;;
        esac
        if [ "$from" != "$to" ] && { [ -e "$dir/$to.rs" ] || [ -d "$dir/$to" ]; }; then
            echo "$from $to"
        fi
    done
}
for dir in */; do
    dir=${dir%/}
    check "src/$dir/" < <(inner "$dir")
done

if [ "$status" -eq 0 ]; then
    echo "no cycle among $(printf '%s\n' "$top" | tr ' ' '\n' | sort -u | grep -c .) top-level modules, nor inside any of them"
fi
exit "$status"
