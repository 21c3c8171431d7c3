#!/usr/bin/env python3
"""Reference distributions for sample.Probs: transformers' logits warpers
(TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper, applied in that
order as generate() does) transcribed in plain torch, then softmax.

Run from the repository root:
    /usr/bin/python3 sample/testdata/gen_warpers.py > sample/testdata/warpers.json
"""
import json

import numpy as np
import torch


def warp(scores, temperature, top_k, top_p):
    scores = scores / temperature
    if top_k > 0:
        top_k = min(top_k, scores.size(-1))
        remove = scores < torch.topk(scores, top_k)[0][..., -1, None]
        scores = scores.masked_fill(remove, -float("inf"))
    if 0 < top_p < 1:
        sorted_logits, sorted_indices = torch.sort(scores, descending=False)
        cumulative_probs = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        sorted_remove = cumulative_probs <= (1 - top_p)
        sorted_remove[..., -1:] = 0
        remove = sorted_remove.scatter(-1, sorted_indices, sorted_remove)
        scores = scores.masked_fill(remove, -float("inf"))
    return torch.softmax(scores, dim=-1)


def main():
    rng = np.random.default_rng(1234)
    cases = []
    for v, t, k, p in [(50, 1.0, 0, 0.0), (50, 0.7, 0, 0.0), (50, 1.0, 5, 0.0), (50, 1.3, 0, 0.9),
                       (64, 0.8, 10, 0.5), (64, 1.0, 0, 0.3), (200, 0.6, 50, 0.95), (33, 2.0, 1, 0.0),
                       (33, 1.0, 40, 0.99)]:
        logits = (rng.standard_normal(v) * 3).astype(np.float32)
        probs = warp(torch.from_numpy(logits).double(), t, k, p).numpy()
        cases.append({"temperature": t, "top_k": k, "top_p": p,
                      "logits": [float(x) for x in logits], "probs": [float(x) for x in probs]})
    print(json.dumps(cases))


if __name__ == "__main__":
    main()
