"""Split each similarity set into fixed dev and test halves (issue 18).

usage: split_eval.py EVAL_DIR OUT_DIR
Writes OUT_DIR/dev/NAME and OUT_DIR/test/NAME for ru_simlex965.tsv and hj.csv,
each with the original header. A pair goes to dev when the first byte of the
MD5 of its two words (as written, tab-joined) is even: fixed for all time,
independent of the file's order, and about half and half.
"""
import hashlib
import os
import sys

src, out = sys.argv[1], sys.argv[2]
for name, sep in (("ru_simlex965.tsv", "\t"), ("hj.csv", ",")):
    with open(os.path.join(src, name), encoding="utf-8") as f:
        lines = f.read().splitlines()
    header, rows = lines[0], [l for l in lines[1:] if l.strip()]
    halves = {"dev": [header], "test": [header]}
    for row in rows:
        w1, w2 = row.split(sep)[:2]
        digest = hashlib.md5(f"{w1}\t{w2}".encode("utf-8")).digest()
        halves["dev" if digest[0] % 2 == 0 else "test"].append(row)
    for half, kept in halves.items():
        os.makedirs(os.path.join(out, half), exist_ok=True)
        with open(os.path.join(out, half, name), "w", encoding="utf-8") as f:
            f.write("\n".join(kept) + "\n")
        print(f"{half}/{name}: {len(kept) - 1} pairs")
