#!/usr/bin/python3
"""PyTorch eager (float32, CPU) reference of one full EAGLE-3 training-loop
step, the workload of BenchmarkTrainLoopStep in train/bench_test.go: hidden
1024, 8 heads of 128 (4 KV heads), MLP 3072, verifier vocabulary 32000, draft
vocabulary 8192, one llama layer, T = 2048 packed as 4 documents, 3 TTT
steps, sliding window 2048, kl_div, uniform noise 0.05; then
clip_grad_norm_(1.0) and the optimizer step of speculators' default
optimizer: Muon on the 2-D weights (lr 1e-3, momentum 0.95, Nesterov, 5
Newton-Schulz steps, match_rms_adamw, weight decay 0.1) and AdamW on the
norms (lr 1e-4, weight decay 0.01), as training-spec §6.1-6.2 describe.

torch.optim.Muon appeared in PyTorch 2.9; Debian's torch 1.13 lacks it, so
Muon is written here with torch ops (in float32, like the Go side).

    /usr/bin/python3 train/testdata/bench_train_step.py [--steps N] [--warmup W] [--threads 2] [--T 2048] [--optimizer muon|adamw] [--json]
"""
import argparse
import json
import math
import resource
import statistics
import sys
import time

import torch

p = argparse.ArgumentParser()
p.add_argument("--steps", type=int, default=2)
p.add_argument("--warmup", type=int, default=1)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--T", type=int, default=2048)
p.add_argument("--optimizer", default="muon")
p.add_argument("--json", action="store_true")
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)

H, NH, KVH, HD, I, V, Vd, T, K, DOCS, A = 1024, 8, 4, 128, 3072, 32000, 8192, a.T, 3, 4, 3
eps, theta, window = 1e-6, 5000000.0, 2048
LR, MUON_LR = 1e-4, 1e-3


def rms(x, w):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], -1)


inv = 1.0 / (theta ** (torch.arange(0, HD, 2).float() / HD))


def rope(x, pos):
    f = pos.float()[:, None] * inv[None, :]
    emb = torch.cat([f, f], -1)
    return x * emb.cos()[:, None, :] + rotate_half(x) * emb.sin()[:, None, :]


def param(*shape, norm=False):
    t = torch.ones(*shape) if norm else torch.randn(*shape) * 0.02
    return t.requires_grad_(True)


P = dict(input_norm=param(A * H, norm=True), fc=param(H, A * H), hidden_norm=param(H, norm=True),
         in_ln=param(H, norm=True), post_ln=param(H, norm=True), q=param(NH * HD, 2 * H), k=param(KVH * HD, 2 * H),
         v=param(KVH * HD, 2 * H), o=param(H, NH * HD), gate=param(I, H), up=param(I, H), down=param(H, I),
         norm=param(H, norm=True))
embed = torch.randn(V, H) * 0.02
lm_head = torch.randn(Vd, H) * 0.02
ver_norm = torch.ones(H)

