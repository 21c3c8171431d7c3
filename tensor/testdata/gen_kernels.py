#!/usr/bin/python3
"""Golden values for the tensor kernels, computed with PyTorch (float32).

Run from the repository root with Debian's torch:
    /usr/bin/python3 tensor/testdata/gen_kernels.py
It writes tensor/testdata/{losses,attention,rope,optim}.{json,bin}; go test
reads them (see tensor/golden_test.go). Everything here is written from the
definitions (training-spec §5.4-5.5, the Hugging Face rope functions,
torch.optim), independent of the Go code.
"""
import json
import math
import os

import numpy as np
import torch

torch.manual_seed(1234)
OUT = os.path.dirname(os.path.abspath(__file__))


class Writer:
    def __init__(self):
        self.buf = bytearray()
        self.tensors = {}
        self.meta = {}

    def add(self, name, t):
        t = t.detach().cpu() if isinstance(t, torch.Tensor) else torch.tensor(t)
        if t.dtype in (torch.int64, torch.int32, torch.bool):
            a, dt = t.to(torch.int32).numpy().astype("<i4"), "i32"
        else:
            a, dt = t.to(torch.float32).numpy().astype("<f4"), "f32"
        self.tensors[name] = {"dtype": dt, "shape": list(a.shape), "offset": len(self.buf)}
        self.buf += a.tobytes()

    def save(self, base):
        with open(os.path.join(OUT, base + ".bin"), "wb") as f:
            f.write(bytes(self.buf))
        with open(os.path.join(OUT, base + ".json"), "w") as f:
            json.dump({"meta": self.meta, "tensors": self.tensors}, f, indent=1, sort_keys=True)
            f.write("\n")


# ---------------------------------------------------------------- losses
def per_position(name, logits, targets, eta=3.0):
    lq = torch.log_softmax(logits, -1)
    lp = torch.log_softmax(targets, -1)
    q, p = lq.exp(), lp.exp()
    if name == "kl_div":
        return torch.nn.functional.kl_div(lq, p, reduction="none").sum(-1)
    if name == "rkl":
        return (q * (lq - lp)).sum(-1)
    if name == "jsd":
        lm = torch.logaddexp(lq, lp) - math.log(2.0)
        return 0.5 * (p * (lp - lm)).sum(-1) + 0.5 * (q * (lq - lm)).sum(-1)
    if name == "ce":
        return torch.nn.functional.cross_entropy(logits, targets.argmax(-1), reduction="none")
    alpha = torch.minimum(q, p).sum(-1)
    if name == "tv":
        return 1.0 - alpha
    if name == "nla":
        return -torch.log(alpha.clamp_min(1e-5))
    if name == "lk_hybrid":
        kl = torch.nn.functional.kl_div(lq, p, reduction="none").sum(-1)
        w = torch.exp(-eta * alpha.detach())
        return w * kl + (1.0 - w) * (1.0 - alpha)
    raise ValueError(name)


def gen_losses():
    w = Writer()
    T, V = 7, 40
    logits = torch.randn(T, V) * 2
    targets = torch.randn(T, V) * 2
    mask = torch.tensor([1, 0, 1, 1, 0, 1, 1], dtype=torch.float32)
    w.add("logits", logits)
    w.add("targets", targets)
    w.add("mask", mask)
    names = ["kl_div", "rkl", "jsd", "ce", "tv", "nla", "lk_hybrid"]
    weight = 0.7
    w.meta = {"names": names, "weight": weight, "eta": 3.0}
    for name in names:
        z = logits.clone().requires_grad_(True)
        per = per_position(name, z, targets)
        loss = weight * (per * mask).sum() / (mask.sum() + 1e-5)
        loss.backward()
        w.add(name + ".per", per)
        w.add(name + ".loss", loss.reshape(1))
        w.add(name + ".grad", z.grad)
    w.save("losses")


# ------------------------------------------------------------- attention
def eagle_mask(T, steps, doc, window):
    """Boolean (T, steps*T) mask of training-spec §5.4, by explicit loops."""
    m = torch.zeros(T, steps * T, dtype=torch.bool)
    for q in range(T):
        for kv in range(steps * T):
            if kv % T == q:
                m[q, kv] = True
            elif kv < T and kv <= q and doc[q] != -1 and doc[q] == doc[kv]:
                if window == 0 or kv > q - window:
                    m[q, kv] = True
    return m


