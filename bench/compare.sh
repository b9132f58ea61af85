#!/usr/bin/env bash
# Run every tool on each FILE and compare what it lists with the loader's own trace.
#
#   bench/compare.sh FILE...        (bench/run.sh sets the tool paths below)
#
# One tab-separated line per tool and file:
#   tool  file  exit_code  found  not_found  exact  same_files  difference
# found      number of distinct dependency paths the tool printed (the target itself and
#            linux-vdso excluded)
# not_found  lines of the tool's stdout that say "not found"
# exact      "yes" when the set of path strings equals the set `ld.so` prints in trace mode
#            (LD_TRACE_LOADED_OBJECTS=1), byte for byte
# same_files "yes" when the two sets are equal after `realpath -m` on every path (so
#            /lib/x86_64-linux-gnu/libc.so.6 and /usr/lib/x86_64-linux-gnu/libc.so.6 agree)
# difference the files (after realpath) only ld.so lists, as "-PATH", and only the tool
#            lists, as "+PATH", space-separated; "-" when there are none
#
# With COMPARE_KEEP=DIR, each tool's path list for each file is also written to
# DIR/TOOL/<file with / replaced by _>.
set -euo pipefail

: "${DEPCLOSE:?set by bench/run.sh}"
RTLD=${RTLD:-/lib64/ld-linux-x86-64.so.2}
PY=${PY:-/usr/bin/python3}
PAX_LDDTREE=${PAX_LDDTREE:-/usr/bin/lddtree}
LDDTREE_RS=${LDDTREE_RS:-$HOME/.cargo/bin/lddtree}
LIBTREE=${LIBTREE:-libtree}

TOOLS=(ldso-trace ldso-list ldd depclose libtree libtree-vv lddtree-py lddtree-rs)

run_tool() {
    case $1 in
    ldso-trace) LD_TRACE_LOADED_OBJECTS=1 "$RTLD" "$2" ;;
    ldso-list) "$RTLD" --list "$2" ;;
    ldd) ldd "$2" ;;
    depclose) "$DEPCLOSE" "$2" ;;
    libtree) "$LIBTREE" -p -v "$2" ;;
    # -vv also descends into the libraries libtree skips by default (libc, libm, libstdc++, …).
    libtree-vv) "$LIBTREE" -p -vv "$2" ;;
    lddtree-py) "$PY" "$PAX_LDDTREE" -l "$2" ;;
    lddtree-rs) "$LDDTREE_RS" "$2" ;;
    esac
}

# The dependency paths in a tool's stdout, one a line, sorted and deduplicated.
paths() {
    case $1 in
    # "\tname => /path (0x...)" or "\t/path (0x...)"; "name => not found" has no path.
    ldso-trace | ldso-list | ldd)
        sed -n -e 's/^\t[^ ]* => \(\/[^ ]*\) (0x[0-9a-f]*)$/\1/p' \
            -e 's/^\t\(\/[^ ]*\) (0x[0-9a-f]*)$/\1/p'
        ;;
    # The first line is the target.
    depclose | lddtree-py) tail -n +2 ;;
    # "├── /path [how]"; lines with ┊ explain a failed search and name directories.
    libtree | libtree-vv) { grep -v '┊' || true; } | { grep -o '/[^ ]* \[' || true; } | sed 's/ \[$//' ;;
    # "name => /path" (already canonical); the first line is the interpreter.
    lddtree-rs) sed -n 's/.* => \(\/.*\)$/\1/p' ;;
    esac | sort -u
}

canonical() {
    xargs -r -d '\n' realpath -m -- | sort -u
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for file in "$@"; do
    for tool in "${TOOLS[@]}"; do
        rc=0
        run_tool "$tool" "$file" >"$tmp/$tool.out" 2>/dev/null || rc=$?
        paths "$tool" <"$tmp/$tool.out" >"$tmp/$tool.paths"
        canonical <"$tmp/$tool.paths" >"$tmp/$tool.real"
        found=$(wc -l <"$tmp/$tool.paths")
        missing=$(grep -c 'not found' "$tmp/$tool.out" || true)
        exact=no
        same=no
        cmp -s "$tmp/$tool.paths" "$tmp/ldso-trace.paths" && exact=yes
        cmp -s "$tmp/$tool.real" "$tmp/ldso-trace.real" && same=yes
        diff=$({
            comm -23 "$tmp/ldso-trace.real" "$tmp/$tool.real" | sed 's/^/-/'
            comm -13 "$tmp/ldso-trace.real" "$tmp/$tool.real" | sed 's/^/+/'
        } | paste -sd ' ')
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
            "$tool" "$file" "$rc" "$found" "$missing" "$exact" "$same" "${diff:--}"
        if [[ -n ${COMPARE_KEEP:-} ]]; then
            mkdir -p "$COMPARE_KEEP/$tool"
            cp "$tmp/$tool.paths" "$COMPARE_KEEP/$tool/${file//\//_}"
        fi
    done
done
