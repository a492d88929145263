#!/usr/bin/env bash
# Counts the public items of the dockstat library as rustdoc shows them with default
# features, and fails above a limit, so that the surface an agent author reads stays small.
#
# Usage: dockstat/scripts/public-items.sh [LIMIT] [--list]
#   LIMIT   most items allowed (default 71)
#   --list  also print the items, one per line
#
# Items are the pages rustdoc writes for structs, enums, free functions, constants, type
# aliases, traits and macros under target/doc/dockstat. A page that only redirects (an item
# re-exported from a private module) does not count, and an item documented at two paths
# counts once: the definition it links to (file and lines) is the key.
set -euo pipefail

limit=71
list=0
for arg in "$@"; do
    case $arg in
    --list) list=1 ;;
    *[!0-9]* | '')
        echo "usage: $0 [LIMIT] [--list]" >&2
        exit 2
        ;;
    *) limit=$arg ;;
    esac
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
doc=$target/doc/dockstat

# Stale pages of items that are gone would count too.
rm -rf "$doc"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! cargo doc -p dockstat --no-deps >"$log" 2>&1; then
    cat "$log" >&2
    exit 1
fi

items=$(
    find "$doc" -type f -regextype posix-extended \
        -regex '.*/(struct|enum|fn|constant|type|trait|macro)\.[^/]+\.html' | sort |
        while IFS= read -r page; do
            grep -q 'http-equiv="refresh"' "$page" && continue
            rel=${page#"$doc"/}
            name=$(basename "$rel" .html)
            dir=$(dirname "$rel")
            path="dockstat::${dir//\//::}::${name#*.}"
            [[ $dir == . ]] && path="dockstat::${name#*.}"
            src=$(grep -o -m1 'src/dockstat/[^"]*\.html#L[0-9-]*' "$page" | head -n1 || true)
            printf '%s %s %s\n' "${name%%.*}:${src:-$rel}" "${name%%.*}" "$path"
        done | sort -u -k1,1 | cut -d' ' -f2- | sort -k2
)
count=$(printf '%s\n' "$items" | grep -c . || true)

if ((list)); then
    printf '%s\n' "$items"
fi
echo "dockstat public items: $count (limit $limit)"
if ((count > limit)); then
    echo "too many public items: make what agents and harnesses do not need pub(crate)" >&2
    exit 1
fi
