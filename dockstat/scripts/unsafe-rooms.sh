#!/usr/bin/env bash
# Fails if `unsafe` code appears outside its rooms: dockstat/src/sys.rs (the library's C calls),
# dockstat/src/stats/skip.rs (the SIMD scan) and dockstat-cli/src/term.rs (the CLI's terminal:
# termios, TIOCGWINSZ, poll and read on stdin for the live `stats` view, restored on every
# exit). The compiler's `deny(unsafe_code)` covers the same ground; this check also catches a
# room moved or an `allow` added in review.
#
# Usage: dockstat/scripts/unsafe-rooms.sh   (from anywhere inside the repository)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

allowed=(dockstat/src/sys.rs dockstat/src/stats/skip.rs dockstat-cli/src/term.rs)
dirs=(dockstat/src dockstat-sim/src dockstat-cli/src loadbench/src)

found=0
while IFS= read -r -d '' file; do
    for ok in "${allowed[@]}"; do
        [[ $file == "$ok" ]] && continue 2
    done
    # An unsafe block, fn, impl, trait or extern block; comment lines do not count.
    if hits=$(grep -nE '(^|[^[:alnum:]_])unsafe[[:space:]]*(\{|fn[[:space:]]|impl[[:space:]<]|trait[[:space:]]|extern[[:space:]]|$)' "$file" |
        grep -vE '^[0-9]+:[[:space:]]*//'); then
        printf '%s\n' "$hits" | sed "s|^|$file:|"
        found=1
    fi
done < <(find "${dirs[@]}" -name '*.rs' -print0 | sort -z)

if ((found)); then
    echo "unsafe code outside ${allowed[*]}" >&2
    exit 1
fi
echo "unsafe code only in ${allowed[*]}"
