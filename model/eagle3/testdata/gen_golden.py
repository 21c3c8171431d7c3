#!/usr/bin/python3
"""Golden values for model/eagle3, from a plain-PyTorch (float32) reference of
training-spec §5 written from the spec's definitions (no speculators or
transformers code): aux fusion, the EAGLE-3 first layer, llama/qwen3 decoder
layers, the dense §5.4 mask with its TTT diagonal extension, soft targets over
the draft vocabulary, the §5.5 losses with per-step decay and the §5.6
accuracy chain. Autograd gives every parameter gradient.

Run from the repository root with Debian's torch:
    /usr/bin/python3 model/eagle3/testdata/gen_golden.py
It writes model/eagle3/testdata/golden/<case>.{json,bin}.
"""
import json
import math
import os

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
os.makedirs(OUT, exist_ok=True)


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


def rms(x, w, eps):
    # Hugging Face LlamaRMSNorm / Qwen3RMSNorm in float32.
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], -1)


def rope(x, pos, theta, hd):
    # x (T, heads, hd); default rope, rotate-half over the whole head.
    inv = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    freqs = pos.float()[:, None] * inv[None, :]
    emb = torch.cat([freqs, freqs], -1)
    cos, sin = emb.cos()[:, None, :], emb.sin()[:, None, :]
    return x * cos + rotate_half(x) * sin


def base_mask(doc, window):
    T = doc.shape[0]
    q = torch.arange(T)[:, None]
    kv = torch.arange(T)[None, :]
    m = (q >= kv) & (doc[q] != -1) & (doc[q] == doc[kv])
    if window:
        m = m & (kv > q - window)
    return m | (q == kv)


def extend(mask, T):
    return torch.cat([mask, torch.eye(T, dtype=torch.bool)], -1)


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
        w = torch.exp(-eta * alpha.detach())
        kl = torch.nn.functional.kl_div(lq, p, reduction="none").sum(-1)
        return w * kl + (1 - w) * (1 - alpha)
    raise ValueError(name)


