#!/usr/bin/env bash
# Issue 18: the subword model over several seeds, scored on the full sets
# (full coverage, as the bar is stated) and on the dev/test halves, with
# fastText's subword skipgram once in the same run (its Python API takes no
# seed). Settings as benches/subwords.sh: dim 128 (fastText's 100 is not
# used by either), window 5, negative 5, sample 1e-3, min_count 5, 5 epochs,
# lr 0.05, n-grams 3-6 in 2M buckets, 2 threads.
#   B=bench-out/bin/w2v SEEDS="1 2 3" ARMS="0.75 0.5" FASTTEXT=1 bash benches/subword_seeds.sh
#     -> bench-out/subword_seeds.jsonl (one row per run; ARMS are ns exponents)
# Needs bench-out/data/corpus.txt (benches/compare.sh prep).
set -euo pipefail
cd "$(dirname "$0")/.."
B=${B:-target/release/w2v}
EVAL=${EVAL:-../shared/eval}
THREADS=${THREADS:-2}
EPOCHS=${EPOCHS:-5}
CORPUS=bench-out/data/corpus.txt
O=bench-out/subseeds
PY=.venv/bin/python
RES=bench-out/subword_seeds.jsonl
LABEL=${LABEL:-$(basename "$B")}
mkdir -p $O
python3 benches/split_eval.py "$EVAL" $O/eval > /dev/null
[ -f $O/vocab/corpus.ids ] || $B vocab --corpus $CORPUS --vocab-dir $O/vocab --threads $THREADS --progress silent --top 0 > /dev/null
score() { # model [half] -> [[spearman, in_vocab, found], ...]
  local d=$EVAL
  [ -n "${2:-}" ] && d=$O/eval/$2
  $B eval --model "$1" --pairs $d/ru_simlex965.tsv $d/hj.csv --json --progress silent |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps([[round(p["spearman"],4), round((p.get("in_vocab") or {}).get("spearman", p["spearman"]),4), p["found"]] for p in d["pairs"]]))'
}
row() { echo "{\"label\": \"$LABEL\", \"arm\": \"$1\", \"seed\": $2, \"time\": $(cat $O/time.json), \"full\": $(score $3), \"dev\": $(score $3 dev), \"test\": $(score $3 test)}" | tee -a $RES; }
tokens=$(python3 -c "import json;print(json.load(open('$O/vocab/vocab.manifest.json'))['summary']['n_tokens'])")
for s in ${SEEDS:-1 2 3}; do
  for ns in ${ARMS:-0.75 0.5}; do
    sync
    /usr/bin/time -f '{"wall_s": %e, "user_s": %U, "max_rss_kb": %M}' -o $O/time.json \
      $B train --corpus $O/vocab/corpus.ids -o $O/model --force --engine native --threads $THREADS --seed $s \
        --epochs $EPOCHS --lr 0.05 --subwords 3-6 --buckets 2000000 --ns-exponent $ns --progress silent
    row "w2v ns$ns" $s $O/model
  done
done
if [ "${FASTTEXT:-0}" = 1 ]; then
  $PY -c 'import fasttext' 2>/dev/null || $PY -m pip install -q fasttext-wheel
  # The eval words as the corpus spells them, for fastText's composed vectors.
  python3 - "$EVAL/ru_simlex965.tsv" "$EVAL/hj.csv" > $O/eval_words.txt <<'PY'
import csv, sys
words = set()
for path in sys.argv[1:]:
    with open(path, newline="") as f:
        for r in csv.reader(f, delimiter="\t" if path.endswith(".tsv") else ","):
            for w in r[:2]:
                w = w.strip().lower().replace("ё", "е")
                if w and w.isalpha():
                    words.add(w)
print("\n".join(sorted(words)))
PY
  sync
  EXTRA_WORDS=$O/eval_words.txt /usr/bin/time -f '{"wall_s": %e, "user_s": %U, "max_rss_kb": %M}' -o $O/time.json \
    $PY benches/peers.py fasttext-sub $CORPUS $O/ft-sub.vec $THREADS > /dev/null
  $B import $O/ft-sub.full.vec -o $O/model-ft --force --progress silent
  LABEL=fasttext row "fasttext" 0 $O/model-ft
fi
echo "tokens per epoch: $tokens"
