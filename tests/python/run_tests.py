"""Cross-checks of w2v against independent Python readers (gensim, pyarrow).

Runs the release binary in a temp dir. Prints 'N passed, N failed' and exits
non-zero on any failure. Run by `make test`.
"""
import json
import os
import subprocess
import sys
import tempfile
import traceback

import numpy as np
import pyarrow.parquet as pq
from gensim.models import KeyedVectors

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, "target", "release", "w2v")


def w2v(cwd, *args, stdin=None):
    r = subprocess.run([BIN, *args, "--progress", "silent"], cwd=cwd, capture_output=True, text=True, input=stdin)
    if r.returncode != 0:
        raise AssertionError(f"w2v {args} failed: {r.stderr}")
    return r.stdout


def setup(d):
    w2v(d, "synth", "--out", "data/sample.txt", "--bytes", "1000000", "--seed", "5")
    w2v(d, "prep", "data/sample.txt", "-o", "data/corpus.txt")
    w2v(d, "pairs", "--epochs", "2", "--shard-size", "300000")
    w2v(d, "train", "--engine", "native", "--dim", "32", "--epochs", "2", "-o", "model")


def test_shards_are_readable_by_pyarrow(d):
    m = json.load(open(os.path.join(d, "shards", "shards.manifest.json")))
    shards = m["summary"]["shards"]
    assert len(shards) >= 2, shards
    vocab = len(open(os.path.join(d, "vocab", "words.txt")).read().splitlines())
    for s in shards:
        t = pq.read_table(os.path.join(d, "shards", s["file"]))
        assert t.schema.names == ["target", "context"], t.schema
        assert str(t.schema.field("target").type) == "int32"
        assert t.num_rows == s["pairs"]
        tgt = t.column("target").to_numpy()
        ctx = t.column("context").to_numpy()
        assert tgt.min() >= 0 and tgt.max() < vocab and ctx.min() >= 0 and ctx.max() < vocab
        assert (tgt != ctx).mean() > 0.9


def same_ranks(kv, query, got, want):
    """Same neighbours rank by rank; words may swap only inside float ties."""
    assert len(got) == len(want)
    for g, (x, score) in zip(got, want):
        assert abs(g["score"] - score) < 1e-5, (query, got, want)
        if g["word"] != x:
            assert abs(kv.similarity(query, g["word"]) - score) < 1e-5, (query, got, want)


def test_gensim_loads_exports_and_agrees_on_neighbours(d):
    w2v(d, "export", "--format", "word2vec-bin", "-o", "v.bin")
    w2v(d, "export", "--format", "word2vec-text", "-o", "v.txt")
    kb = KeyedVectors.load_word2vec_format(os.path.join(d, "v.bin"), binary=True)
    kt = KeyedVectors.load_word2vec_format(os.path.join(d, "v.txt"), binary=False)
    ours = np.load(os.path.join(d, "model", "input.npy"))
    words = open(os.path.join(d, "model", "words.txt")).read().splitlines()
    assert kb.index_to_key == words and kt.index_to_key == words
    assert np.array_equal(kb.vectors, ours)
    assert np.allclose(kt.vectors, ours, atol=1e-6)
    for w in words[5:200:20]:
        got = json.loads(w2v(d, "neighbors", w, "-k", "10", "--json"))[0]["neighbors"]
        want = kb.most_similar(w, topn=10)
        same_ranks(kb, w, got, want)
    # most_similar with positive/negative lists
    a, b, c = words[10], words[20], words[30]
    got = json.loads(w2v(d, "neighbors", "--positive", a, b, "--negative", c, "-k", "5", "--json"))
    want = kb.most_similar(positive=[a, b], negative=[c], topn=5)
    assert np.allclose([g["score"] for g in got], [x for _, x in want], atol=1e-5), (got, want)
    assert sum(g["word"] == x for g, (x, _) in zip(got, want)) >= 4, (got, want)


