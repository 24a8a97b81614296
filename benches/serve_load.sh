#!/usr/bin/env bash
# Load bench for `w2v serve` (BENCHMARKS.md, "serve"): start the server on a
# free loopback port over MODEL, time its start-up, then send N neighbour
# requests (k=10) from C concurrent clients (examples/serve_load.rs), words
# taken in turn from the 10,000 most frequent. RSS is read after a warm-up
# of 200 requests and after the run. Loopback only; bounded in count and
# time (MAX_SECS per run).
#
#   bash benches/serve_load.sh [MODEL] [N=2000] [C=16] [MAX_SECS=300] [EXTRA_QUERY...]
# e.g. bash benches/serve_load.sh bench-out/scale/big/model 2000 16 300 "" restrict=1000000
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-model}
N=${2:-2000}
C=${3:-16}
MAX_SECS=${4:-300}
shift $(( $# < 4 ? $# : 4 ))
EXTRAS=("$@")
[ ${#EXTRAS[@]} -gt 0 ] || EXTRAS=("")
TARGET=${CARGO_TARGET_DIR:-target}
cargo build --release --bin w2v --example serve_load >&2
BIN=$TARGET/release/w2v
LOAD=$TARGET/release/examples/serve_load

tmp=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
head -n 10000 "$MODEL/words.txt" > "$tmp/words"

t0=$(date +%s.%N)
"$BIN" serve --model "$MODEL" --addr 127.0.0.1:0 --progress silent > "$tmp/out" 2> "$tmp/err" &
pid=$!
until grep -q "listening on" "$tmp/out"; do
    kill -0 $pid 2>/dev/null || { cat "$tmp/err" >&2; exit 1; }
    sleep 0.05
done
t1=$(date +%s.%N)
url=$(sed -n 's/.*listening on \(http:[^ ]*\)\/$/\1/p' "$tmp/out")
rss() { awk '/VmRSS/ {print $2}' /proc/$pid/status; }
echo "model $MODEL: $(wc -l < "$MODEL/words.txt") words; start-up (open + word index) $(echo "$t1 - $t0" | bc) s; RSS at start $(rss) kB"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for extra in "${EXTRAS[@]}"; do
    "$LOAD" "$url" "$tmp/words" 200 "$C" 10 "$MAX_SECS" "$extra" > /dev/null
    before=$(rss)
    "$LOAD" "$url" "$tmp/words" "$N" "$C" 10 "$MAX_SECS" "$extra"
    after=$(rss)
    echo "  RSS after warm-up $before kB, after the run $after kB ($(echo "scale=2; 100 * ($after - $before) / $before" | bc)%)"
done
