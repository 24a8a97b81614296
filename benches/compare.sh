#!/usr/bin/env bash
# One runner that pits w2v against its peers on the same corpus and settings,
# side by side in one run. Results: bench-out/results.jsonl (+ a summary).
#   CORPUS=path/to/text.zst THREADS=2 bash benches/compare.sh [prep|train|neighbors|all]
# train: SEED (default 1), NATIVE_UPDATES (default "window pair"), PEERS
# (default "gensim fasttext"), TORCH_CPU=0 to skip the slow torch-CPU run.
set -euo pipefail
cd "$(dirname "$0")/.."
CORPUS=${CORPUS:-../shared/corpus/ru_lit.txt.zst}
EVAL=${EVAL:-../shared/eval}
THREADS=${THREADS:-2}
WHAT=${1:-all}
OUT=bench-out
B=target/release/w2v
PY=.venv/bin/python
mkdir -p "$OUT"
RES="$OUT/results.jsonl"
log() { echo "$1" | tee -a "$RES"; }
timed() { /usr/bin/time -f '{"wall_s": %e, "max_rss_kb": %M}' -o "$OUT/time.json" "$@"; cat "$OUT/time.json"; }
evaljson() { $B eval --model "$1" --pairs "$EVAL/ru_simlex965.tsv" "$EVAL/hj.csv" --json --progress silent | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)))'; }

[ -f "$OUT/raw.txt" ] || zstd -dc "$CORPUS" > "$OUT/raw.txt"

if [[ $WHAT == prep || $WHAT == all ]]; then
  # ROUNDS alternating runs (summarize.py prints their median ratio); each
  # starts after `sync`, so neither side pays
  # for the other's (or its own last run's) dirty pages being written back.
  for r in $(seq "${ROUNDS:-5}"); do
    sync
    t_ours=$(timed $B prep "$OUT/raw.txt" -o "$OUT/data/corpus.txt" --threads "$THREADS" --progress silent)
    sync
    t_py=$(timed $PY benches/py_normalize.py "$OUT/raw.txt" "$OUT/py_corpus.txt" | tail -1)
    log "{\"bench\": \"prep\", \"round\": $r, \"w2v\": $t_ours, \"python_regex\": $(cat $OUT/time.json)}"
  done
fi

if [[ $WHAT == train || $WHAT == all ]]; then
  [ -f "$OUT/data/corpus.txt" ] || $B prep "$OUT/raw.txt" -o "$OUT/data/corpus.txt" --progress silent
  $PY -c 'import fasttext' 2>/dev/null || $PY -m pip install -q fasttext-wheel
  t_pairs=$(timed $B pairs --corpus "$OUT/data/corpus.txt" --vocab-dir "$OUT/vocab" --shards-dir "$OUT/shards" --force --threads "$THREADS" --progress silent)
  pairs=$(python3 -c "import json;s=json.load(open('$OUT/shards/shards.manifest.json'))['summary'];print(json.dumps({k:s[k] for k in ['total_pairs','bytes_per_pair','pairs_per_s','corpus_tokens','elapsed_s']}))")
  log "{\"bench\": \"pairs\", \"time\": $t_pairs, \"figures\": $pairs}"
  # The native engine's updates: window (the default) and word2vec.c's pair.
  for upd in ${NATIVE_UPDATES:-window pair}; do
    m="$OUT/model-native"; [[ $upd == window ]] || m="$OUT/model-native-$upd"
    t_nat=$(timed $B train --shards "$OUT/shards" -o "$m" --engine native --native-update "$upd" --threads "$THREADS" --seed "${SEED:-1}" --progress silent)
    log "{\"bench\": \"train\", \"engine\": \"w2v-native-$upd\", \"time\": $t_nat, \"eval\": $(evaljson "$m")}"
  done
  for peer in ${PEERS:-gensim fasttext}; do
    t_peer=$(timed $PY benches/peers.py $peer "$OUT/data/corpus.txt" "$OUT/$peer.vec" "$THREADS" "${SEED:-1}" | tail -1)
    $B import "$OUT/$peer.vec" -o "$OUT/model-$peer" --progress silent
    log "{\"bench\": \"train\", \"engine\": \"$peer\", \"time\": $(cat $OUT/time.json), \"eval\": $(evaljson $OUT/model-$peer)}"
  done
  if [[ ${TORCH_CPU:-1} == 1 ]]; then
    t_torch=$(timed $B train --shards "$OUT/shards" -o "$OUT/model-torch" --engine torch --device cpu --threads "$THREADS" --progress silent)
    log "{\"bench\": \"train\", \"engine\": \"w2v-torch-cpu\", \"time\": $t_torch, \"eval\": $(evaljson $OUT/model-torch)}"
  fi
fi

if [[ $WHAT == neighbors || $WHAT == all ]]; then
  $PY benches/neighbors_model.py "$OUT/big" 2500000 128
  $B import "$OUT/big/vectors.bin" -o "$OUT/big/model" --progress silent
  cat "$OUT/big/model/input.npy" "$OUT/big/model/norms.npy" > /dev/null
  t_first=$(timed $B neighbors слово -k 10 --model "$OUT/big/model" --progress silent > /dev/null; cat $OUT/time.json)
  t_ours=$(timed $B neighbors слово -k 10 --model "$OUT/big/model" --progress silent > /dev/null; cat $OUT/time.json)
  t_gensim=$(timed $PY -c "
from gensim.models import KeyedVectors
kv = KeyedVectors.load_word2vec_format('$OUT/big/vectors.bin', binary=True)
print(kv.most_similar('слово', topn=10))" > /dev/null; cat $OUT/time.json)
  log "{\"bench\": \"neighbors\", \"vocab\": 2500000, \"dim\": 128, \"w2v_warm\": $t_ours, \"gensim_load_and_query\": $t_gensim}"
fi
$PY benches/summarize.py "$RES"
