"""Prints the ratios from the latest entries of bench-out/results.jsonl."""
import json
import sys

# One JSON object per entry (older entries may span several lines).
text, dec, rows, i = open(sys.argv[1]).read(), json.JSONDecoder(), [], 0
while (j := text.find("{", i)) >= 0:
    obj, n = dec.raw_decode(text[j:])
    rows.append(obj)
    i = j + n
last = {}
for r in rows:
    last[(r["bench"], r.get("engine"))] = r
if ("prep", None) in last:
    # The latest run's rounds: the last `round` prep entries (1 for older entries).
    preps = [r for r in rows if r["bench"] == "prep"]
    preps = preps[-last[("prep", None)].get("round", 1):]
    ratios = sorted(r["python_regex"]["wall_s"] / max(r["w2v"]["wall_s"], 1e-3) for r in preps)
    print(f"prep: w2v {[r['w2v']['wall_s'] for r in preps]}s vs python regex "
          f"{[r['python_regex']['wall_s'] for r in preps]}s -> ratios {[round(x, 1) for x in ratios]}, "
          f"median {ratios[len(ratios) // 2]:.1f}x")
pairs = last.get(("pairs", None))
if pairs:
    f = pairs["figures"]
    print(f"pairs: {f['total_pairs']} pairs, {f['bytes_per_pair']:.2f} B/pair, {f['pairs_per_s'] / 1e6:.1f}M pairs/s, wall {pairs['time']['wall_s']}s")
trains = {k[1]: v for k, v in last.items() if k[0] == "train"}
tokens = pairs["figures"]["corpus_tokens"] if pairs else None
for name, r in trains.items():
    ev = {p["file"].split("/")[-1]: p for p in r["eval"]["pairs"]}
    wps = tokens * 5 / r["time"]["wall_s"] if tokens else float("nan")
    print(f"{name:>14}: train {r['time']['wall_s']:7.1f}s  {wps / 1e3:7.0f}k words/s  RSS {r['time']['max_rss_kb'] / 1024:6.0f} MB  "
          + "  ".join(f"{k} {v['spearman']:.4f} ({v['found']}/{v['total']})" for k, v in ev.items()))
for name in ["w2v-native-window", "w2v-native-pair", "w2v-native"]:
    if name not in trains:
        continue
    ours = trains[name]
    for peer in ["gensim", "fasttext"]:
        if peer in trains:
            p = trains[peer]
            with_pairs = ""
            if pairs:
                both = ours["time"]["wall_s"] + pairs["time"]["wall_s"]
                with_pairs = f" (x{p['time']['wall_s'] / both:.2f} counting pairs)"
            print(f"{name} vs {peer}: speed x{p['time']['wall_s'] / ours['time']['wall_s']:.2f}{with_pairs}, RSS x{ours['time']['max_rss_kb'] / p['time']['max_rss_kb']:.2f}, "
                  + ", ".join(f"d_spearman {a['file'].split('/')[-1]} {a['spearman'] - b['spearman']:+.4f}" for a, b in zip(ours['eval']['pairs'], p['eval']['pairs'])))
nb = last.get(("neighbors", None))
if nb:
    print(f"neighbors (2.5M x 128): w2v {nb['w2v_warm']['wall_s']}s vs gensim load+query {nb['gensim_load_and_query']['wall_s']}s "
          f"-> {nb['gensim_load_and_query']['wall_s'] / nb['w2v_warm']['wall_s']:.1f}x")