def test_eval_matches_gensim(d):
    words = open(os.path.join(d, "model", "words.txt")).read().splitlines()
    rng = np.random.default_rng(0)
    lines = ["# synthetic pairs", "word1\tword2\tscore"]
    for _ in range(150):
        i, j = rng.integers(0, len(words), 2)
        lines.append(f"{words[i]}\t{words[j]}\t{rng.uniform(0, 10):.2f}")
    lines.append("отсутствующее\tслово\t5.0")
    path = os.path.join(d, "pairs.tsv")
    open(path, "w").write("\n".join(lines) + "\n")
    ours = json.loads(w2v(d, "eval", "--pairs", path, "--json"))["pairs"][0]
    w2v(d, "export", "--format", "word2vec-bin", "-o", "v.bin")
    kv = KeyedVectors.load_word2vec_format(os.path.join(d, "v.bin"), binary=True)
    pearson, spearman, oov = kv.evaluate_word_pairs(path, delimiter="\t", case_insensitive=True)
    assert abs(ours["spearman"] - spearman.statistic) < 1e-3, (ours, spearman)
    assert abs(ours["pearson"] - pearson.statistic) < 1e-3, (ours, pearson)
    assert ours["found"] == 150 and ours["total"] == 151, ours
    assert abs((1 - ours["coverage"]) * 100 - oov) < 1e-6, (ours, oov)


def test_analogy_eval_matches_gensim(d):
    words = open(os.path.join(d, "model", "words.txt")).read().splitlines()
    w2v(d, "export", "--format", "word2vec-bin", "-o", "v.bin")
    kv = KeyedVectors.load_word2vec_format(os.path.join(d, "v.bin"), binary=True)
    rng = np.random.default_rng(1)
    lines = []
    for sec in ["first", "second"]:
        lines.append(f": {sec}")
        for k in range(40):
            a, b, c, x = (words[i] for i in rng.integers(0, 300, 4))
            # Half the questions take gensim's own answer, so some are right.
            if k % 2 == 0:
                x = kv.most_similar(positive=[b, c], negative=[a], topn=1)[0][0]
            lines.append(f"{a} {b} {c} {x}")
    lines.append("неизвестное слово тут нет")
    path = os.path.join(d, "analogies.txt")
    open(path, "w").write("\n".join(lines) + "\n")
    ours = json.loads(w2v(d, "eval", "--analogies", path, "--json"))["analogies"][0]["sections"]
    score, sections = kv.evaluate_word_analogies(path, case_insensitive=True)
    theirs = {s["section"]: (len(s["correct"]), len(s["correct"]) + len(s["incorrect"])) for s in sections}
    for s in ours[:-1]:
        assert theirs[s["name"]] == (s["correct"], s["total"]), (s, theirs)
    total = ours[-1]
    assert total["skipped"] == 1, total
    assert abs(total["accuracy"] - score) < 1e-3, (total, score)
    assert sum(s["correct"] for s in ours[:-1]) > 0, "some analogies must be right for the check to mean anything"


# Already normalized (lowercase, no ё), so w2v and fastText see the same
# strings; some are in the sample vocabulary, the Russian ones are not.
SUBWORD_PROBES = ["кошками", "пространство", "красивейший", "я", "ад", "переосмысление", "x"]


