"""Summarises `benches/gpu.sh stream` (issue 17): shard path vs stream path
on the GPU, end to end, and FULL-W2V when it ran. Reads results.jsonl."""
import json
import sys
from statistics import mean

rows = [json.loads(line) for line in open(sys.argv[1])]
runs = {}
for r in rows:
    runs.setdefault(r["run"], {}).update(r)

disk = runs.get("disk", {})
if disk:
    print(f"disk, 5 epochs (min_count 5): shards {disk['shards5_bytes'] / 1e6:.1f} MB, "
          f"corpus.ids {disk['corpus_ids_bytes'] / 1e6:.1f} MB: "
          f"{disk['shards5_bytes'] / disk['corpus_ids_bytes']:.1f}x smaller")


def words_per_s(r):
    s = r["summary"]
    return s["corpus_tokens"] * r["epochs"] / r["wall_s"] if s.get("corpus_tokens") else 0


print(f"\n{'run':<18}{'wall s':>8}{'train s':>8}{'pairs/s':>14}{'words/s (e2e)':>15}"
      f"{'wait %':>8}{'drawn/planned':>14}")
for name, r in runs.items():
    if "wall_s" not in r or "summary" not in r:
        continue
    s = r["summary"]
    wait = 100 * s["input_wait_s"] / max(s["seconds"], 1e-9)
    drawn = r.get("loss_pairs", 0) / max(s["total_pairs"], 1)
    print(f"{name:<18}{r['wall_s']:>8.2f}{s['seconds']:>8.2f}{s['pairs_per_s']:>14,.0f}"
          f"{words_per_s(r):>15,.0f}{wait:>8.1f}{drawn:>14.4f}")


def ratio(a, b, key):
    xs = [runs[n] for n in runs if n.startswith(a) and "wall_s" in runs[n]]
    ys = [runs[n] for n in runs if n.startswith(b) and "wall_s" in runs[n]]
    if not xs or not ys:
        return None
    return mean(key(y) for y in ys) / mean(key(x) for x in xs)


for a, b in [("shards-mc3", "stream-mc3"), ("q-shards", "q-stream")]:
    e2e = ratio(a, b, lambda r: 1 / r["wall_s"])
    pps = ratio(a, b, lambda r: r["summary"]["pairs_per_s"])
    if e2e:
        print(f"{b} vs {a}: end to end {e2e:.2f}x, pairs/s {pps:.2f}x")

print(f"\n{'arm':<12}{'seeds':>6}{'simlex':>9}{'hj':>9}{'wall s':>9}")
for arm in ["q-shards", "q-stream", "fullw2v"]:
    ev = [runs[n] for n in runs if n.startswith(arm) and runs[n].get("eval")]
    if not ev:
        continue
    sc = {}
    for r in ev:
        for e in r["eval"].get("pairs", []):
            sc.setdefault(e["file"].split("/")[-1], []).append(e["spearman"])
    wall = mean(r["wall_s"] for r in ev if "wall_s" in r)
    print(f"{arm:<12}{len(ev):>6}{mean(sc.get('ru_simlex965.tsv', [float('nan')])):>9.4f}"
          f"{mean(sc.get('hj.csv', [float('nan')])):>9.4f}{wall:>9.2f}")
    for f, v in sc.items():
        print(f"    {f}: {[round(x, 4) for x in v]}")
full = [runs[n] for n in runs if n.startswith("fullw2v") and runs[n].get("eval")]
stream = [runs[n] for n in runs if n.startswith("q-stream") and "wall_s" in runs[n]]
if full and stream:
    print(f"\nstream path vs FULL-W2V, end to end: "
          f"{mean(r['wall_s'] for r in full) / mean(r['wall_s'] for r in stream):.2f}x")
for n, r in runs.items():
    if "rc" in r or "skipped" in r:
        print(n, r)
