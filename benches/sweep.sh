#!/usr/bin/env bash
# Issue 18: defaults chosen by measurement. Native training on ru_lit from the
# token stream (train --corpus; session 9 measured it equal in quality to the
# shards), one setting changed at a time from gensim's settings, scored on the
# fixed dev halves of the similarity sets (benches/split_eval.py).
#   PHASE=dev  SEEDS="1"      bash benches/sweep.sh   -> bench-out/sweep/dev.jsonl
#   PHASE=test SEEDS="1 2 3" CONFIGS="base chosen" CHOSEN="vocab args|train args" bash benches/sweep.sh
#                                                       -> bench-out/sweep/test.jsonl (+ gensim)
#   SUBWORDS=1 adds --subwords 4-6 --buckets 2000000 --lr 0.05 to every row (4-6 is the default range
#   since session 19; sessions 15-18 ran these rows at 3-6, the ng3-6 row) (-> dev-sub.jsonl / test-sub.jsonl;
#   a row's own --lr replaces that one); it can run beside a word-level sweep
# Needs bench-out/data/corpus.txt (benches/compare.sh prep) and a release w2v
# (B=..., default target/release/w2v; copy it aside if you rebuild meanwhile).
set -euo pipefail
cd "$(dirname "$0")/.."
B=${B:-target/release/w2v}
O=bench-out/sweep
CORPUS=bench-out/data/corpus.txt
PHASE=${PHASE:-dev}
THREADS=${THREADS:-2}
PY=.venv/bin/python
SUB=""
TAG=""
if [ "${SUBWORDS:-0}" = 1 ]; then
  # fastText's learning rate, as benches/subwords.sh uses.
  SUB="--subwords 4-6 --buckets 2000000 --lr 0.05"
  TAG="-sub"
fi
OUT=$O/$PHASE$TAG.jsonl
mkdir -p $O
python3 benches/split_eval.py ../shared/eval $O/eval > /dev/null

# name|vocab flags|train flags. The base row is gensim's settings (peers.py).
declare -A C=(
  [base]="|"
  [lr0.025]="|--lr 0.025"
  [lr0.05]="|--lr 0.05"
  [lr0.075]="|--lr 0.075"
  [lr0.1]="|--lr 0.1"
  [neg10]="|--negative 10"
  [neg15]="|--negative 15"
  [win2]="|--window 2"
  [win3]="|--window 3"
  [win8]="|--window 8"
  [sample1e-4]="|--sample 1e-4"
  [sample1e-5]="|--sample 1e-5"
  [epochs10]="|--epochs 10"
  [epochs15]="|--epochs 15"
  [ns0.5]="--ns-exponent 0.5|"
  [ns1.0]="--ns-exponent 1.0|"
  [mc3]="--min-count 3|"
  [mc10]="--min-count 10|"
  # Second round: the first round's winners together.
  [e10win8]="|--epochs 10 --window 8"
  [e10neg10]="|--epochs 10 --negative 10"
  [e10lr0.035]="|--epochs 10 --lr 0.035"
  # Subword rows only: the n-gram range (replaces the rows' 4-6) and the width.
  [ng2-5]="|--subwords 2-5"
  [ng3-5]="|--subwords 3-5"
  [ng4-6]="|--subwords 4-6"
  [ng2-6]="|--subwords 2-6"
  [ng3-6]="|--subwords 3-6"
  [dim100]="|--dim 100"
  [dim200]="|--dim 200"
  [chosen]="${CHOSEN:-|}"
)
CONFIGS=${CONFIGS:-base lr0.05 lr0.075 lr0.1 neg10 neg15 win2 win3 win8 sample1e-4 sample1e-5 epochs10 epochs15 ns0.5 ns1.0 mc3 mc10}

score() { # model half -> [[simlex, found], [hj, found]] on that half
  $B eval --model "$1" --pairs $O/eval/$2/ru_simlex965.tsv $O/eval/$2/hj.csv --json --progress silent |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps([[round(p["spearman"],4), p["found"]] for p in d["pairs"]]))'
}

for s in ${SEEDS:-1}; do
  for name in $CONFIGS; do
    IFS='|' read -r vflags tflags <<< "${C[$name]}"
    # The vocabulary (and corpus.ids) depends only on the vocab flags.
    key=$(echo "v$vflags" | md5sum | cut -c1-10)
    if [ ! -f $O/vocab-$key/corpus.ids ]; then
      $B vocab --corpus $CORPUS --vocab-dir $O/vocab-$key --threads $THREADS --progress silent --top 0 $vflags > /dev/null
    fi
    m=$O/model$TAG
    # A row's own --lr replaces the subword rows' 0.05 (clap takes a flag once).
    sub=$SUB
    [[ $tflags == *--lr* ]] && sub=${sub/--lr 0.05/}
    # So does a row's own --subwords range.
    [[ $tflags == *--subwords* ]] && sub=${sub/--subwords 4-6/}
    /usr/bin/time -f '{"wall_s": %e, "user_s": %U, "max_rss_kb": %M}' -o $O/time$TAG.json \
      $B train --corpus $O/vocab-$key/corpus.ids -o $m --force --engine native --threads $THREADS --seed $s --progress silent $sub $tflags
    row="{\"phase\": \"$PHASE\", \"config\": \"$name\", \"subwords\": \"$SUB\", \"vocab_flags\": \"$vflags\", \"train_flags\": \"$tflags\", \"seed\": $s, \"time\": $(cat $O/time$TAG.json), \"dev\": $(score $m dev)"
    [ $PHASE = test ] && row="$row, \"test\": $(score $m test)"
    echo "$row}" | tee -a $OUT
  done
  if [ $PHASE = test ] && [ -z "$SUB" ]; then
    $PY benches/peers.py gensim $CORPUS $O/gensim.vec $THREADS $s > /dev/null
    rm -rf $O/model-gensim
    $B import $O/gensim.vec -o $O/model-gensim --progress silent
    echo "{\"phase\": \"test\", \"config\": \"gensim\", \"seed\": $s, \"dev\": $(score $O/model-gensim dev), \"test\": $(score $O/model-gensim test)}" | tee -a $OUT
  fi
done
