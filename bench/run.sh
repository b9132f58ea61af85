#!/usr/bin/env bash
# Benchmarks: depclose against the loader's own trace (ldd, ld.so --list), libtree, pax-utils
# lddtree (Python) and lddtree-rs, on the same files in one run. Results: docs/benchmarks.md.
#
#   bench/run.sh [--quick] [OUT_DIR]   (default: a new directory under /tmp)
#
# --quick: 3 runs each, no pax-utils lddtree (5 s a run), no agreement check; the ratios
# table (docs/benchmarks.md, "Targets") is still written.
#
# Needs: hyperfine, libtree, pax-utils (scanelf, lddtree), jq, cargo, and lddtree-rs
# (`cargo install lddtree`; set LDDTREE_RS if it is not ~/.cargo/bin/lddtree). Debian:
#   apt-get install -y hyperfine libtree pax-utils jq
# RUNS_MANY (default 10) and RUNS_ONE (default 30) set hyperfine's --runs.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QUICK=0
if [[ ${1:-} == --quick ]]; then
    QUICK=1
    shift
fi
out=${1:-$(mktemp -d /tmp/depclose-bench.XXXXXX)}
mkdir -p "$out"
out=$(cd "$out" && pwd)

export RTLD=/lib64/ld-linux-x86-64.so.2
export PY=/usr/bin/python3
export PAX_LDDTREE=/usr/bin/lddtree
export LDDTREE_RS=${LDDTREE_RS:-$HOME/.cargo/bin/lddtree}
export LIBTREE=/usr/bin/libtree
export DEPCLOSE=$repo/target/release/depclose
APACHE=/usr/sbin/apache2
LIBDIR=/usr/lib/x86_64-linux-gnu
RUNS_MANY=${RUNS_MANY:-10}
RUNS_ONE=${RUNS_ONE:-30}
RUNS_BIG=${RUNS_BIG:-5}
if ((QUICK)); then
    RUNS_MANY=3 RUNS_ONE=5 RUNS_BIG=2
fi
FFMPEG=/usr/bin/ffmpeg

die() {
    echo "bench/run.sh: $*" >&2
    exit 1
}
log() { echo "== $*" >&2; }

# ----- tools -----
for t in hyperfine scanelf jq cargo ldd realpath nproc tar; do
    command -v "$t" >/dev/null || die "$t not found (apt-get install -y hyperfine pax-utils jq)"
done
[[ -x $LIBTREE ]] || die "$LIBTREE not found (apt-get install -y libtree)"
[[ -x $RTLD ]] || die "$RTLD not found"
# A python3 earlier in PATH may lack lddtree's module: run Debian's python explicitly.
"$PY" "$PAX_LDDTREE" -V >/dev/null 2>&1 || die "$PY $PAX_LDDTREE does not run (apt-get install -y pax-utils)"
((QUICK)) || [[ -x $LDDTREE_RS ]] || die "lddtree-rs not found at $LDDTREE_RS (cargo install lddtree)"
[[ -x $APACHE ]] || die "$APACHE not found (apt-get install -y apache2)"
[[ -x $FFMPEG ]] || die "$FFMPEG not found (apt-get install -y ffmpeg)"
[[ -x /usr/bin/time ]] || die "/usr/bin/time not found (apt-get install -y time)"

log "building depclose (release)"
cargo build --release --quiet --manifest-path "$repo/Cargo.toml"
[[ -x $DEPCLOSE ]] || die "$DEPCLOSE was not built"

# ----- the file list, built once -----
# Regular files (not symlinks) of /usr/bin and /usr/sbin that are ELF with a PT_INTERP:
# scanelf prints the interpreter (%i, empty without PT_INTERP) and skips non-ELF files.
files=$out/files.txt
find /usr/bin /usr/sbin -type f -print0 |
    xargs -0 scanelf -BF '%i|%F' 2>/dev/null |
    awk -F'|' '$1 != "" { print $2 }' | sort >"$files"
nfiles=$(wc -l <"$files")
((nfiles > 0)) || die "no dynamic ELF files found"
if grep -q '[[:space:]]' "$files"; then
    die "a file name in $files has white space; the hyperfine command lines would split it"
