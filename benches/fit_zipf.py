"""Fits the Zipf–Mandelbrot law of `w2v synth --tokens` on a real corpus.

Usage: .venv/bin/python benches/fit_zipf.py bench-out/data/corpus.txt

The corpus is `w2v prep` output (one sentence per line, tokens separated by
spaces). The law is p(r) ∝ (r + q)^-s over M types. Two fits are printed:

- the *ru_lit fit*: s, q and M fitted to the corpus's top word share, its
  min_count-5 vocabulary and its type/token curve (types seen in prefixes of
  1%, 3%, 10%, 30% and 100% of the tokens), all in log space;
- the *Taiga fit*: the same targets plus a constraint that 5B tokens keep
  2.5M types at min_count 5 (Taiga's vocabulary).

Expected counts are Poisson sums over ranks (ranks past 10,000 in
geometric bins of 400 per decade), the same as `expected_types` in
`src/synth/law.rs`. Results are recorded in BENCHMARKS.md ("Scale").
"""
import sys

import numpy as np
from scipy.optimize import minimize


def bins(M, per_decade=400):
    r = np.arange(1, min(M, 10000) + 1, dtype=float)
    w = np.ones_like(r)
    if M > 10000:
        edges = np.unique(np.geomspace(10000.5, M + 0.5, int(np.log10(M / 1e4) * per_decade) + 2))
        r = np.concatenate([r, np.sqrt(edges[:-1] * edges[1:])])
        w = np.concatenate([w, np.diff(edges)])
    return r, w


def stats(s, q, M, n):
    """(types seen, types with count >= 5, top word share) at n tokens."""
    r, w = bins(M)
    p = (r + q) ** (-s)
    p /= (p * w).sum()
    lam = n * p
    seen = (w * -np.expm1(-lam)).sum()
    below5 = np.exp(-lam) * (1 + lam + lam**2 / 2 + lam**3 / 6 + lam**4 / 24)
    return seen, (w * (1 - below5)).sum(), p[0]


def main(path):
    ids, seq = {}, []
    with open(path, encoding="utf-8") as f:
        for line in f:
            seq.extend(ids.setdefault(t, len(ids)) for t in line.split())
    arr = np.asarray(seq)
    n = len(arr)
    counts = np.bincount(arr)
    top = counts.max() / n
    mc5 = int((counts >= 5).sum())
    heaps = [(int(n * f), len(np.unique(arr[: int(n * f)]))) for f in (0.01, 0.03, 0.1, 0.3, 1.0)]
    print(f"corpus: {n} tokens, {len(counts)} types, top share {top:.4f}, min_count 5 keeps {mc5}")

    def loss(x, taiga):
        s, lq, lm = x
        q, M = np.exp(lq), int(np.exp(min(lm, 21)))
        l = sum((np.log(stats(s, q, M, k)[0] / t)) ** 2 for k, t in heaps) / len(heaps)
        _, ge5, p0 = stats(s, q, M, n)
        l += np.log(ge5 / mc5) ** 2 + np.log(p0 / top) ** 2
        if taiga:
            l += 3 * np.log(stats(s, q, M, 5e9)[1] / 2.5e6) ** 2
        return l

    for name, taiga in (("ru_lit fit", False), ("Taiga fit", True)):
        best = min(
            (
                minimize(loss, [s0, lq, lm], args=(taiga,), method="Nelder-Mead", options=dict(maxiter=1000))
                for s0 in (1.0, 1.2, 1.5)
                for lq in (0, 2)
                for lm in (14, 16, 19)
            ),
            key=lambda r: r.fun,
        )
        s, lq, lm = best.x
        q, M = np.exp(lq), int(np.exp(min(lm, 21)))
        print(f"{name}: s={s:.4f} q={q:.3f} M={M} (loss {best.fun:.4f})")
        for k, t in heaps:
            print(f"  {k:>11} tokens: {t:>8} types seen, law {stats(s, q, M, k)[0]:.0f}")
        seen, ge5, p0 = stats(s, q, M, n)
        print(f"  min_count 5 at {n}: law {ge5:.0f} (corpus {mc5}); top share law {p0:.4f} (corpus {top:.4f})")
        for k in (1e8, 1e9, 2e9, 5e9):
            seen, ge5, _ = stats(s, q, M, k)
            print(f"  {k:.0e} tokens: {seen:.0f} types seen, {ge5:.0f} at min_count 5")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "bench-out/data/corpus.txt")