def gen_attention():
    w = Writer()
    variants = [
        # name, T, steps, NH, KVH, HD, window, document lengths (rest padding)
        ("causal_gqa", 20, 1, 4, 2, 8, 0, [20]),
        ("docs", 21, 1, 2, 2, 8, 0, [5, 1, 9]),
        ("window", 24, 1, 2, 1, 8, 5, [16, 8]),
        ("ttt3", 18, 3, 4, 2, 8, 0, [7, 8]),
        ("ttt2_window_docs", 19, 2, 2, 2, 4, 4, [10, 6]),
    ]
    meta = []
    for name, T, steps, NH, KVH, HD, window, lengths in variants:
        doc = []
        for i, l in enumerate(lengths):
            doc += [i] * l
        doc += [-1] * (T - len(doc))
        S = steps * T
        q = torch.randn(T, NH, HD, requires_grad=True)
        k = torch.randn(S, KVH, HD, requires_grad=True)
        v = torch.randn(S, KVH, HD, requires_grad=True)
        mask = eagle_mask(T, steps, doc, window)
        kk = k.repeat_interleave(NH // KVH, dim=1)  # HF repeat_kv: head h uses kv head h // group
        vv = v.repeat_interleave(NH // KVH, dim=1)
        scores = torch.einsum("thd,shd->hts", q, kk) * HD ** -0.5
        scores = scores.masked_fill(~mask, float("-inf"))
        probs = torch.softmax(scores, -1)
        out = torch.einsum("hts,shd->thd", probs, vv)
        dout = torch.randn_like(out)
        out.backward(dout)
        for n, t in [("q", q), ("k", k), ("v", v), ("dout", dout), ("out", out),
                     ("dq", q.grad), ("dk", k.grad), ("dv", v.grad)]:
            w.add(name + "." + n, t)
        w.add(name + ".doc", torch.tensor(doc))
        meta.append({"name": name, "T": T, "steps": steps, "NH": NH, "KVH": KVH, "HD": HD, "window": window})
    w.meta = {"variants": meta}
    w.save("attention")


# ------------------------------------------------------------------ rope
# The four Hugging Face inverse-frequency functions, written from their
# definitions in transformers' modeling_rope_utils.py.
def rope_default(base, dim):
    return 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim)), 1.0


def rope_linear(base, dim, sc):
    inv, a = rope_default(base, dim)
    return inv / sc["factor"], a


def rope_llama3(base, dim, sc):
    inv, a = rope_default(base, dim)
    factor, lo, hi = sc["factor"], sc["low_freq_factor"], sc["high_freq_factor"]
    old = sc["original_max_position_embeddings"]
    lo_wl, hi_wl = old / lo, old / hi
    wavelen = 2 * math.pi / inv
    il = torch.where(wavelen > lo_wl, inv / factor, inv)
    smooth = (old / wavelen - lo) / (hi - lo)
    smoothed = (1 - smooth) * il / factor + smooth * il
    medium = ~(wavelen < hi_wl) * ~(wavelen > lo_wl)
    return torch.where(medium, smoothed, il), a


