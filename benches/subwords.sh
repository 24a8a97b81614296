#!/usr/bin/env bash
# Issue 18: w2v's subword model against fastText's (fasttext-wheel), same
# corpus, same threads, one run, interleaved. Settings are fastText's
# skipgram ones where the two differ (lr 0.05), and otherwise the bench's:
# dim 128, window 5, negative 5, sample 1e-3, min_count 5, 5 epochs, 2M
# buckets. n-grams: w2v at its default 4-6 (W2V_NGRAMS=3-6 for equal
# settings; sessions 8-15 ran 3-6), fastText at the issue's -minn 3 -maxn 6
# (NGRAMS=4-6 in peers.py moves it). Both are scored at full coverage: fastText's vectors
# for out-of-vocabulary eval words are composed by fastText itself
# (peers.py EXTRA_WORDS), ours by `w2v eval` on the subword model.
# ARMS="w2v fasttext gensim-fasttext" adds gensim's FastText (sg=1, same
# n-grams and settings as the fastText arm); the default is w2v and fastText.
#   THREADS=2 EPOCHS=5 bash benches/subwords.sh   ->  bench-out/subwords.jsonl
set -euo pipefail
cd "$(dirname "$0")/.."
CORPUS=${CORPUS:-../shared/corpus/ru_lit.txt.zst}
EVAL=${EVAL:-../shared/eval}
THREADS=${THREADS:-2}
EPOCHS=${EPOCHS:-5}
LR=${LR:-0.05}
OUT=bench-out
O=$OUT/sub
B=target/release/w2v
PY=.venv/bin/python
mkdir -p "$O"
RES="$OUT/subwords.jsonl"
log() { echo "$1" | tee -a "$RES"; }
timed() { /usr/bin/time -f '{"wall_s": %e, "user_s": %U, "max_rss_kb": %M}' -o "$O/time.json" "$@" >/dev/null; cat "$O/time.json"; }
evaljson() { $B eval --model "$1" --pairs "$EVAL/ru_simlex965.tsv" "$EVAL/hj.csv" --json --progress silent | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)))'; }
$PY -c 'import fasttext' 2>/dev/null || $PY -m pip install -q fasttext-wheel

[ -f "$OUT/raw.txt" ] || zstd -dc "$CORPUS" > "$OUT/raw.txt"
[ -f "$OUT/data/corpus.txt" ] || $B prep "$OUT/raw.txt" -o "$OUT/data/corpus.txt" --progress silent
[ -f "$O/vocab/corpus.ids" ] || $B vocab --corpus "$OUT/data/corpus.txt" --vocab-dir "$O/vocab" --threads "$THREADS" --progress silent --top 0 >/dev/null
# The eval words as the corpus spells them (lowercase, ё folded), for fastText's composed vectors.
python3 - "$EVAL/ru_simlex965.tsv" "$EVAL/hj.csv" >"$O/eval_words.txt" <<'PY'
import csv, sys
words = set()
for path in sys.argv[1:]:
    with open(path, newline="") as f:
        rows = csv.reader(f, delimiter="\t" if path.endswith(".tsv") else ",")
        for r in rows:
            for w in r[:2]:
                w = w.strip().lower().replace("ё", "е")
                if w and w.isalpha():
                    words.add(w)
print("\n".join(sorted(words)))
PY
tokens=$(python3 -c "import json;print(json.load(open('$O/vocab/vocab.manifest.json'))['summary']['n_tokens'])")
for arm in ${ARMS:-w2v fasttext}; do
  sync
  if [[ $arm == w2v ]]; then
    t=$(timed $B train --corpus "$O/vocab/corpus.ids" -o "$O/model-w2v" --force --engine native --threads "$THREADS" --epochs "$EPOCHS" --lr "$LR" --subwords "${W2V_NGRAMS:-4-6}" --buckets 2000000 --progress silent)
    ev=$(evaljson "$O/model-w2v")
    iv=null # in the eval's in_vocab
  else
    # fastText (fasttext-wheel) or gensim's FastText: the vocabulary with
    # the eval words composed (full coverage), and the vocabulary alone
    # (the in-vocabulary score).
    peer=fasttext-sub
    [[ $arm == gensim-fasttext ]] && peer=gensim-fasttext
    t=$(EXTRA_WORDS="$O/eval_words.txt" timed $PY benches/peers.py $peer "$OUT/data/corpus.txt" "$O/$arm.vec" "$THREADS")
    $B import "$O/$arm.full.vec" -o "$O/model-$arm" --force --progress silent
    ev=$(evaljson "$O/model-$arm")
    $B import "$O/$arm.vec" -o "$O/model-$arm-iv" --force --progress silent
    iv=$(evaljson "$O/model-$arm-iv")
  fi
  log "{\"bench\": \"subwords\", \"arm\": \"$arm\", \"threads\": $THREADS, \"epochs\": $EPOCHS, \"lr\": $LR, \"tokens\": $tokens, \"time\": $t, \"eval\": $ev, \"eval_in_vocab\": $iv}"
done
python3 - "$RES" "${ARMS:-w2v fasttext}" <<'PY'
import json, sys
arms = sys.argv[2].split()
rows = [json.loads(l) for l in open(sys.argv[1]) if '"subwords"' in l][-len(arms):]
by = {r["arm"]: r for r in rows}
for a, r in by.items():
    ws = r["tokens"] * r["epochs"] / r["time"]["wall_s"]
    sc = {e["file"].split("/")[-1]: (round(e["spearman"], 4), e.get("coverage")) for e in r["eval"]["pairs"]}
    if r.get("eval_in_vocab"):
        iv = {e["file"].split("/")[-1]: (round(e["spearman"], 4), e["found"]) for e in r["eval_in_vocab"]["pairs"]}
    else:
        iv = {e["file"].split("/")[-1]: (round(e["in_vocab"]["spearman"], 4), e["in_vocab"]["found"]) for e in r["eval"]["pairs"]}
    print(a, f"wall {r['time']['wall_s']} s, user {r['time']['user_s']} s, rss {r['time']['max_rss_kb'] / 1e6:.2f} GB, {ws:,.0f} words/s", "full", sc, "in-vocab", iv)
for peer in by:
    if peer != "w2v" and "w2v" in by:
        print(f"w2v vs {peer} words/s (wall):", round(by[peer]["time"]["wall_s"] / by["w2v"]["time"]["wall_s"], 2))
PY
