"""Train a peer on our normalized corpus and write word2vec text vectors.

usage: peers.py gensim|gensim-fasttext|fasttext|fasttext-sub|fasttext-sub-defaults CORPUS OUT.vec THREADS [SEED]
(fasttext-wheel's Python API takes no seed; SEED applies to gensim only.)
Prints one JSON line: {"peer", "train_s", "words"}.
Settings follow the bench: dim 128, window 5, negative 5, sample 1e-3,
min_count 5, 5 epochs, skip-gram. `fasttext-sub` adds character n-grams
(-minn 3 -maxn 6, 2M buckets); `fasttext-sub-defaults` is fastText's own
skipgram defaults (dim 100, -t 1e-4) with those n-grams. Both also save
OUT.bin and, when EXTRA_WORDS names a file of words (one a line), write
OUT.full.vec: the vocabulary plus those words, out-of-vocabulary ones
composed from their n-grams (fastText's get_word_vector), for scoring at
full coverage. EPOCHS overrides the fastText peers' epochs, NGRAMS=4-6 the
subword peers' n-gram range. `gensim-fasttext` is gensim's `FastText`
(sg=1) at `fasttext-sub`'s settings (lr 0.05, n-grams 3-6, 2M buckets); it
takes SEED, EPOCHS, NGRAMS and EXTRA_WORDS as well (OOV words composed by
gensim's `wv[word]`).
"""
import json
import sys
import time

peer, corpus, out, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
seed = int(sys.argv[5]) if len(sys.argv) > 5 else 1
if peer == "gensim":
    from gensim.models import Word2Vec

    t0 = time.time()
    m = Word2Vec(corpus_file=corpus, vector_size=128, window=5, negative=5, sample=1e-3,
                 min_count=5, epochs=5, sg=1, workers=threads, seed=seed)
    dt = time.time() - t0
    m.wv.save_word2vec_format(out)
    n = len(m.wv)
elif peer == "gensim-fasttext":
    import os

    from gensim.models import FastText

    minn, maxn = map(int, os.environ.get("NGRAMS", "3-6").split("-"))
    t0 = time.time()
    m = FastText(corpus_file=corpus, vector_size=128, window=5, negative=5, sample=1e-3,
                 min_count=5, epochs=int(os.environ.get("EPOCHS", "5")), sg=1, alpha=0.05,
                 min_n=minn, max_n=maxn, bucket=2000000, workers=threads, seed=seed)
    dt = time.time() - t0
    m.wv.save_word2vec_format(out)
    n = len(m.wv)
    extra = os.environ.get("EXTRA_WORDS")
    if extra:
        words = list(m.wv.index_to_key)
        known = set(words)
        more = sorted({w for w in open(extra).read().split() if w not in known})
        with open(out.rsplit(".", 1)[0] + ".full.vec", "w") as f:
            f.write(f"{len(words) + len(more)} {m.wv.vector_size}\n")
            for w in words + more:
                f.write(w + " " + " ".join(f"{x:.6f}" for x in m.wv[w]) + "\n")
elif peer.startswith("fasttext"):
    import fasttext
    import os

    if peer == "fasttext":
        kw = dict(dim=128, ws=5, neg=5, minCount=5, t=1e-3, epoch=5, minn=0, maxn=0)
    elif peer == "fasttext-sub":
        kw = dict(dim=128, ws=5, neg=5, minCount=5, t=1e-3, epoch=5, minn=3, maxn=6)
    elif peer == "fasttext-sub-defaults":
        kw = dict(minn=3, maxn=6)
    else:
        raise SystemExit(f"unknown peer {peer}")
    if os.environ.get("EPOCHS"):
        kw["epoch"] = int(os.environ["EPOCHS"])
    # NGRAMS=MINN-MAXN overrides the subword peers' 3-6 (the n-gram range sweep).
    if os.environ.get("NGRAMS") and peer != "fasttext":
        kw["minn"], kw["maxn"] = map(int, os.environ["NGRAMS"].split("-"))
    t0 = time.time()
    m = fasttext.train_unsupervised(corpus, model="skipgram", thread=threads, verbose=0, **kw)
    dt = time.time() - t0
    words = m.get_words()
    dim = m.get_dimension()

    def write(path, ws):
        with open(path, "w") as f:
            f.write(f"{len(ws)} {dim}\n")
            for w in ws:
                f.write(w + " " + " ".join(f"{x:.6f}" for x in m.get_word_vector(w)) + "\n")

    write(out, words)
    if peer != "fasttext":
        m.save_model(out.rsplit(".", 1)[0] + ".bin")
        extra = os.environ.get("EXTRA_WORDS")
        if extra:
            known = set(words)
            more = sorted({w for w in open(extra).read().split() if w not in known})
            write(out.rsplit(".", 1)[0] + ".full.vec", words + more)
    n = len(words)
else:
    raise SystemExit(f"unknown peer {peer}")
print(json.dumps({"peer": peer, "train_s": round(dt, 2), "words": n}))
