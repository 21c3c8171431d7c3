#!/usr/bin/env python3
"""PyTorch f32 baseline for `speculators bench llama`: the same checkpoint,
the same protocol (prefill of --prompt random ids, then --gen greedy decode
steps with a key/value cache, --runs measured runs after one warm-up,
medians). The model is plain torch following transformers' modeling_llama
(RMSNorm, rotate-half RoPE, GQA attention, SiLU MLP), with preallocated
cache tensors so decode does no concatenation.

    /usr/bin/python3 testdata/bench/bench_llama.py --model DIR [--threads 2] [--json]
"""
import argparse
import json
import math
import os
import statistics
import struct
import time

import numpy as np
import torch

torch.set_grad_enabled(False)


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = data[8 + n + b: 8 + n + e]
        dt = info["dtype"]
        if dt == "F32":
            arr = np.frombuffer(raw, dtype="<f4").copy()
        elif dt == "BF16":
            arr = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        elif dt == "F16":
            arr = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        else:
            raise ValueError(dt)
        out[name] = torch.from_numpy(arr.reshape(info["shape"])).contiguous()
    return out


class Llama:
    def __init__(self, d, max_len):
        with open(os.path.join(d, "config.json")) as f:
            c = json.load(f)
        self.w = read_safetensors(os.path.join(d, "model.safetensors"))
        self.H = c["hidden_size"]
        self.nh = c["num_attention_heads"]
        self.kvh = c.get("num_key_value_heads") or self.nh
        self.hd = c.get("head_dim") or self.H // self.nh
        self.n = c["num_hidden_layers"]
        self.eps = c.get("rms_norm_eps", 1e-6)
        self.V = c["vocab_size"]
        theta = c.get("rope_theta", 10000.0)
        self.inv_freq = 1.0 / (theta ** (torch.arange(0, self.hd, 2, dtype=torch.int64).float() / self.hd))
        self.head = self.w["model.embed_tokens.weight"] if c.get("tie_word_embeddings") else self.w["lm_head.weight"]
        self.k = torch.zeros(self.n, self.kvh, max_len, self.hd)
        self.v = torch.zeros(self.n, self.kvh, max_len, self.hd)
        self.len = 0

    def norm(self, x, w):
        return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))

    def rope(self, x, cos, sin):
        h = x.shape[-1] // 2
        return x * cos + torch.cat((-x[..., h:], x[..., :h]), dim=-1) * sin

    def forward(self, ids):
        T, P = len(ids), self.len
        w = self.w
        x = w["model.embed_tokens.weight"][torch.tensor(ids)]
        freqs = torch.arange(P, P + T).float()[:, None] * self.inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        g = self.nh // self.kvh
        mask = None
        if T > 1:
            mask = torch.full((T, P + T), float("-inf")).triu(P + 1)
        for l in range(self.n):
            p = f"model.layers.{l}."
            h = self.norm(x, w[p + "input_layernorm.weight"])
            q = torch.nn.functional.linear(h, w[p + "self_attn.q_proj.weight"]).view(T, self.nh, self.hd).transpose(0, 1)
            k = torch.nn.functional.linear(h, w[p + "self_attn.k_proj.weight"]).view(T, self.kvh, self.hd).transpose(0, 1)
            v = torch.nn.functional.linear(h, w[p + "self_attn.v_proj.weight"]).view(T, self.kvh, self.hd).transpose(0, 1)
            q, k = self.rope(q, cos, sin), self.rope(k, cos, sin)
            self.k[l, :, P:P + T] = k
            self.v[l, :, P:P + T] = v
            K = self.k[l, :, :P + T].repeat_interleave(g, dim=0)
            Vv = self.v[l, :, :P + T].repeat_interleave(g, dim=0)
            s = (q @ K.transpose(1, 2)) * self.hd ** -0.5
            if mask is not None:
                s = s + mask
            a = (torch.softmax(s, dim=-1) @ Vv).transpose(0, 1).reshape(T, self.nh * self.hd)
            x = x + torch.nn.functional.linear(a, w[p + "self_attn.o_proj.weight"])
            h = self.norm(x, w[p + "post_attention_layernorm.weight"])
            gate = torch.nn.functional.linear(h, w[p + "mlp.gate_proj.weight"])
            up = torch.nn.functional.linear(h, w[p + "mlp.up_proj.weight"])
            x = x + torch.nn.functional.linear(torch.nn.functional.silu(gate) * up, w[p + "mlp.down_proj.weight"])
        self.len += T
        return torch.nn.functional.linear(self.norm(x[-1:], w["model.norm.weight"]), self.head)[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--prompt", type=int, default=128)
    ap.add_argument("--gen", type=int, default=64)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    m = Llama(a.model, a.prompt + a.gen)
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, m.V, (a.prompt,), generator=g).tolist()
    pre, dec = [], []
    for r in range(a.runs + 1):
        m.len = 0
        t0 = time.perf_counter()
        logits = m.forward(ids)
        t1 = time.perf_counter()
        tok = int(torch.argmax(logits))
        for _ in range(a.gen - 1):
            logits = m.forward([tok])
            tok = int(torch.argmax(logits))
        t2 = time.perf_counter()
        if r > 0:
            pre.append(a.prompt / (t1 - t0))
            dec.append((a.gen - 1) / (t2 - t1))
    res = {"prefill_tokens_per_s": statistics.median(pre), "decode_tokens_per_s": statistics.median(dec),
           "threads": a.threads, "torch": torch.__version__}
    if a.json:
        print(json.dumps(res))
    else:
        print(res)


if __name__ == "__main__":
    main()
