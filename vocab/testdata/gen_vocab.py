"""Golden d2t/t2d mappings and token_freq.pt files for the Go vocab package.

Run with Debian's python3 (numpy, torch):  /usr/bin/python3 vocab/testdata/gen_vocab.py

The selection is written here independently from the Go code, following the
semantics of speculators' build_vocab_mappings_from_distribution: sort by
(-count, id), take Vd, fill with the smallest unused ids in range(Vd), sort,
store offsets. Outputs (small, committed):
  golden/<case>/freq.json, d2t.npy, t2d.npy   (np.save)
  golden/<case>/token_freq.pt                 (torch.save of the dict)
  golden/cases.json                           (case name, Vd, V)
"""
import json
import os

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "golden")


def select(freq, vd, v):
    ranked = sorted(freq.items(), key=lambda kv: (-kv[1], kv[0]))
    chosen = [tid for tid, _ in ranked[:vd]]
    taken = set(chosen)
    tid = 0
    while len(chosen) < vd:
        if tid not in taken:
            chosen.append(tid)
        tid += 1
    chosen.sort()
    d2t = np.array(chosen, dtype=np.int64) - np.arange(vd, dtype=np.int64)
    t2d = np.zeros(v, dtype=bool)
    t2d[chosen] = True
    return d2t, t2d


rng = np.random.default_rng(7)
cases = {
    # training-spec §9 vector 9 and 10
    "spec9": ({5: 10, 3: 10, 9: 4, 7: 1}, 3, 10),
    "spec10_fill": ({5: 10, 3: 10, 9: 4, 7: 1}, 6, 10),
    # every count tied: smaller ids win
    "all_ties": ({i: 7 for i in range(20, 0, -1)}, 5, 32),
    # fill skipping ids already chosen, Vd == V
    "fill_full": ({0: 1, 4: 9, 2: 9}, 6, 6),
    # a single token
    "single": ({11: 3}, 1, 12),
    # large counts beyond int32 and a draft of one token
    "big_counts": ({1: 2**40, 2: 2**40, 3: 5, 70000: 2**33}, 2, 70001),
    # random table with many ties, ids beyond 65535, > 1000 entries (pickle batching)
    "random": (
        {int(k): int(c) for k, c in zip(
            rng.choice(150000, size=2500, replace=False),
            rng.integers(1, 40, size=2500))},
        1024, 151936),
}

os.makedirs(OUT, exist_ok=True)
index = []
for name, (freq, vd, v) in cases.items():
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    d2t, t2d = select(freq, vd, v)
    assert t2d.sum() == vd
    assert (np.arange(vd) + d2t == np.nonzero(t2d)[0]).all()
    np.save(os.path.join(d, "d2t.npy"), d2t)
    np.save(os.path.join(d, "t2d.npy"), t2d)
    with open(os.path.join(d, "freq.json"), "w") as f:
        json.dump({str(k): v_ for k, v_ in sorted(freq.items())}, f)
    torch.save(dict(freq), os.path.join(d, "token_freq.pt"))
    index.append({"name": name, "draft_vocab_size": vd, "verifier_vocab_size": v})

with open(os.path.join(OUT, "cases.json"), "w") as f:
    json.dump(index, f, indent=1)
print("wrote", len(index), "cases to", OUT)
