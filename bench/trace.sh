#!/usr/bin/env bash
# The cost of `depclose --trace`: each command alone, under depclose's trace (listing only,
# and with --trace-files), and under strace following every process (all calls; and only the
# calls depclose reads, with strace's own seccomp filter). Results: docs/benchmarks.md.
#
#   bench/trace.sh [OUT_DIR]          (default: a new directory under /tmp)
#
# Needs: hyperfine, strace, git (Debian's /usr/bin/git), python3 (/usr/bin/python3), cargo.
# RUNS (default 10) sets hyperfine's --runs.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$(mktemp -d /tmp/depclose-trace-bench.XXXXXX)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
RUNS=${RUNS:-10}
DEPCLOSE=$repo/target/release/depclose
GIT=/usr/bin/git
PY=/usr/bin/python3

die() {
    echo "bench/trace.sh: $*" >&2
    exit 1
}
for t in hyperfine strace cargo; do
    command -v "$t" >/dev/null || die "$t not found (apt-get install -y hyperfine strace)"
done
[[ -x $GIT ]] || die "$GIT not found (apt-get install -y git)"
[[ -x $PY ]] || die "$PY not found (apt-get install -y python3)"
cargo build --release --quiet --manifest-path "$repo/Cargo.toml"

# A repository to clone: 200 small files in 20 commits.
src=$out/src
rm -rf "$src" && mkdir -p "$src"
"$GIT" -C "$src" init -q
for c in $(seq 1 20); do
    for f in $(seq 1 10); do echo "$c $f" >"$src/f$c-$f"; done
    "$GIT" -C "$src" add -A
    "$GIT" -C "$src" -c user.name=b -c user.email=b@b commit -qm "$c"
done

# name|command (the clone's destination is removed before each run)
workloads=(
    "dd: 400,000 read/write calls|dd if=/dev/zero of=/dev/null bs=1 count=200000 status=none"
    "python3 -c 'import json'|$PY -c 'import json'"
    "git clone --no-local (200 files)|$GIT clone -q --no-local $src $out/dst"
)
# The calls depclose reads, for strace's filtered run.
calls=open,openat,openat2,execve,execveat,mmap,getdents64,stat,lstat,newfstatat,statx,access,faccessat,faccessat2

report=$out/report.md
{
    echo "| workload | command | mean [ms] | σ [ms] | relative |"
    echo "|---|---|---|---|---|"
} >"$report"
for w in "${workloads[@]}"; do
    name=${w%%|*}
    cmd=${w#*|}
    json=$out/$(echo "$name" | tr -c 'a-z0-9' '_').json
    hyperfine -N --warmup 1 --runs "$RUNS" --prepare "rm -rf $out/dst" --export-json "$json" \
        -n "alone" "$cmd" \
        -n "depclose --trace" "$DEPCLOSE --trace -- $cmd" \
        -n "depclose --trace --trace-files" "$DEPCLOSE --trace --trace-files -- $cmd" \
        -n "strace -f (every call)" "strace -f -qq -o /dev/null $cmd" \
        -n "strace -f --seccomp-bpf (those calls)" "strace -f -qq --seccomp-bpf -e trace=$calls -o /dev/null $cmd" \
        >&2
    jq -r --arg w "$name" '.results as $r | ($r[0].mean) as $base | $r[] |
        "| \($w) | \(.command) | \(.mean * 1000 | . * 10 | round / 10) | \(.stddev * 1000 | . * 10 | round / 10) | \(.mean / $base | . * 100 | round / 100) |"' \
        "$json" >>"$report"
done
echo "wrote $report" >&2
cat "$report"
