"""The original author's approach, re-created for issue 8's comparison.

nn.Embedding(sparse=True) input/output tables trained with SparseAdam on
batches of 300k (target, context) pairs with 5 negatives drawn from the
unigram^0.75 distribution, reading the same parquet shards as `w2v train`.
Runs on the device's own PyTorch. Prints JSON lines: pairs/s per shard and a
final summary; with --save, writes input.npy for evaluation.

usage: baseline_torch.py SHARDS_DIR VOCAB_DIR [--device cuda] [--epochs 1]
       [--batch 300000] [--dim 128] [--max-pairs N] [--save OUT_DIR]
"""
import argparse
import json
import os
import time

import numpy as np
import pyarrow.parquet as pq
import torch
import torch.nn as nn


class SkipGram(nn.Module):
    def __init__(self, v, dim):
        super().__init__()
        self.inp = nn.Embedding(v, dim, sparse=True)
        self.out = nn.Embedding(v, dim, sparse=True)
        nn.init.uniform_(self.inp.weight, -0.5 / dim, 0.5 / dim)
        nn.init.zeros_(self.out.weight)

    def forward(self, t, c, neg):
        v = self.inp(t)
        pos = (v * self.out(c)).sum(1)
        negs = torch.bmm(self.out(neg), v.unsqueeze(2)).squeeze(2)
        return -(nn.functional.logsigmoid(pos) + nn.functional.logsigmoid(-negs).sum(1)).mean()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("shards")
    ap.add_argument("vocab")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=300_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--negative", type=int, default=5)
    ap.add_argument("--lr", type=float, default=0.001)
    ap.add_argument("--max-pairs", type=int, default=0)
    ap.add_argument("--save", default="")
    a = ap.parse_args()
    dev = torch.device(a.device)
    counts = np.fromfile(os.path.join(a.vocab, "counts.u64"), dtype="<u8").astype(np.float64)
    probs = torch.tensor(counts ** 0.75 / (counts ** 0.75).sum(), dtype=torch.float32, device=dev)
    model = SkipGram(len(counts), a.dim).to(dev)
    opt = torch.optim.SparseAdam(model.parameters(), lr=a.lr)
    manifest = json.load(open(os.path.join(a.shards, "shards.manifest.json")))["summary"]
    done, t_start, stop = 0, time.time(), False
    for epoch in range(a.epochs):
        draw = epoch % manifest["n_draws"]
        for s in [s for s in manifest["shards"] if s["draw"] == draw]:
            t0, n0 = time.time(), done
            pf = pq.ParquetFile(os.path.join(a.shards, s["file"]))
            for rb in pf.iter_batches(batch_size=a.batch):
                t = torch.from_numpy(rb.column(0).to_numpy().astype(np.int64)).to(dev)
                c = torch.from_numpy(rb.column(1).to_numpy().astype(np.int64)).to(dev)
                neg = torch.multinomial(probs, t.numel() * a.negative, replacement=True).view(-1, a.negative)
                opt.zero_grad()
                loss = model(t, c, neg)
                loss.backward()
                opt.step()
                done += t.numel()
                if a.max_pairs and done >= a.max_pairs:
                    stop = True
                    break
            if dev.type == "cuda":
                torch.cuda.synchronize()
            dt = time.time() - t0
            print(json.dumps({"shard": s["file"], "pairs": done - n0, "pairs_per_s": round((done - n0) / dt), "loss": round(loss.item(), 4)}), flush=True)
            if stop:
                break
        if stop:
            break
    total = time.time() - t_start
    print(json.dumps({"baseline": "sparse-embedding+SparseAdam", "device": str(dev),
                      "gpu": torch.cuda.get_device_name(0) if dev.type == "cuda" else None,
                      "batch": a.batch, "pairs": done, "seconds": round(total, 2), "pairs_per_s": round(done / total)}), flush=True)
    if a.save:
        os.makedirs(a.save, exist_ok=True)
        np.save(os.path.join(a.save, "input.npy"), model.inp.weight.detach().cpu().numpy())


if __name__ == "__main__":
    main()
