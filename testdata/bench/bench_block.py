#!/usr/bin/python3
"""PyTorch f32 version of `speculators bench block`: one training step of a
Llama decoder block plus a linear head (go-stack.md §3).

Same workload as internal/blockbench: RMSNorm (eps 1e-6), q/k/v/o 512->512,
8 heads of 64, RoPE (theta 1e4, rotate-half), causal softmax attention
(explicit matmul + mask + softmax: torch 1.13 has no scaled_dot_product_attention),
RMSNorm, SiLU-gated MLP 512->1536->512, residuals, final RMSNorm, linear head
over 8192 classes, mean cross-entropy, clip_grad_norm_(1.0), AdamW (lr 1e-4,
weight decay 0.01 on 2-D weights, cosine schedule with 10 warm-up steps).
Random inputs and labels; the median of --steps timed steps after --warmup.

Run with Debian's torch:  /usr/bin/python3 testdata/bench/bench_block.py --json
"""
import argparse
import json
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, h, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(h))
        self.eps = eps

    def forward(self, x):
        var = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(var + self.eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), -1)


class Block(nn.Module):
    def __init__(self, H, NH, I, V, T, eps=1e-6, theta=1e4):
        super().__init__()
        self.NH, self.HD = NH, H // NH
        self.in_norm, self.post_norm, self.norm = RMSNorm(H, eps), RMSNorm(H, eps), RMSNorm(H, eps)
        self.q, self.k, self.v, self.o = (nn.Linear(H, H, bias=False) for _ in range(4))
        self.gate, self.up = nn.Linear(H, I, bias=False), nn.Linear(H, I, bias=False)
        self.down = nn.Linear(I, H, bias=False)
        self.head = nn.Linear(H, V, bias=False)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.02)
        inv = 1.0 / (theta ** (torch.arange(0, self.HD, 2).float() / self.HD))
        freqs = torch.outer(torch.arange(T).float(), inv)
        emb = torch.cat((freqs, freqs), -1)
        self.register_buffer("cos", emb.cos())
        self.register_buffer("sin", emb.sin())
        self.register_buffer("causal", torch.ones(T, T, dtype=torch.bool).tril())

    def forward(self, x):  # x (T, H)
        T, H = x.shape
        h = self.in_norm(x)
        q = self.q(h).view(T, self.NH, self.HD).transpose(0, 1)
        k = self.k(h).view(T, self.NH, self.HD).transpose(0, 1)
        v = self.v(h).view(T, self.NH, self.HD).transpose(0, 1)
        q = q * self.cos + rotate_half(q) * self.sin
        k = k * self.cos + rotate_half(k) * self.sin
        s = (q @ k.transpose(-1, -2)) * self.HD ** -0.5
        s = s.masked_fill(~self.causal, float("-inf"))
        a = (torch.softmax(s, -1) @ v).transpose(0, 1).reshape(T, H)
        x = x + self.o(a)
        h = self.post_norm(x)
        x = x + self.down(F.silu(self.gate(h)) * self.up(h))
        return self.head(self.norm(x))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--mlp", type=int, default=1536)
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    m = Block(a.hidden, a.heads, a.mlp, a.vocab, a.seq)
    decay = [p for p in m.parameters() if p.dim() == 2]
    no_decay = [p for p in m.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-4, betas=(0.9, 0.999), eps=1e-8)
    total = a.steps + a.warmup

    def lr_at(step):  # linear warm-up over 10 steps, then cosine to 0
        if step < 10:
            return (step + 1) / 10
        return 0.5 * (1 + math.cos(math.pi * min((step - 10) / max(total - 10, 1), 1)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    x = torch.randn(a.seq, a.hidden)
    y = torch.randint(0, a.vocab, (a.seq,))
    times = []
    cpus = []
    for i in range(total):
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(m(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        sched.step()
        d = time.perf_counter() - t0
        if i >= a.warmup:
            times.append(d)
            cpus.append(time.process_time() - c0)
        print("step %d/%d loss %.4f %.1f ms" % (i + 1, total, loss.item(), d * 1000), file=sys.stderr)
    med = statistics.median(times)
    res = {"tokens_per_s": a.seq / med, "step_ms": med * 1000, "step_cpu_ms": statistics.median(cpus) * 1000}
    # step_cpu_ms counts every thread's CPU time, including OpenMP/OpenBLAS
    # threads spinning while they wait for work.
    if a.json:
        print(json.dumps(res))
    else:
        print("median of %d steps: %.1f ms/step, %.0f tokens/s (torch %s, %d threads)"
              % (a.steps, res["step_ms"], res["tokens_per_s"], torch.__version__, a.threads))


if __name__ == "__main__":
    main()
