"""Golden permutations for dataset/shuffle.go: Hugging Face datasets'
Dataset.shuffle(seed) is numpy.random.default_rng(seed).permutation(n).

Run: /usr/bin/python3 dataset/testdata/gen_shuffle.py > dataset/testdata/shuffle_golden.json
"""
import json

import numpy as np

cases = []
for seed in (0, 1, 42, 2**32 + 7, 2**63 + 11):
    for n in (1, 2, 3, 10, 257, 1000):
        cases.append({"seed": seed, "n": n, "perm": np.random.default_rng(seed).permutation(n).tolist()})
print(json.dumps(cases))