fi
mapfile -t FILES <"$files"
log "$nfiles dynamic ELF files in /usr/bin and /usr/sbin (list: $files)"

# ----- facts -----
facts=$out/facts.md
{
    echo "| fact | value |"
    echo "|---|---|"
    echo "| date (UTC) | $(date -u '+%Y-%m-%d %H:%M') |"
    echo "| load average at start | $(cut -d' ' -f1-3 /proc/loadavg) |"
    echo "| machine | $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(awk '/MemTotal/ { printf "%.1f GiB RAM", $2 / 1048576 }' /proc/meminfo) |"
    echo "| kernel | $(uname -sr) |"
    echo "| OS | $(. /etc/os-release && echo "$PRETTY_NAME") |"
    echo "| glibc | $("$RTLD" --version | head -1) |"
    echo "| depclose | $("$DEPCLOSE" --version) (git $(git -C "$repo" describe --always --dirty)), $(rustc --version) |"
    echo "| libtree | $("$LIBTREE" --version) |"
    echo "| pax-utils lddtree | $(dpkg-query -W -f '${Version}' pax-utils 2>/dev/null || echo '?') (Debian package), $("$PY" --version) |"
    echo "| lddtree-rs | $(cargo install --list | sed -n 's/^lddtree \(v[^:]*\):$/\1/p' || true) (crates.io) |"
    echo "| hyperfine | $(hyperfine --version) |"
    echo "| files (a) | $nfiles: regular files of /usr/bin and /usr/sbin, ELF, with PT_INTERP |"
} >"$facts"

# hyperfine wrapper: NAME RUNS [hyperfine args...] -- writes $out/NAME.md and $out/NAME.json.
bench() {
    local name=$1 runs=$2
    shift 2
    local md json
    md=$(mktemp /tmp/bench-md.XXXXXX)
    json=$(mktemp /tmp/bench-json.XXXXXX)
    hyperfine --warmup 1 --runs "$runs" --time-unit millisecond \
        --export-markdown "$md" --export-json "$json" "$@" >&2
    mv "$md" "$out/$name.md"
    mv "$json" "$out/$name.json"
}

