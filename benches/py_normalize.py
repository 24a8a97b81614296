"""The straightforward Python normalizer the prep bench compares against:
re.findall(r"[^\\W\\d_]+", line.lower()) per line, written one segment per line."""
import re
import sys
import time

pat = re.compile(r"[^\W\d_]+")
t0 = time.time()
n_bytes = n_tok = 0
with open(sys.argv[1], encoding="utf-8", errors="replace") as f, open(sys.argv[2], "w", encoding="utf-8") as out:
    for line in f:
        n_bytes += len(line.encode("utf-8"))
        toks = pat.findall(line.lower())
        if toks:
            n_tok += len(toks)
            out.write(" ".join(toks) + "\n")
dt = time.time() - t0
print(f'{{"seconds": {dt:.3f}, "mb_per_s": {n_bytes / 1e6 / dt:.2f}, "tokens": {n_tok}}}')
