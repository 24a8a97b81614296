#!/usr/bin/env bash
# A/B: huge-page tables (default) vs W2V_HUGE_PAGES=0, interleaved, same binary.
# Needs bench-out/vocab-stream/corpus.ids (benches/stream.sh builds it) and a release build.
cd "$(dirname "$0")/.."; mkdir -p bench-out/huge
B=${B:-target/release/w2v}
for r in 1 2; do
 for kind in word sub; do
  for arm in huge plain; do
   if [ $arm = plain ]; then export W2V_HUGE_PAGES=0; else unset W2V_HUGE_PAGES; fi
   if [ $kind = sub ]; then extra="--epochs 1 --subwords 3-6 --buckets 2000000 --lr 0.05"; else extra="--epochs 5"; fi
   /usr/bin/time -f "{\"kind\": \"$kind\", \"arm\": \"$arm\", \"run\": $r, \"wall_s\": %e, \"user_s\": %U, \"sys_s\": %S, \"max_rss_kb\": %M}" -a -o bench-out/huge/ab2.jsonl \
    $B train --corpus bench-out/vocab-stream/corpus.ids -o bench-out/huge/m-$kind-$arm --force --engine native --threads 2 --progress silent $extra
  done
 done
done
