"""Kernel-only throughput of torch/src/sgns.cu on the GPU (issue 8's profiling harness).

Loads one shard of real pairs and the alias table, compiles the kernel with
CuPy's NVRTC for each variant, and times launches over 1M-pair batches with
CUDA events (median of several passes), so the host pipeline is out of the
figure. Compare its pairs/s with `w2v train`'s steady state to get the share
lost outside the kernel.

usage: python3 kernel_gpu.py SHARDS_DIR VOCAB_DIR [--dim 128] [--negative 5]
"""
import argparse
import glob
import json
import os

import cupy as cp
import numpy as np
import pyarrow.parquet as pq


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("shards")
    ap.add_argument("vocab")
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--negative", type=int, default=5)
    ap.add_argument("--batch", type=int, default=1 << 20)
    ap.add_argument("--variants", default="")
    a = ap.parse_args()
    src = open(os.path.join(os.path.dirname(__file__), "..", "torch", "src", "sgns.cu")).read()
    shard = sorted(glob.glob(os.path.join(a.shards, "epoch-00", "*.parquet")))[0]
    tab = pq.read_table(shard)
    t_all = tab.column(0).to_numpy().astype(np.int32)
    c_all = tab.column(1).to_numpy().astype(np.int32)
    n = (len(t_all) // a.batch) * a.batch
    raw = np.fromfile(os.path.join(a.vocab, "unigram.alias"), dtype="<u4").reshape(-1, 2)
    v = raw.shape[0]
    thr = cp.asarray(raw[:, 0].copy())
    alias = cp.asarray(raw[:, 1].astype(np.int32))
    rng = np.random.default_rng(1)
    win0 = cp.asarray(((rng.random((v, a.dim), dtype=np.float32) - 0.5) / a.dim))
    sms = cp.cuda.Device().attributes["MultiProcessorCount"]
    orders = {"corpus": (t_all[:n], c_all[:n])}
    perm = rng.permutation(n)
    orders["shuffled"] = (t_all[:n][perm], c_all[:n][perm])
    rows = []
    variants = [
        # (name, macros, blocks per SM, order)
        ("atomic", {"ATOMIC": 1}, 16, "corpus"),
        ("atomic", {"ATOMIC": 1}, 4, "corpus"),
        ("atomic", {"ATOMIC": 1}, 8, "corpus"),
        ("atomic", {"ATOMIC": 1}, 32, "corpus"),
        ("atomic", {"ATOMIC": 1}, 16, "shuffled"),
        ("hogwild", {"ATOMIC": 0}, 16, "corpus"),
        ("no-update", {"NO_UPDATE": 1}, 16, "corpus"),
    ]
    extra = [x for x in a.variants.split(",") if x]
    for x in extra:  # NAME=MACRO:VAL+MACRO:VAL@BLOCKS
        name, rest = x.split("=")
        spec, blocks = rest.split("@")
        macros = dict(kv.split(":") for kv in spec.split("+"))
        variants.append((name, macros, int(blocks), "corpus"))
    for name, macros, per_sm, order in variants:
        m = {"DIM": a.dim, "NEG": a.negative, "VEC": 4 if a.dim % 128 == 0 else 1} | macros
        opts = tuple(f"-D{k}={val}" for k, val in m.items())
        mod = cp.RawModule(code=src, options=opts, backend="nvrtc")
        k = mod.get_function("sgns_step")
        t_host, c_host = orders[order]
        t_dev, c_dev = cp.asarray(t_host), cp.asarray(c_host)
        win, wout = win0.copy(), cp.zeros((v, a.dim), dtype=cp.float32)
        loss = cp.zeros(1, dtype=cp.float64)
        grid = sms * per_sm

        def one_pass():
            for off in range(0, n, a.batch):
                k((grid,), (256,), (win, wout, t_dev[off:], c_dev[off:], np.int64(a.batch), thr, alias,
                                    np.uint32(v), np.float32(0.01), np.uint64(off + 7), loss))

        one_pass()  # warm-up (and JIT)
        times = []
        for _ in range(3):
            s, e = cp.cuda.Event(), cp.cuda.Event()
            s.record()
            one_pass()
            e.record()
            e.synchronize()
            times.append(cp.cuda.get_elapsed_time(s, e) / 1e3)
        times.sort()
        pps = n / times[1]
        r = {"variant": name, "macros": m, "blocks_per_sm": per_sm, "order": order,
             "regs": k.attributes["num_regs"], "local_bytes": k.attributes["local_size_bytes"],
             "pairs": n, "seconds": round(times[1], 4), "pairs_per_s": round(pps),
             "loss_finite": bool(cp.isfinite(loss).all())}
        rows.append(r)
        print(json.dumps(r), flush=True)
    print(f"{'variant':<10}{'order':<10}{'blk/SM':>7}{'regs':>6}{'Mpairs/s':>10}")
    for r in rows:
        print(f"{r['variant']:<10}{r['order']:<10}{r['blocks_per_sm']:>7}{r['regs']:>6}{r['pairs_per_s'] / 1e6:>10.1f}")


if __name__ == "__main__":
    main()