def rope_yarn(base, dim, sc, max_pos):
    factor = sc["factor"]
    af = sc.get("attention_factor")
    ms, msa = sc.get("mscale"), sc.get("mscale_all_dim")
    if "original_max_position_embeddings" in sc:
        orig = sc["original_max_position_embeddings"]
        factor = max_pos / orig
    else:
        orig = max_pos

    def get_mscale(s, m=1):
        return 1.0 if s <= 1 else 0.1 * m * math.log(s) + 1.0

    if af is None:
        af = get_mscale(factor, ms) / get_mscale(factor, msa) if ms and msa else get_mscale(factor)
    bf, bs = sc.get("beta_fast") or 32, sc.get("beta_slow") or 1

    def corr_dim(rot):
        return (dim * math.log(orig / (rot * 2 * math.pi))) / (2 * math.log(base))

    low, high = corr_dim(bf), corr_dim(bs)
    if sc.get("truncate", True):
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001
    ramp = torch.clamp((torch.arange(dim // 2, dtype=torch.float32) - low) / (high - low), 0, 1)
    pos_freqs = base ** (torch.arange(0, dim, 2).float() / dim)
    extra = 1.0 / pos_freqs
    interp = 1.0 / (factor * pos_freqs)
    ef = 1 - ramp
    return interp * (1 - ef) + extra * ef, af


def gen_rope():
    w = Writer()
    cases = [
        ("default", 10000.0, 64, 1.0, 2048, None),
        ("default_partial", 10000.0, 64, 0.25, 2048, None),
        ("linear", 10000.0, 32, 1.0, 4096, {"rope_type": "linear", "factor": 4.0}),
        ("llama3", 500000.0, 128, 1.0, 131072, {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                                 "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}),
        ("yarn", 1000000.0, 128, 1.0, 32768, {"rope_type": "yarn", "factor": 4.0}),
        ("yarn_orig", 10000.0, 64, 1.0, 163840, {"type": "yarn", "factor": 40.0, "original_max_position_embeddings": 4096,
                                                 "beta_fast": 32, "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 1.0}),
        ("yarn_mscale_notrunc", 10000.0, 64, 1.0, 8192, {"rope_type": "yarn", "factor": 2.0, "mscale": 0.707,
                                                         "mscale_all_dim": 1.0, "truncate": False}),
    ]
    meta = []
    pos = torch.tensor([0, 1, 5, 100, 4097, 30000])
    for name, base, hd, prf, max_pos, sc in cases:
        dim = int(hd * prf)
        typ = "default" if sc is None else sc.get("rope_type", sc.get("type"))
        if typ == "default":
            inv, af = rope_default(base, dim)
        elif typ == "linear":
            inv, af = rope_linear(base, dim, sc)
        elif typ == "llama3":
            inv, af = rope_llama3(base, dim, sc)
        else:
            inv, af = rope_yarn(base, dim, sc, max_pos)
        # HF rotary forward: freqs = inv_freq ⊗ pos in float32, emb = cat(freqs, freqs).
        freqs = inv[:, None].float() @ pos[None, :].float()
        emb = torch.cat((freqs.T, freqs.T), -1)
        cos, sin = emb.cos() * af, emb.sin() * af
        x = torch.randn(len(pos), 2, hd)
        xr, xp = x[..., :dim], x[..., dim:]
        rot = torch.cat((-xr[..., dim // 2:], xr[..., : dim // 2]), -1)
        out = torch.cat((xr * cos[:, None, :] + rot * sin[:, None, :], xp), -1)
        w.add(name + ".inv_freq", inv)
        w.add(name + ".cos", cos[:, : dim // 2])
        w.add(name + ".sin", sin[:, : dim // 2])
        w.add(name + ".x", x)
        w.add(name + ".out", out)
        meta.append({"name": name, "rope_theta": base, "head_dim": hd, "partial_rotary_factor": prf,
                     "max_position_embeddings": max_pos, "rope_scaling": sc, "attention_factor": af})
    w.add("pos", pos)
    w.meta = {"cases": meta}
    w.save("rope")


# ---------------------------------------------------------------- optim
def newton_schulz(g, steps=5, eps=1e-7):
    a, b, c = 3.4445, -4.7750, 2.0315
    x = g.clone()
    trans = g.size(0) > g.size(1)
    if trans:
        x = x.T
    x = x / x.norm().clamp(min=eps)
    for _ in range(steps):
        A = x @ x.T
        B = b * A + c * A @ A
        x = a * x + B @ x
    return x.T if trans else x


def gen_optim():
    w = Writer()
    # AdamW, two groups: decay on the matrix, none on the vector.
    p1 = torch.nn.Parameter(torch.randn(6, 5))
    p2 = torch.nn.Parameter(torch.randn(5))
    w.add("adamw.p1.init", p1)
    w.add("adamw.p2.init", p2)
    opt = torch.optim.AdamW([{"params": [p1], "weight_decay": 0.1}, {"params": [p2], "weight_decay": 0.0}],
                            lr=1e-2, betas=(0.9, 0.999), eps=1e-8)
    steps = 4
    for s in range(steps):
        g1, g2 = torch.randn(6, 5), torch.randn(5)
        w.add("adamw.g1.%d" % s, g1)
        w.add("adamw.g2.%d" % s, g2)
        p1.grad, p2.grad = g1, g2
        opt.step()
    w.add("adamw.p1.final", p1)
    w.add("adamw.p2.final", p2)
    # clip_grad_norm_
    a, b = torch.nn.Parameter(torch.zeros(7)), torch.nn.Parameter(torch.zeros(3, 4))
    a.grad, b.grad = torch.randn(7), torch.randn(3, 4)
    w.add("clip.a", a.grad)
    w.add("clip.b", b.grad)
    total = torch.nn.utils.clip_grad_norm_([a, b], max_norm=1.5)
    w.add("clip.total", total.reshape(1))
    w.add("clip.a.out", a.grad)
    w.add("clip.b.out", b.grad)
    # Newton-Schulz, wide and tall.
    for name, shape in [("ns.wide", (8, 24)), ("ns.tall", (24, 8))]:
        g = torch.randn(*shape)
        w.add(name + ".g", g)
        w.add(name + ".out", newton_schulz(g))
    w.meta = {"adamw_steps": steps, "clip_max_norm": 1.5}
    w.save("optim")


if __name__ == "__main__":
    torch.set_num_threads(1)
    gen_losses()
    gen_attention()
    gen_rope()
    gen_optim()
