#!/usr/bin/env bash
# Native training from shards vs from the token stream (issue 17), side by
# side in one run on the same corpus, settings and seeds.
#   CORPUS=path/to/text.zst THREADS=2 SEEDS="1 2 3" [DRAW_PER_SEED=1] bash benches/stream.sh
# Arms, per seed (interleaved): shards = `pairs` (5 draws) + `train --shards`;
# stream = `vocab` (writes vocab/corpus.ids) + `train --corpus`. Settings are
# the defaults, gensim's (dim 128, window 5, negative 5, sample 1e-3,
# min_count 5, 5 epochs). Results: bench-out/stream.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
CORPUS=${CORPUS:-../shared/corpus/ru_lit.txt.zst}
EVAL=${EVAL:-../shared/eval}
THREADS=${THREADS:-2}
SEEDS=${SEEDS:-1 2 3}
OUT=bench-out
B=target/release/w2v
mkdir -p "$OUT"
RES="$OUT/stream.jsonl"
log() { echo "$1" | tee -a "$RES"; }
timed() { /usr/bin/time -f '{"wall_s": %e, "max_rss_kb": %M}' -o "$OUT/time.json" "$@"; cat "$OUT/time.json"; }
evaljson() { $B eval --model "$1" --pairs "$EVAL/ru_simlex965.tsv" "$EVAL/hj.csv" --json --progress silent | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)))'; }
summary() { python3 -c "import json,sys; m=json.load(open('$1/model.manifest.json'))['summary']; print(json.dumps({k:m[k] for k in ['seconds','total_pairs','pairs_per_s','input_wait_s','engine']}))"; }

[ -f "$OUT/raw.txt" ] || zstd -dc "$CORPUS" > "$OUT/raw.txt"
[ -f "$OUT/data/corpus.txt" ] || $B prep "$OUT/raw.txt" -o "$OUT/data/corpus.txt" --progress silent

# Inputs of each arm (timed once): the shards (no corpus.ids), and the vocabulary with corpus.ids.
sync
t_pairs=$(timed $B pairs --corpus "$OUT/data/corpus.txt" --vocab-dir "$OUT/vocab-shards" --shards-dir "$OUT/shards" --no-corpus-ids --force --threads "$THREADS" --progress silent)
sync
t_vocab_noids=$(timed $B vocab --corpus "$OUT/data/corpus.txt" --vocab-dir "$OUT/vocab-noids" --no-corpus-ids --threads "$THREADS" --progress silent --top 0 > /dev/null; cat "$OUT/time.json")
sync
t_vocab=$(timed $B vocab --corpus "$OUT/data/corpus.txt" --vocab-dir "$OUT/vocab-stream" --threads "$THREADS" --progress silent --top 0 > /dev/null; cat "$OUT/time.json")
disk=$(python3 -c "
import json,os
s=json.load(open('$OUT/shards/shards.manifest.json'))['summary']
v=json.load(open('$OUT/vocab-stream/vocab.manifest.json'))['summary']
ids=os.path.getsize('$OUT/vocab-stream/corpus.ids')
print(json.dumps({'shards_bytes': s['bytes_on_disk'], 'shards_pairs': s['total_pairs'], 'ids_bytes': ids, 'ratio': s['bytes_on_disk']/ids, 'n_tokens_covered': v['n_tokens_covered'], 'corpus_ids_s': v['corpus_ids_s']}))")
log "{\"bench\": \"stream-inputs\", \"pairs\": $t_pairs, \"vocab_without_ids\": $t_vocab_noids, \"vocab_with_ids\": $t_vocab, \"disk\": $disk}"

for seed in $SEEDS; do
  # DRAW_PER_SEED=1: the shards are drawn again with each seed, so the
  # shard arm's seeds vary the draws as the stream's do (by default all of
  # its seeds train on the one draw made above).
  if [[ ${DRAW_PER_SEED:-0} == 1 ]]; then
    $B pairs --corpus "$OUT/data/corpus.txt" --vocab-dir "$OUT/vocab-shards" --shards-dir "$OUT/shards" --no-corpus-ids --force --threads "$THREADS" --seed "$seed" --progress silent
  fi
  for arm in shards stream; do
    m="$OUT/model-$arm-$seed"
    if [[ $arm == shards ]]; then in=(--shards "$OUT/shards"); else in=(--corpus "$OUT/vocab-stream/corpus.ids"); fi
    sync
    t=$(timed $B train "${in[@]}" -o "$m" --force --engine native --threads "$THREADS" --seed "$seed" --progress silent)
    log "{\"bench\": \"stream-train\", \"arm\": \"$arm\", \"seed\": $seed, \"time\": $t, \"summary\": $(summary "$m"), \"eval\": $(evaljson "$m")}"
  done
done