def run_case(name, cfg, seed):
    g = torch.Generator().manual_seed(seed)
    H, A, V, Vd = cfg["H"], cfg["A"], cfg["V"], cfg["Vd"]
    NH, KVH, HD, I, L = cfg["NH"], cfg["KVH"], cfg["HD"], cfg["I"], cfg["L"]
    eps, theta, K = cfg["eps"], cfg["theta"], cfg["K"]
    arch = cfg["arch"]
    lens = cfg["lens"]  # unshifted sample lengths
    T = cfg["T"]

    def randn(*s, std=1.0):
        return torch.randn(*s, generator=g) * std

    # Parameters (state-dict names). Norm weights near 1, not exactly 1, so
    # their gradients matter.
    P = {}

    def lin(n, o, i, bias=False):
        P[n + ".weight"] = randn(o, i, std=0.15)
        if bias:
            P[n + ".bias"] = randn(o, std=0.1)

    def nrm(n, c):
        P[n] = 1 + randn(c, std=0.1)

    lin("fc", H, A * H)
    for l in range(L):
        p = "layers.%d." % l
        inn = 2 * H if l == 0 else H
        lin(p + "self_attn.q_proj", NH * HD, inn, cfg["attn_bias"])
        lin(p + "self_attn.k_proj", KVH * HD, inn, cfg["attn_bias"])
        lin(p + "self_attn.v_proj", KVH * HD, inn, cfg["attn_bias"])
        lin(p + "self_attn.o_proj", H, NH * HD, cfg["attn_bias"])
        if arch == "qwen3":
            nrm(p + "self_attn.q_norm.weight", HD)
            nrm(p + "self_attn.k_norm.weight", HD)
        lin(p + "mlp.gate_proj", I, H, cfg["mlp_bias"])
        lin(p + "mlp.up_proj", I, H, cfg["mlp_bias"])
        lin(p + "mlp.down_proj", H, I, cfg["mlp_bias"])
        nrm(p + "input_layernorm.weight", H)
        nrm(p + "post_attention_layernorm.weight", H)
        if l == 0:
            nrm(p + "hidden_norm.weight", H)
    nrm("norm.weight", H)
    if cfg["norm_before_fc"]:
        nrm("input_norm.weight", A * H)
    if cfg["fc_norm"]:
        for i in range(A):
            nrm("fc_norm.%d.weight" % i, H)

    # Verifier tensors and vocabulary map.
    ver_embed = randn(V, H, std=0.5)
    ver_lm = randn(V, H, std=0.4)
    ver_norm = 1 + randn(H, std=0.1)
    sel = torch.sort(torch.randperm(V, generator=g)[:Vd]).values
    t2d = torch.zeros(V, dtype=torch.bool)
    t2d[sel] = True
    d2t = sel - torch.arange(Vd)
    lm_head = ver_lm[t2d]

    # Samples (unshifted), shifted and packed (§4.3-4.4).
    ids_all, mask_all, aux_all, last_all, pos_all, doc_all = [], [], [], [], [], []
    samples = []
    for d, S in enumerate(lens):
        x = torch.randint(0, V, (S,), generator=g)
        lm = (torch.rand(S, generator=g) < 0.7).long()
        lm[: 2] = 0
        aux = randn(S, A * H)
        y = randn(S, H)
        samples.append((x, lm, aux, y))
        n = S - 1
        ids_all.append(x[1:]); mask_all.append(lm[1:]); aux_all.append(aux[:-1]); last_all.append(y[1:])
        pos_all.append(torch.arange(1, S)); doc_all.append(torch.full((n,), d))
    ids = torch.cat(ids_all); lmask = torch.cat(mask_all); aux = torch.cat(aux_all)
    last = torch.cat(last_all); pos = torch.cat(pos_all); doc = torch.cat(doc_all)
    n = ids.shape[0]
    assert n <= T
    pad = T - n
    ids = torch.cat([ids, torch.zeros(pad, dtype=torch.long)])
    lmask = torch.cat([lmask, torch.zeros(pad, dtype=torch.long)])
    pos = torch.cat([pos, torch.zeros(pad, dtype=torch.long)])
    doc = torch.cat([doc, torch.full((pad,), -1)])
    aux = torch.cat([aux, torch.zeros(pad, A * H)])
    last = torch.cat([last, torch.zeros(pad, H)])

    def forward(last):
        params = {k: v.clone().requires_grad_(True) for k, v in P.items()}

        # Forward (§5.3).
        h = aux
        if cfg["norm_before_fc"]:
            h = rms(h, params["input_norm.weight"], eps)
        if cfg["fc_norm"]:
            h = torch.cat([rms(c, params["fc_norm.%d.weight" % i], eps) for i, c in enumerate(h.chunk(A, -1))], -1)
        h = h @ params["fc.weight"].T
        with torch.no_grad():
            targets = rms(last, ver_norm, eps) @ lm_head.T
        windows = cfg["windows"]
        masks = [base_mask(doc, w) for w in windows]
        cache = [([], []) for _ in range(L)]
        prev_correct = lmask.clone().bool()
        loss = torch.zeros(())
        ids_k, pos_k = ids.clone(), pos.clone()
        terms = cfg["loss"]
        gamma = cfg["gamma"]
        out = {}
        lm_ins = []

        def lb(n):
            return params.get(n)

        for k in range(K):
            e = ver_embed[ids_k]
            x = torch.cat([e, h], -1)
            for l in range(L):
                p = "layers.%d." % l
                if l == 0:
                    ee, hh = x[:, :H], x[:, H:]
                    res = hh
                    ee = rms(ee, params[p + "input_layernorm.weight"], eps)
                    hh = rms(hh, params[p + "hidden_norm.weight"], eps)
                    if cfg["norm_before_residual"]:
                        res = hh
                    xin = torch.cat([ee, hh], -1)
                else:
                    res = x
                    xin = rms(x, params[p + "input_layernorm.weight"], eps)

                def linear(z, nme):
                    r = z @ params[nme + ".weight"].T
                    b = lb(nme + ".bias")
                    return r + b if b is not None else r

                q = linear(xin, p + "self_attn.q_proj").view(T, NH, HD)
                kk = linear(xin, p + "self_attn.k_proj").view(T, KVH, HD)
                v = linear(xin, p + "self_attn.v_proj").view(T, KVH, HD)
                if arch == "qwen3":
                    q = rms(q, params[p + "self_attn.q_norm.weight"], eps)
                    kk = rms(kk, params[p + "self_attn.k_norm.weight"], eps)
                q = rope(q, pos_k, theta, HD)
                kk = rope(kk, pos_k, theta, HD)
                cache[l][0].append(kk)
                cache[l][1].append(v)
                Kc = torch.cat(cache[l][0], 0)  # (S, KVH, HD)
                Vc = torch.cat(cache[l][1], 0)
                rep = NH // KVH
                Kc = Kc.repeat_interleave(rep, 1)
                Vc = Vc.repeat_interleave(rep, 1)
                sc = torch.einsum("thd,shd->hts", q, Kc) / math.sqrt(HD)
                sc = sc.masked_fill(~masks[l][None], float("-inf"))
                pr = torch.softmax(sc, -1)
                o = torch.einsum("hts,shd->thd", pr, Vc).reshape(T, NH * HD)
                x1 = res + linear(o, p + "self_attn.o_proj")
                x1n = rms(x1, params[p + "post_attention_layernorm.weight"], eps)
                mm = linear(torch.nn.functional.silu(linear(x1n, p + "mlp.gate_proj")) * linear(x1n, p + "mlp.up_proj"), p + "mlp.down_proj")
                x = x1 + mm
            if cfg["norm_output"]:
                h = rms(x, params["norm.weight"], eps)
                lm_in = h
            else:
                h = x
                lm_in = rms(x, params["norm.weight"], eps)
            lm_ins.append(lm_in.detach())
            logits = lm_in @ lm_head.T
            # §5.5 aligned step loss.
            Lg = logits[: T - k]
            Pt = targets[k:]
            m = lmask[k:].float()
            pc = prev_correct[: T - k]
            den = m.sum() + 1e-5
            step = torch.zeros(())
            for tn, w in terms:
                term = (per_position(tn, Lg, Pt) * m * gamma ** k).sum() / den
                out["%s_loss_%d" % (tn, k)] = term.detach()
                step = step + w * term
            loss = loss + step
            out["loss_%d" % k] = step.detach()
            pred, tgt = Lg.argmax(-1), Pt.argmax(-1)
            cond_total = pc.sum().float()
            pc &= pred == tgt
            num = (pc & m.bool()).sum().float()
            out["full_acc_%d" % k] = num / m.sum() if m.sum() > 0 else torch.zeros(())
            out["cond_acc_%d" % k] = num / cond_total if cond_total > 0 else torch.zeros(())  # a total of 0 gives 0
            # Teacher forcing and the next step's inputs.
            ids_k = torch.cat([ids[k + 1:], torch.zeros(k + 1, dtype=torch.long)])
            masks = [extend(mm_, T) for mm_ in masks]
            pos_k = pos_k + 1

        return params, loss, out, lm_ins
    # Make the targets agree with the draft where the accuracy chain needs it:
    # even positions get y = the step-0 lm_head input, the next (odd) one the
    # step-1 input, so full_acc_0/1 and cond_acc_1/2 are not trivially 0.
    # Dividing by the verifier norm weight makes the argmax identical.
    with torch.no_grad():
        _, _, _, lm_ins = forward(last)
    for r in range(n):
        if r % 2 == 0:
            last[r] = lm_ins[0][r] / ver_norm
        elif r >= 1:
            last[r] = lm_ins[1][r - 1] / ver_norm
    off = 0
    for (x, lm, a, y) in samples:
        S = x.shape[0]
        y[1:] = last[off: off + S - 1]
        off += S - 1
    params, loss, out, lm_ins = forward(last)
    loss.backward()

    w = Writer()
    w.meta = {k: v for k, v in cfg.items()}
    w.meta["loss"] = [[tn, wt] for tn, wt in cfg["loss"]]
    w.meta["params"] = list(P.keys())
    for k, v in P.items():
        w.add("param." + k, v)
        w.add("grad." + k, params[k].grad)
    w.add("ver_embed", ver_embed); w.add("ver_lm_head", ver_lm); w.add("ver_norm", ver_norm)
    w.add("d2t", d2t); w.add("t2d", t2d)
    for i, (x, lm, a, y) in enumerate(samples):
        w.add("sample%d.ids" % i, x); w.add("sample%d.mask" % i, lm)
        w.add("sample%d.aux" % i, a); w.add("sample%d.last" % i, y)
    w.add("batch.ids", ids); w.add("batch.doc", doc); w.add("batch.pos", pos); w.add("batch.mask", lmask)
    w.add("loss", loss.detach())
    for k, v in out.items():
        w.add("metric." + k, v)
    w.save(name)
    print(name, "loss", float(loss))


