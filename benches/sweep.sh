#!/usr/bin/env bash
# Issue 18: defaults chosen by measurement. Word-level native training on
# ru_lit, one setting changed at a time from gensim's settings, scored on the
# fixed dev halves of the similarity sets (benches/split_eval.py).
#   PHASE=dev  SEEDS="1"      bash benches/sweep.sh   -> bench-out/sweep/dev.jsonl
#   PHASE=test SEEDS="1 2 3" CONFIGS="base chosen" CHOSEN="pairs args|train args" bash benches/sweep.sh
#                                                       -> bench-out/sweep/test.jsonl (+ gensim)
# Needs bench-out/data/corpus.txt (benches/compare.sh prep) and target/release/w2v.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${B:-target/release/w2v}
O=bench-out/sweep
CORPUS=bench-out/data/corpus.txt
PHASE=${PHASE:-dev}
THREADS=${THREADS:-2}
PY=.venv/bin/python
mkdir -p $O
python3 benches/split_eval.py ../shared/eval $O/eval > /dev/null

# name|pairs flags|train flags. The base row is gensim's settings (peers.py).
declare -A C=(
  [base]="|"
  [lr0.05]="|--lr 0.05"
  [lr0.075]="|--lr 0.075"
  [neg10]="|--negative 10"
  [neg15]="|--negative 15"
  [win3]="--window 3|"
  [win8]="--window 8|"
  [sample1e-4]="--sample 1e-4|"
  [sample1e-5]="--sample 1e-5|"
  [epochs10]="--epochs 10|--epochs 10"
  [ns0.5]="--ns-exponent 0.5|"
  [ns1.0]="--ns-exponent 1.0|"
  [mc3]="--min-count 3|"
  [mc10]="--min-count 10|"
  [chosen]="${CHOSEN:-|}"
)
CONFIGS=${CONFIGS:-base lr0.05 lr0.075 neg10 neg15 win3 win8 sample1e-4 sample1e-5 epochs10 ns0.5 ns1.0 mc3 mc10}

score() { # model half -> [simlex, hj] Spearman on that half
  $B eval --model "$1" --pairs $O/eval/$2/ru_simlex965.tsv $O/eval/$2/hj.csv --json --progress silent |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps([round(p["spearman"],4) for p in d["pairs"]]))'
}

for s in ${SEEDS:-1}; do
  for name in $CONFIGS; do
    IFS='|' read -r pflags tflags <<< "${C[$name]}"
    # Shards depend only on the pairs flags and the seed: build each set once.
    key=$(echo "p$pflags s$s" | md5sum | cut -c1-10)
    if [ ! -f $O/shards-$key/shards.manifest.json ]; then
      rm -rf $O/shards-* $O/vocab-*   # one set at a time: ru_lit's five draws take 0.5 GB
      $B pairs --corpus $CORPUS --vocab-dir $O/vocab-$key --shards-dir $O/shards-$key --seed $s --threads $THREADS --progress silent $pflags
    fi
    m=$O/model
    /usr/bin/time -f '{"wall_s": %e, "max_rss_kb": %M}' -o $O/time.json \
      $B train --shards $O/shards-$key -o $m --force --engine native --threads $THREADS --seed $s --progress silent $tflags
    row="{\"phase\": \"$PHASE\", \"config\": \"$name\", \"pairs_flags\": \"$pflags\", \"train_flags\": \"$tflags\", \"seed\": $s, \"time\": $(cat $O/time.json), \"dev\": $(score $m dev)"
    [ $PHASE = test ] && row="$row, \"test\": $(score $m test)"
    echo "$row}" | tee -a $O/$PHASE.jsonl
  done
  if [ $PHASE = test ]; then
    $PY benches/peers.py gensim $CORPUS $O/gensim.vec $THREADS $s > /dev/null
    rm -rf $O/model-gensim
    $B import $O/gensim.vec -o $O/model-gensim --progress silent
    echo "{\"phase\": \"test\", \"config\": \"gensim\", \"seed\": $s, \"dev\": $(score $O/model-gensim dev), \"test\": $(score $O/model-gensim test)}" | tee -a $O/test.jsonl
  fi
done
