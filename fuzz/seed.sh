#!/usr/bin/env bash
# Builds the seed corpora of the fuzz targets in fuzz/corpus/TARGET/ (not committed: the
# seeds are this machine's files) from the repository's fixtures, a few small host files and
# an image depclose writes. Run from anywhere; needs fixtures/scenarios (fixtures/build.sh)
# and builds target/debug/depclose if missing. Files the host lacks are skipped.
#
#   fuzz/seed.sh && cargo +nightly fuzz run elf_headers -- -max_total_time=180
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
corpus=$here/corpus
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# seed TARGET FILE...: copy each existing regular file under a name that is its content's
# hash (as libFuzzer names its corpus), so reruns add nothing twice.
seed() {
    local target=$1 f
    shift
    mkdir -p "$corpus/$target"
    for f in "$@"; do
        [[ -f $f ]] || continue
        cp "$f" "$corpus/$target/$(sha1sum <"$f" | cut -c1-40)"
    done
}

# A file made of the given files joined by NUL bytes: the config targets read the first part
# as the main file and the others as the files its includes may name.
joined() {
    local out f first=1
    out=$(mktemp -p "$tmp")
    for f in "$@"; do
        [[ -f $f ]] || continue
        ((first)) || printf '\0' >>"$out"
        cat "$f" >>"$out"
        first=0
    done
    echo "$out"
}

mapfile -t elves < <(find "$repo/fixtures/scenarios" -type f -size -64k -exec sh -c \
    'head -c4 "$1" | grep -q "^.ELF" && echo "$1"' _ {} \;)
mapfile -t scripts < <(find "$repo/fixtures/scenarios" -type f -size -4k -exec sh -c \
    'head -c2 "$1" | grep -q "^#!" && echo "$1"' _ {} \;)
host_elves=(/usr/bin/true /usr/bin/env /lib/x86_64-linux-gnu/libz.so.1)
seed elf_headers "${elves[@]}" "${scripts[@]}" "${host_elves[@]}"
seed elf_audit "${elves[@]}" "${host_elves[@]}"

seed ld_so_cache /etc/ld.so.cache
seed ld_so_conf /etc/ld.so.conf /etc/ld.so.conf.d/*.conf \
    "$(joined /etc/ld.so.conf /etc/ld.so.conf.d/*.conf)"

a=/etc/apache2
seed apache_config "$a/apache2.conf" "$a/ports.conf" "$a"/mods-available/*.conf \
    "$a"/sites-available/*.conf "$(joined "$a/apache2.conf" "$a/ports.conf" \
    "$a/mods-available/mime.conf" "$a/sites-available/000-default.conf")"
n=/etc/nginx
seed nginx_config "$n/nginx.conf" "$n"/sites-available/* "$n"/snippets/* \
    "$(joined "$n/nginx.conf" "$n"/conf.d/*.conf "$n/sites-available/default")"

seed nsswitch /etc/nsswitch.conf
g=/usr/lib/x86_64-linux-gnu/gconv
seed gconv_modules "$g/gconv-modules" "$g"/gconv-modules.d/*.conf

depclose=$repo/target/debug/depclose
[[ -x $depclose ]] || cargo build --manifest-path "$repo/Cargo.toml" --bin depclose
# A small image (a static fixture program, no defaults) and a usual one.
"$depclose" "$repo/fixtures/scenarios/static/bin/"* --no-defaults --emit "$tmp/static.tar"
"$depclose" /usr/bin/true --emit "$tmp/true.tar"
seed image_tar "$tmp/static.tar" "$tmp/true.tar"

for t in "$corpus"/*/; do
    printf '%s: %s files\n' "$(basename "$t")" "$(find "$t" -type f | wc -l)"
done