per = T // DOCS
idx = torch.arange(T)
doc = idx // per
pos = idx % per + 1
ids = torch.randint(0, V, (T,))
mask = ((idx % per) >= per // 4).float()
aux_in = torch.randn(T, A * H)
last = torch.randn(T, H)
q_i, kv_i = idx[:, None], idx[None, :]
base = ((q_i >= kv_i) & (doc[q_i] == doc[kv_i]) & (kv_i > q_i - window)) | (q_i == kv_i)
eye = torch.eye(T, dtype=torch.bool)


class Muon:
    """torch.optim.Muon's update (PyTorch 2.9) in float32."""

    def __init__(self, params, lr, momentum=0.95, weight_decay=0.1, ns_steps=5):
        self.params, self.lr, self.mu, self.wd, self.ns = params, lr, momentum, weight_decay, ns_steps
        self.buf = [torch.zeros_like(t) for t in params]

    @torch.no_grad()
    def step(self):
        for t, buf in zip(self.params, self.buf):
            g = t.grad
            buf.lerp_(g, 1 - self.mu)
            u = g.lerp(buf, self.mu)
            x = u.T if u.shape[0] > u.shape[1] else u
            x = x / x.norm().clamp(min=1e-7)
            for _ in range(self.ns):
                gram = x @ x.T
                upd = torch.addmm(gram, gram, gram, beta=-4.7750, alpha=2.0315)
                x = torch.addmm(x, upd, x, beta=3.4445)
            if u.shape[0] > u.shape[1]:
                x = x.T
            adj = self.lr * 0.2 * math.sqrt(max(t.shape))
            t.mul_(1 - self.lr * self.wd)
            t.add_(x, alpha=-adj)


if a.optimizer == "adamw":
    opts = [torch.optim.AdamW(list(P.values()), lr=LR, weight_decay=0.01)]
else:
    mats = [t for t in P.values() if t.dim() == 2]
    vecs = [t for t in P.values() if t.dim() != 2]
    opts = [Muon(mats, MUON_LR), torch.optim.AdamW(vecs, lr=LR, weight_decay=0.01)]


def step():
    for t in P.values():
        t.grad = None
    aux = aux_in + 2 * (torch.rand_like(aux_in) - 0.5) * 0.05
    h = rms(aux, P["input_norm"]) @ P["fc"].T
    with torch.no_grad():
        targets = rms(last, ver_norm) @ lm_head.T
    prev = mask.bool().clone()
    m = base
    ks, vs = [], []
    loss = torch.zeros(())
    ids_k, pos_k = ids, pos
    for k in range(K):
        e = embed[ids_k]
        res = rms(h, P["hidden_norm"])
        xin = torch.cat([rms(e, P["in_ln"]), res], -1)
        q = rope((xin @ P["q"].T).view(T, NH, HD), pos_k)
        kk = rope((xin @ P["k"].T).view(T, KVH, HD), pos_k)
        v = (xin @ P["v"].T).view(T, KVH, HD)
        ks.append(kk)
        vs.append(v)
        Kc = torch.cat(ks).repeat_interleave(NH // KVH, 1).transpose(0, 1)
        Vc = torch.cat(vs).repeat_interleave(NH // KVH, 1).transpose(0, 1)
        sc = torch.matmul(q.transpose(0, 1), Kc.transpose(1, 2)) / math.sqrt(HD)
        sc = sc.masked_fill(~m[None], float("-inf"))
        o = torch.matmul(torch.softmax(sc, -1), Vc).transpose(0, 1).reshape(T, NH * HD)
        x1 = res + o @ P["o"].T
        x1n = rms(x1, P["post_ln"])
        x = x1 + (torch.nn.functional.silu(x1n @ P["gate"].T) * (x1n @ P["up"].T)) @ P["down"].T
        h = rms(x, P["norm"])
        logits = h @ lm_head.T
        Lg, Pt, mk = logits[: T - k], targets[k:], mask[k:]
        el = torch.nn.functional.kl_div(torch.log_softmax(Lg, -1), torch.softmax(Pt, -1), reduction="none").sum(-1)
        loss = loss + (el * mk).sum() / (mk.sum() + 1e-5)
        with torch.no_grad():
            prev[: T - k] &= Lg.argmax(-1) == Pt.argmax(-1)
        ids_k = torch.cat([ids[k + 1:], torch.zeros(k + 1, dtype=torch.long)])
        m = torch.cat([m, eye], -1)
        pos_k = pos_k + 1
    loss.backward()
    torch.nn.utils.clip_grad_norm_(list(P.values()), 1.0)
    for o in opts:
        o.step()
    return float(loss)


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


for _ in range(a.warmup):
    step()
wall, cpus = [], []
for _ in range(a.steps):
    t0, c0 = time.perf_counter(), cpu()
    step()
    wall.append(time.perf_counter() - t0)
    cpus.append(cpu() - c0)
res = {"step_ms": 1e3 * statistics.median(wall), "step_cpu_ms": 1e3 * statistics.median(cpus),
       "tokens_per_s": T / statistics.median(wall), "threads": a.threads, "T": T, "optimizer": a.optimizer}
if a.json:
    print(json.dumps(res))
else:
    print("PyTorch %s eager, %d threads, %s: step %.0f ms (CPU %.0f ms), %.0f tokens/s" %
          (torch.__version__, a.threads, a.optimizer, res["step_ms"], res["step_cpu_ms"], res["tokens_per_s"]), file=sys.stderr)
