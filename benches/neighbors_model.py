"""Writes a synthetic V x D word2vec binary model (random unit vectors, words
w0000000..., with 'слово' at id 1000) for the neighbors latency bench."""
import os
import sys

import numpy as np

out, v, d = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(out, exist_ok=True)
path = os.path.join(out, "vectors.bin")
if not os.path.exists(path):
    rng = np.random.default_rng(0)
    with open(path, "wb") as f:
        f.write(f"{v} {d}\n".encode())
        for start in range(0, v, 100_000):
            n = min(100_000, v - start)
            x = rng.standard_normal((n, d), dtype=np.float32)
            for i in range(n):
                w = "слово" if start + i == 1000 else f"w{start + i:07d}"
                f.write(w.encode() + b" " + x[i].tobytes() + b"\n")
