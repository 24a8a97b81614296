"""Compares two vocabularies of one corpus: exact counts against pruned ones.

Usage: python benches/compare_counts.py EXACT_VOCAB_DIR PRUNED_VOCAB_DIR

Prints one JSON line: words kept by each, how many of the most frequent
words have identical counts (the exact head), and the error of the pruned
counts below it (max absolute and relative, share of words off). The vocab
manifests' `pruned_below` and types seen are included.
"""
import glob
import json
import sys

import numpy as np


def load(d):
    words = open(f"{d}/words.txt", encoding="utf-8").read().split("\n")
    if words and words[-1] == "":
        words.pop()
    counts = np.fromfile(f"{d}/counts.u64", dtype="<u8")
    assert len(words) == len(counts), d
    man = {}
    for m in glob.glob(f"{d}/*manifest.json"):
        man = json.load(open(m))
    return dict(zip(words, counts.tolist())), words, man


def find(obj, key):
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        for v in obj.values():
            r = find(v, key)
            if r is not None:
                return r
    return None


exact, exact_order, man_a = load(sys.argv[1])
pruned, _, man_b = load(sys.argv[2])
head = 0
for w in exact_order:
    if pruned.get(w) != exact[w]:
        break
    head += 1
common = [w for w in exact_order if w in pruned]
diff = np.array([exact[w] - pruned[w] for w in common], dtype=np.int64)
rel = np.array([(exact[w] - pruned[w]) / exact[w] for w in common])
print(json.dumps({
    "kept_exact": len(exact),
    "kept_pruned": len(pruned),
    "lost": len(exact) - len(common),
    "exact_head": head,
    "words_off": int((diff != 0).sum()),
    "max_abs_error": int(diff.max(initial=0)),
    "max_rel_error": float(rel.max(initial=0.0)),
    "min_count_of_words_off": int(min((exact[w] for w, d in zip(common, diff) if d), default=0)),
    "never_overestimates": bool((diff >= 0).all()),
    "pruned_below": find(man_b, "pruned_below"),
    "types_seen_exact": find(man_a, "n_types_before"),
    "types_seen_pruned": find(man_b, "n_types_before"),
}))
