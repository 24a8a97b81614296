"""Issue 18, session 19: is a dev/test disagreement the halves' or the setting's?

usage: resplit.py DIR [ARM_A,ARM_B [N]]
DIR holds ARM-sS.vec.jsonl files: `w2v vector --model M WORD...` over every
word of the two similarity sets (one query per word, as written), for each
arm and seed. Prints each model's Spearman on the full sets and on
split_eval.py's fixed halves, then, for two arms, the mean difference B - A
(over seeds) on both halves of N random re-splits of each set, and where the
fixed halves fall among them. The cosines are w2v eval's (checked equal).
Session 19's runs: train --corpus … --subwords 3-6|4-6 --seed 1|2|3, then
  xargs -d '\n' w2v vector --model M --progress silent < eval_words.txt > ARM-sS.vec.jsonl
"""
import hashlib, json, sys, glob, os
import numpy as np
from scipy.stats import spearmanr

EV = "../shared/eval"
def load_pairs():
    out = {}
    for name, sep in (("ru_simlex965.tsv", "\t"), ("hj.csv", ",")):
        rows = [l.split(sep) for l in open(os.path.join(EV, name), encoding="utf-8").read().splitlines()[1:] if l.strip()]
        out[name] = [(r[0], r[1], float(r[2])) for r in rows]
    return out

def load_vecs(path):
    v = {}
    for line in open(path, encoding="utf-8"):
        d = json.loads(line)
        x = np.asarray(d["vector"], dtype=np.float64)
        v[d["query"]] = x / (np.linalg.norm(x) or 1.0)
    return v

def cosines(v, pairs):
    return np.array([float(v[a] @ v[b]) for a, b, _ in pairs])

def rho(cos, gold, idx):
    return spearmanr(cos[idx], gold[idx]).correlation

pairs = load_pairs()
gold = {k: np.array([g for _, _, g in p]) for k, p in pairs.items()}
fixed_dev = {k: np.array([hashlib.md5(f"{a}\t{b}".encode()).digest()[0] % 2 == 0 for a, b, _ in p]) for k, p in pairs.items()}
models = {}
for f in sorted(glob.glob(sys.argv[1] + "/*.vec.jsonl")):
    tag = os.path.basename(f)[: -len(".vec.jsonl")]
    v = load_vecs(f)
    models[tag] = {k: cosines(v, p) for k, p in pairs.items()}
for tag, c in models.items():
    print(tag, "full", *[round(rho(c[k], gold[k], np.ones(len(gold[k]), bool)), 4) for k in pairs],
          "dev", *[round(rho(c[k], gold[k], fixed_dev[k]), 4) for k in pairs],
          "test", *[round(rho(c[k], gold[k], ~fixed_dev[k]), 4) for k in pairs])
if len(sys.argv) > 2:
    arms = sys.argv[2].split(",")  # e.g. 3-6,4-6
    N = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    rng = np.random.default_rng(19)
    diffs = {k: [] for k in pairs}
    for _ in range(N):
        for k in pairs:
            half = rng.random(len(gold[k])) < 0.5
            for idx in (half, ~half):
                m = [np.mean([rho(models[t][k], gold[k], idx) for t in models if t.startswith(a + "-")]) for a in arms]
                diffs[k].append(m[1] - m[0])
    for k in pairs:
        d = np.array(diffs[k])
        fd = [np.mean([rho(models[t][k], gold[k], idx) for t in models if t.startswith(a + "-")]) for a in arms for idx in (fixed_dev[k], ~fixed_dev[k])]
        print(f"{k}: {arms[1]} - {arms[0]} over {2*N} random halves: mean {d.mean():+.4f}, sd {d.std():.4f}, "
              f"5th pct {np.percentile(d, 5):+.4f}, share > 0 {np.mean(d > 0):.4f}; fixed dev {fd[2]-fd[0]:+.4f} (share of random halves below it {np.mean(d < fd[2]-fd[0]):.4f}), fixed test {fd[3]-fd[1]:+.4f}")
