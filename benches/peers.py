"""Train a peer on our normalized corpus and write word2vec text vectors.

usage: peers.py gensim|fasttext CORPUS OUT.vec THREADS [SEED]
(fasttext-wheel's Python API takes no seed; SEED applies to gensim only.)
Prints one JSON line: {"peer", "train_s", "words"}.
Settings follow the bench: dim 128, window 5, negative 5, sample 1e-3,
min_count 5, 5 epochs, skip-gram.
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
elif peer == "fasttext":
    import fasttext

    t0 = time.time()
    m = fasttext.train_unsupervised(corpus, model="skipgram", dim=128, ws=5, neg=5, minCount=5, t=1e-3,
                                    epoch=5, thread=threads, minn=0, maxn=0, verbose=0)
    dt = time.time() - t0
    words = m.get_words()
    with open(out, "w") as f:
        f.write(f"{len(words)} 128\n")
        for w in words:
            f.write(w + " " + " ".join(f"{x:.6f}" for x in m.get_word_vector(w)) + "\n")
    n = len(words)
else:
    raise SystemExit(f"unknown peer {peer}")
print(json.dumps({"peer": peer, "train_s": round(dt, 2), "words": n}))