def test_fasttext_and_gensim_load_the_subword_export(d):
    """Our n-grams and bucket ids equal fastText's own (get_subwords on our
    export), and fastText and gensim load the export to our vectors, in and
    out of vocabulary: for fastText's plain mean (--own-weight 1
    --output-weight 0) and for the default weights, which the export's own
    rows carry."""
    import fasttext
    from gensim.models.fasttext import load_facebook_vectors

    # fastText's range with its plain mean, then w2v's defaults (--subwords
    # alone: 4-6 and the saved weights), which the export's header carries.
    for name, extra in [("sw", ["--subwords", "3-6", "--own-weight", "1", "--output-weight", "0"]),
                        ("swh", ["--subwords"])]:
        w2v(d, "train", "--engine", "native", "--dim", "32", "--epochs", "1",
            "--buckets", "20011", "-o", name, *extra)
        path = os.path.join(d, name + ".bin")
        w2v(d, "export", "--format", "fasttext-bin", "-o", path, "--model", name)
        words = open(os.path.join(d, name, "words.txt")).read().splitlines()
        # A word shorter than the shortest n-gram, boundaries included, has
        # no n-grams: fastText gives it zeros, w2v refuses it as unknown.
        minn = 3 if name == "sw" else 4
        probes = [w for w in words[:3] + words[-2:] + SUBWORD_PROBES if len(w) + 2 >= minn]
        ours = [json.loads(l) for l in w2v(d, "vector", *probes, "--ngrams", "--model", name).splitlines()]
        ft = fasttext.load_model(path)
        assert ft.get_dimension() == 32 and len(ft.get_words()) == len(words)
        assert (ft.f.getArgs().minn, ft.f.getArgs().maxn) == ((3, 6) if name == "sw" else (4, 6))
        kv = load_facebook_vectors(path)
        nw = len(words)
        oov = 0
        for w, o in zip(probes, ours):
            assert o["word"] == w, o
            grams, ids = ft.get_subwords(w)
            theirs = [(g, int(i) - nw) for g, i in zip(grams, ids) if i >= nw]
            assert [tuple(x) for x in o["ngrams"]] == theirs, (w, o["ngrams"], theirs)
            assert o["oov"] == (w not in set(words)), o
            oov += o["oov"]
            v = np.array(o["vector"], dtype=np.float32)
            assert np.allclose(ft.get_word_vector(w), v, atol=2e-5), (name, w)
            assert np.allclose(kv[w], v, atol=2e-5), (name, w)
        assert oov >= 5, "the probes must include out-of-vocabulary words"


def test_prep_reads_parquet_in_every_layout_pyarrow_writes(d):
    """HF datasets such as 0x7o/taiga are written by pyarrow (the C++
    writer): prep must read every page layout it makes, through the page
    header checks that guard the parquet crate (src/parquet_guard.rs)."""
    import pyarrow as pa

    # Long rows (page statistics hold long min/max values), many small pages.
    names = ["один", "два", "три", "четыре", "пять", "шесть", "семь"]
    rows = [f"Строка {names[i % 7]} " + "слово " * (i % 50) for i in range(3000)]
    rows[7] = "длинная " * 500
    want = [" ".join(r.lower().split()) for r in rows]
    table = pa.table({"id": list(range(len(rows))), "text": rows})
    layouts = [
        dict(),
        dict(compression="none", use_dictionary=False),
        dict(compression="zstd", data_page_version="2.0"),
        dict(compression="gzip", write_page_checksum=True),
        dict(compression="lz4", write_page_index=True, data_page_size=512, write_batch_size=16),
        dict(compression="snappy", data_page_size=256, row_group_size=700, write_batch_size=16,
             write_statistics=True, use_dictionary=["text"]),
    ]
    out = os.path.join(d, "pq")
    os.makedirs(out, exist_ok=True)
    for i, kw in enumerate(layouts):
        f = os.path.join(out, f"l{i}.parquet")
        pq.write_table(table, f, **kw)
        w2v(d, "prep", f, "-o", os.path.join(out, f"c{i}", "corpus.txt"))
        got = open(os.path.join(out, f"c{i}", "corpus.txt"), encoding="utf-8").read().splitlines()
        assert got == want, (kw, len(got), len(want), got[:2], want[:2])


def main():
    tests = [v for k, v in sorted(globals().items()) if k.startswith("test_")]
    passed = failed = 0
    with tempfile.TemporaryDirectory() as d:
        setup(d)
        for t in tests:
            try:
                t(d)
                passed += 1
                print(f"ok   {t.__name__}")
            except Exception:
                failed += 1
                print(f"FAIL {t.__name__}")
                traceback.print_exc()
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