BASE = dict(H=32, A=3, V=64, Vd=40, NH=4, KVH=2, HD=8, I=48, L=1, eps=1e-6, theta=10000.0, K=3,
            arch="llama", lens=[13, 12], T=27, windows=[5], attn_bias=False, mlp_bias=False,
            norm_before_fc=True, fc_norm=False, norm_output=True, norm_before_residual=True,
            loss=[["kl_div", 1.0]], gamma=1.0)

CASES = {
    # The default eagle3 draft: llama, norm_before_fc, norm_output, norm_before_residual.
    "llama_default": dict(),
    # qwen3 q/k norms, two layers (one full, one sliding), decay, compound loss.
    "qwen3_two_layers": dict(arch="qwen3", L=2, windows=[0, 4], gamma=0.8,
                             loss=[["ce", 0.1], ["tv", 0.9]], theta=500000.0),
    # No input norm nor output norm, residual before hidden_norm, biases.
    "llama_plain_bias": dict(norm_before_fc=False, norm_output=False, norm_before_residual=False,
                             attn_bias=True, mlp_bias=True, loss=[["rkl", 1.0]], gamma=0.5),
    # fc_norm per aux state, jsd + nla + lk_hybrid terms.
    "llama_fc_norm": dict(norm_before_fc=False, fc_norm=True, loss=[["jsd", 0.5], ["nla", 0.3], ["lk_hybrid", 0.2]],
                          windows=[3]),
}

if __name__ == "__main__":
    torch.manual_seed(0)
    for i, (name, over) in enumerate(CASES.items()):
        cfg = dict(BASE)
        cfg.update(over)
        run_case(name, cfg, 100 + i)
