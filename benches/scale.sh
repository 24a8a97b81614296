#!/usr/bin/env bash
# Scale benchmark (issue #15): every stage on ru_lit (the small run) and on a
# Taiga-sized synthetic corpus, one after the other in one run on one machine.
# Per stage it records wall time, peak RSS (GNU time) and bytes written, and
# at the end the per-token cost of each stage at scale relative to ru_lit.
#
#   bash benches/scale.sh            # 1B tokens, 2.8M types (the heavy tail)
#   TOKENS=100000000 bash benches/scale.sh
#
# Outputs go to $DIR (default bench-out/scale); results to $DIR/results.jsonl.
# Disk needed at 1B tokens: about 9 GB for the raw text (deleted after prep),
# 8 GB for the corpus, 14 GB for one draw of shards, 4.5 GB for the model and
# its checkpoint. Set KEEP_RAW=1 to keep the raw text.
set -euo pipefail
cd "$(dirname "$0")/.."
W2V=${W2V:-target/release/w2v}
DIR=${DIR:-bench-out/scale}
TOKENS=${TOKENS:-1000000000}
TYPES=${TYPES:-2800000}
THREADS=${THREADS:-2}
SEED=${SEED:-1}
RU_LIT=${RU_LIT:-../shared/corpus/ru_lit.txt.zst}
STAGES=${STAGES:-"small big"}
mkdir -p "$DIR"
RES="$DIR/results.jsonl"

# run NAME SIZE_NAME OUTPUT... -- CMD: times CMD, records wall/RSS/disk.
run() {
  local name=$1 run=$2; shift 2
  local outs=()
  while [ "$1" != "--" ]; do outs+=("$1"); shift; done
  shift
  echo "== $run $name: $*" >&2
  sync
  /usr/bin/time -f "%e %M" -o "$DIR/.time" "$@" --progress plain 2> >(tail -n 3 >&2)
  local wall rss disk
  read -r wall rss < "$DIR/.time"
  disk=0
  if [ ${#outs[@]} -gt 0 ]; then
    disk=$(du -sb "${outs[@]}" 2>/dev/null | awk '{s+=$1} END {printf "%.0f", s}')
  fi
  echo "{\"run\":\"$run\",\"stage\":\"$name\",\"wall_s\":$wall,\"peak_rss_kb\":$rss,\"disk_bytes\":$disk}" | tee -a "$RES" >&2
}

pipeline() {
  local run=$1 raw=$2
  local d="$DIR/$run"
  mkdir -p "$d"
  run prep "$run" "$d/corpus.txt" -- "$W2V" prep "$raw" -o "$d/corpus.txt" --threads "$THREADS" --seed "$SEED"
  if [ "$run" = big ] && [ -z "${KEEP_RAW:-}" ]; then rm -f "$raw"; fi
  run vocab "$run" "$d/vocab" -- "$W2V" vocab --corpus "$d/corpus.txt" --vocab-dir "$d/vocab" --threads "$THREADS" --seed "$SEED" --top 3
  run pairs "$run" "$d/shards" -- "$W2V" pairs --corpus "$d/corpus.txt" --vocab-dir "$d/vocab-p" --shards-dir "$d/shards" --epochs 1 --threads "$THREADS" --seed "$SEED" --force
  run train "$run" "$d/model" -- "$W2V" train --shards "$d/shards" -o "$d/model" --engine native --threads "$THREADS" --epochs 1 --seed "$SEED"
  local w
  w=$(sed -n 200p "$d/model/words.txt")
  run neighbors "$run" -- "$W2V" neighbors "$w" --model "$d/model" -k 10
  run analogy "$run" -- "$W2V" analogy "$w" "$(sed -n 300p "$d/model/words.txt")" "$(sed -n 400p "$d/model/words.txt")" --model "$d/model"
}

for s in $STAGES; do
  case $s in
    small)
      raw="$DIR/ru_lit.txt"
      [ -s "$raw" ] || zstd -dqc "$RU_LIT" > "$raw"
      pipeline small "$raw"
      ;;
    big)
      raw="$DIR/synth.txt"
      run synth big "$raw" -- "$W2V" synth --tokens "$TOKENS" --types "$TYPES" --seed "$SEED" --out "$raw"
      cp "$DIR/synth.groups.json" "$DIR/big.groups.json"
      pipeline big "$raw"
      run eval-groups big -- "$W2V" eval --groups "$DIR/big.groups.json" --model "$DIR/big/model"
      ;;
    prune)
      # --max-table-types below the types seen: kept counts against exact.
      run vocab-pruned big "$DIR/big/vocab-pruned" -- "$W2V" vocab --corpus "$DIR/big/corpus.txt" --vocab-dir "$DIR/big/vocab-pruned" --threads "$THREADS" --seed "$SEED" --top 3 --max-table-types "${PRUNE_TYPES:-2000000}"
      .venv/bin/python benches/compare_counts.py "$DIR/big/vocab" "$DIR/big/vocab-pruned" | tee -a "$RES" >&2
      ;;
  esac
done
echo "results: $RES" >&2
