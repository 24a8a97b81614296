#!/usr/bin/env bash
# Issue 4's design question: five fresh draws (one per epoch) against one
# frozen draw replayed five times, over seeds, with the native engine's
# default update. Needs bench-out/data/corpus.txt (benches/compare.sh prep).
#   SEEDS="1 2 3" bash benches/draws.sh   -> bench-out/seeds/results.jsonl
set -euo pipefail
cd "$(dirname "$0")/.."
B=target/release/w2v; E=../shared/eval; O=bench-out/seeds
mkdir -p $O
for s in ${SEEDS:-1 2 3}; do
  for arm in fresh frozen; do
    ep=5; [ $arm = frozen ] && ep=1
    $B pairs --corpus bench-out/data/corpus.txt --vocab-dir $O/vocab-$arm-$s --shards-dir $O/shards-$arm-$s --epochs $ep --seed $s --force --threads 2 --progress silent
    /usr/bin/time -f '{"wall_s": %e, "max_rss_kb": %M}' -o $O/time.json $B train --shards $O/shards-$arm-$s -o $O/model-$arm-$s --engine native --threads 2 --epochs 5 --seed $s --progress silent
    r=$($B eval --model $O/model-$arm-$s --pairs $E/ru_simlex965.tsv $E/hj.csv --json --progress silent | python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps([p["spearman"] for p in d["pairs"]]))')
    echo "{\"arm\": \"$arm\", \"seed\": $s, \"time\": $(cat $O/time.json), \"spearman\": $r}" >> $O/results.jsonl
    rm -rf $O/shards-$arm-$s
  done
done