# ----- a. all dynamic ELF files of /usr/bin and /usr/sbin -----
log "a. $nfiles files"
q=$(printf '%q ' "${FILES[@]}") # hyperfine -N splits words as a POSIX shell does
loop() { printf "bash -c 'while IFS= read -r f; do %s; done < %s'" "$1" "$files"; }
# NAME|COMMAND, with FILES standing for the file list on the command line.
a_cmds=(
    "depclose (one process)|$DEPCLOSE --allow-missing FILES"
    "depclose (one process per file)|$(loop "$DEPCLOSE --allow-missing \"\$f\"")"
    "ld.so trace (one process per file)|$(loop "LD_TRACE_LOADED_OBJECTS=1 $RTLD \"\$f\"")"
    "libtree (one process)|$LIBTREE -p -v FILES"
    "libtree -vv (one process)|$LIBTREE -p -vv FILES"
    "scanelf -qn (one process)|scanelf -qn FILES"
)
((QUICK)) || a_cmds+=(
    "lddtree-py (one process)|$PY $PAX_LDDTREE -l FILES"
    "lddtree-rs (one process per file)|$(loop "$LDDTREE_RS \"\$f\"")"
)
a_args=()
for c in "${a_cmds[@]}"; do
    a_args+=(-n "${c%%|*}" "${c#*|}")
    a_args[-1]=${a_args[-1]//FILES/"$q"}
done
# -i: libtree exits 28 when it thinks a library is missing (see the agreement table); a loop
# exits with its last command's status.
bench all-files "$RUNS_MANY" -N -i "${a_args[@]}"

# ----- b. one program: apache2 -----
log "b. $APACHE"
b_args=(
    -n "depclose" "$DEPCLOSE $APACHE"
    -n "ld.so --list" "$RTLD --list $APACHE"
    -n "ldd" "ldd $APACHE"
    -n "libtree" "$LIBTREE -p -v $APACHE"
    -n "libtree -vv" "$LIBTREE -p -vv $APACHE"
    -n "lddtree-py" "$PY $PAX_LDDTREE -l $APACHE"
)
((QUICK)) || b_args+=(-n "lddtree-rs" "$LDDTREE_RS $APACHE")
bench apache2 "$RUNS_ONE" -N "${b_args[@]}"

# ----- c. the cost of hashing: --format json over /usr/bin -----
log "c. depclose --format json /usr/bin"
bench json "$RUNS_MANY" -N \
    -n "depclose /usr/bin (list)" "$DEPCLOSE /usr/bin" \
    -n "depclose --format json /usr/bin (sha256 of every file)" "$DEPCLOSE --format json /usr/bin"
"$DEPCLOSE" --format json /usr/bin >"$out/usr-bin.json"
json_targets=$(jq '.targets | length' "$out/usr-bin.json")
json_objects=$(jq '[.targets[].objects[]] | length' "$out/usr-bin.json")
json_files=$(jq '[.targets[].objects[] | .real_path] | unique | length' "$out/usr-bin.json")
json_bytes=$(jq '[.targets[].objects[] | {real_path, size}] | unique | map(.size) | add' "$out/usr-bin.json")
rm "$out/usr-bin.json"

# ----- d. depclose's scaling: a directory of shared objects -----
log "d. depclose $LIBDIR"
bench libdir "$RUNS_MANY" -N \
    -n "depclose --allow-missing $LIBDIR" "$DEPCLOSE --allow-missing $LIBDIR"
libdir_targets=$("$DEPCLOSE" --allow-missing --format json "$LIBDIR" 2>/dev/null | jq '.targets | length')

# ----- e. every ELF file under /usr, one run -----
log "e. /usr"
bench usr "$RUNS_BIG" -N -i \
    -n "depclose --allow-missing /usr" "$DEPCLOSE --allow-missing /usr" \
    -n "scanelf -qnR /usr" "scanelf -qnR /usr"

# ----- f. images: --emit against tar -cf of the same files -----
# The image's files are written once as a rootfs, so that tar reads exactly them. depclose
# fsyncs the image before renaming it into place; tar does not, so tar is also timed with an
# fsync of its output (`sync FILE`) for the like-for-like figure.
emit_case() {
    local name=$1
    shift
    local rootfs=$out/$name-rootfs
    rm -rf "$rootfs" "$out/$name.tar"
    "$DEPCLOSE" "$@" --emit-rootfs "$rootfs" 2>/dev/null
    bench "emit-$name" "$RUNS_BIG" -N \
        -n "depclose $* --emit" "$DEPCLOSE $* --emit $out/$name.tar" \
        -n "tar -cf (the same files)" "tar -C $rootfs -cf $out/$name-tar.tar ." \
        -n "tar -cf + fsync (the same files)" "bash -c 'tar -C $rootfs -cf $out/$name-tar.tar . && sync $out/$name-tar.tar'"
    du -sb "$rootfs" | cut -f1 >"$out/$name.bytes"
    find "$rootfs" -type f | wc -l >"$out/$name.files"
    rm -rf "$rootfs" "$out/$name.tar" "$out/$name-tar.tar"
}
log "f. images"
emit_case apache "$APACHE"
emit_case ffmpeg "$FFMPEG"

# ----- peak memory (untimed): /usr/bin/time -f %M -----
rss=$out/rss.md
# The last line /usr/bin/time writes, whatever the command's status (a listing of /usr exits
# 1 for what it cannot find).
peak() { { /usr/bin/time -f '%M' "$@" 2>&1 >/dev/null || true; } | tail -1; }
{
    echo "| run | peak RSS (MiB) |"
    echo "|---|---:|"
    for c in "depclose --allow-missing FILES|$DEPCLOSE --allow-missing ${FILES[*]}" \
        "depclose $APACHE|$DEPCLOSE $APACHE" \
        "depclose --allow-missing /usr|$DEPCLOSE --allow-missing /usr" \
        "depclose --format json /usr/bin|$DEPCLOSE --format json /usr/bin" \
        "depclose $APACHE --emit|$DEPCLOSE $APACHE --emit $out/rss.tar" \
        "depclose $FFMPEG --emit|$DEPCLOSE $FFMPEG --emit $out/rss.tar"; do
        # shellcheck disable=SC2086 # the command is split as hyperfine splits it
        kb=$(peak ${c#*|})
        printf '| `%s` | %.1f |\n' "${c%%|*}" "$(awk -v k="$kb" 'BEGIN { print k / 1024 }')"
    done
    rm -f "$out/rss.tar"
} >"$rss"

# ----- the targets: ratios of medians in the same run (a slow inode or a preempted run in
# this VM moves a mean far more than a median) -----
stat_ms() { jq -r --arg n "$3" ".results[] | select(.command == \$n) | .$1 * 1000" "$out/$2.json"; }
mean_ms() { stat_ms mean "$@"; }
median_ms() { stat_ms median "$@"; }
targets=$out/targets.md
ratio_row() { # WORK FILE DEPCLOSE REFERENCE TARGET
    local d r
    d=$(median_ms "$2" "$3")
    r=$(median_ms "$2" "$4")
    awk -v w="$1" -v d="$d" -v r="$r" -v ref="$4" -v t="$5" 'BEGIN {
        q = d / r; ok = (q <= t) ? "yes" : "no"
        printf "| %s | %.1f ms | %s: %.1f ms | %.2f× | ≤ %.1f× | %s |\n", w, d, ref, r, q, t, ok }'
}
{
    echo "| work | depclose | reference | ratio | target | met |"
    echo "|---|---:|---|---:|---:|---|"
    ratio_row "all $nfiles dynamic programs of /usr/bin + /usr/sbin, one process" all-files "depclose (one process)" "libtree (one process)" 0.5
    ratio_row "the same files" all-files "depclose (one process)" "scanelf -qn (one process)" 1.0
    ratio_row "$APACHE alone" apache2 "depclose" "ld.so --list" 1.0
    ratio_row "every ELF file under /usr" usr "depclose --allow-missing /usr" "scanelf -qnR /usr" 0.5
    ratio_row "--emit of the Apache image ($(cat "$out/apache.files") files)" emit-apache "depclose $APACHE --emit" "tar -cf (the same files)" 1.2
    ratio_row "--emit of the ffmpeg image ($(cat "$out/ffmpeg.files") files)" emit-ffmpeg "depclose $FFMPEG --emit" "tar -cf (the same files)" 1.2
    ratio_row "the Apache image, both durable" emit-apache "depclose $APACHE --emit" "tar -cf + fsync (the same files)" 1.2
    ratio_row "the ffmpeg image, both durable" emit-ffmpeg "depclose $FFMPEG --emit" "tar -cf + fsync (the same files)" 1.2
} >"$targets"

if ((QUICK)); then
    echo "| load average at end | $(cut -d' ' -f1-3 /proc/loadavg) |" >>"$facts"
    {
        echo "# depclose benchmarks (quick): the targets"
        echo
        cat "$facts"
        echo
        cat "$targets"
        echo
        cat "$rss"
    } >"$out/report.md"
    log "report: $out/report.md"
    cat "$out/report.md"
    exit 0
fi

# ----- agreement with the loader (untimed) -----
log "agreement: every tool on every file, compared with ld.so's trace"
COMPARE_KEEP=$out/apache2-paths "$repo/bench/compare.sh" "$APACHE" >"$out/apache2.tsv"
xargs -a "$files" -d '\n' -n 16 -P "$(nproc)" "$repo/bench/compare.sh" >"$out/compare.tsv"

agreement=$out/agreement.md
{
    echo "| tool | files with exit ≠ 0 | files reporting \"not found\" | same path strings as ld.so | same files as ld.so (after realpath) |"
    echo "|---|---|---|---|---|"
    awk -F'\t' '
        { n[$1]++; order[$1] = order[$1] ? order[$1] : NR
          if ($3 != 0) fail[$1]++
          if ($5 > 0) nf[$1]++
          if ($6 == "yes") ex[$1]++
          if ($7 == "yes") sm[$1]++ }
        END { for (t in n) printf "%d\t| %s | %d | %d | %d / %d | %d / %d |\n",
                order[t], t, fail[t], nf[t], ex[t], n[t], sm[t], n[t] }' "$out/compare.tsv" |
        sort -n | cut -f2-
    echo
    echo "Where a tool differs from ld.so (exit ≠ 0, \"not found\", or other files), grouped:"
    echo
    awk -F'\t' '
        $1 != "ldso-trace" && ($3 != 0 || $5 > 0 || $8 != "-") {
            k = $1 " | exit " $3 ", " $5 " not found | files: " ($8 == "-" ? "same" : $8)
            if (!(k in n)) keys[++m] = k
            if (++n[k] <= 3) ex[k] = ex[k] (n[k] > 1 ? ", " : "") "`" $2 "`"
        }
        END { for (i = 1; i <= m; i++) { k = keys[i]
                printf "- %s | %d file(s), e.g. %s\n", k, n[k], ex[k] } }' "$out/compare.tsv" | sort -s -k2,2
} >"$agreement"

apache_cmp=$out/apache2-agreement.md
{
    echo "| tool | exit | paths | same path strings as ld.so | same files as ld.so |"
    echo "|---|---|---|---|---|"
    awk -F'\t' '{ printf "| %s | %s | %s | %s | %s |\n", $1, $3, $4, $6, $7 }' "$out/apache2.tsv"
    echo
    echo "ld.so's trace lists:"
    echo
    sed 's/^/    /' "$out/apache2-paths/ldso-trace/${APACHE//\//_}"
} >"$apache_cmp"

# ----- report -----
echo "| load average at end | $(cut -d' ' -f1-3 /proc/loadavg) |" >>"$facts"
a_ms=$(mean_ms all-files "depclose (one process)")
c_list=$(mean_ms json "depclose /usr/bin (list)")
c_json=$(mean_ms json "depclose --format json /usr/bin (sha256 of every file)")
d_ms=$(mean_ms libdir "depclose --allow-missing $LIBDIR")
report=$out/report.md
{
    echo "# depclose benchmarks: raw results"
    echo
    echo "Reproduce: \`bench/run.sh\` (results in $out)."
    echo
    echo "## Machine and tools"
    echo
    cat "$facts"
    echo
    echo "## The targets (ratios of medians in this run)"
    echo
    cat "$targets"
    echo
    echo "## Peak memory"
    echo
    cat "$rss"
    echo
    echo "## a. $nfiles dynamic ELF files of /usr/bin and /usr/sbin"
    echo
    cat "$out/all-files.md"
    echo
    echo "depclose: $(awk -v n="$nfiles" -v ms="$a_ms" 'BEGIN { printf "%.0f", n / ms * 1000 }') targets/s in one process."
    echo
    echo "Commands (FILES = the $nfiles paths of files.txt on the command line; loops read files.txt):"
    echo
    echo '```'
    for c in "${a_cmds[@]}"; do
        echo "${c#*|}"
    done
    echo '```'
    echo
    echo "## b. one program: $APACHE"
    echo
    cat "$out/apache2.md"
    echo
    echo "## c. the cost of hashing: \`--format json\` over /usr/bin"
    echo
    cat "$out/json.md"
    echo
    echo "$json_targets ELF targets in /usr/bin, $json_objects objects in their closures," \
        "$json_files distinct files, $json_bytes bytes in them." \
        "JSON minus list: $(awk -v a="$c_json" -v b="$c_list" 'BEGIN { printf "%.0f", a - b }') ms."
    echo
    echo "## d. depclose on a directory: $LIBDIR"
    echo
    cat "$out/libdir.md"
    echo
    echo "$libdir_targets ELF targets (recursively), $(awk -v n="$libdir_targets" -v ms="$d_ms" 'BEGIN { printf "%.0f", n / ms * 1000 }') targets/s."
    echo
    echo "## e. every ELF file under /usr"
    echo
    cat "$out/usr.md"
    echo
    echo "## f. images"
    echo
    cat "$out/emit-apache.md"
    echo
    cat "$out/emit-ffmpeg.md"
    echo
    echo "## Agreement with ld.so's trace on the $nfiles files"
    echo
    cat "$agreement"
    echo
    echo "## Agreement on $APACHE"
    echo
    cat "$apache_cmp"
} >"$report"

log "report: $report"
cat "$report"
