#!/usr/bin/python3
"""Golden forward and backward of one Llama decoder block with a head, in PyTorch.

Run from the repository root with Debian's torch:
    /usr/bin/python3 internal/blockbench/testdata/gen_block.py
It writes internal/blockbench/testdata/block.{json,bin}, read by block_test.go.

The model, written the way Hugging Face's LlamaDecoderLayer computes it:
RMSNorm -> q/k/v -> RoPE (rotate-half) -> GQA causal attention within
documents -> o_proj -> residual -> RMSNorm -> SiLU-gated MLP -> residual ->
final RMSNorm -> lm_head, then loss = CE(labels) + KL(target logits), each the
masked mean sum(l*m)/(sum(m)+1e-5).
"""
import json
import os

import torch

OUT = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(4321)
torch.set_num_threads(1)

T, H, NH, KVH, I, V = 20, 32, 4, 2, 48, 64
HD = H // NH
EPS, THETA = 1e-6, 10000.0
DOC_LENGTHS = [12, 8]


class Writer:
    def __init__(self):
        self.buf, self.tensors, self.meta = bytearray(), {}, {}

    def add(self, name, t):
        t = t.detach().cpu()
        if t.dtype in (torch.int64, torch.int32):
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


def rmsnorm(x, w):
    var = x.pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(var + EPS))


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), -1)


def main():
    w = Writer()
    params = {
        "input_layernorm": 1 + 0.1 * torch.randn(H),
        "q_proj": 0.2 * torch.randn(NH * HD, H),
        "k_proj": 0.2 * torch.randn(KVH * HD, H),
        "v_proj": 0.2 * torch.randn(KVH * HD, H),
        "o_proj": 0.2 * torch.randn(H, NH * HD),
        "post_attention_layernorm": 1 + 0.1 * torch.randn(H),
        "gate_proj": 0.2 * torch.randn(I, H),
        "up_proj": 0.2 * torch.randn(I, H),
        "down_proj": 0.2 * torch.randn(H, I),
        "norm": 1 + 0.1 * torch.randn(H),
        "lm_head": 0.2 * torch.randn(V, H),
    }
    for n, p in params.items():
        w.add("w." + n, p)
        p.requires_grad_(True)
    x = torch.randn(T, H, requires_grad=True)
    doc = torch.cat([torch.full((l,), i) for i, l in enumerate(DOC_LENGTHS)])
    pos = torch.cat([torch.arange(l) for l in DOC_LENGTHS])
    labels = torch.randint(0, V, (T,))
    targets = 2 * torch.randn(T, V)
    mask = (torch.rand(T) < 0.7).float()
    for n, t in [("x", x), ("doc", doc), ("pos", pos), ("labels", labels), ("targets", targets), ("mask", mask)]:
        w.add(n, t)

    P = params
    inv_freq = 1.0 / (THETA ** (torch.arange(0, HD, 2, dtype=torch.int64).float() / HD))
    freqs = (inv_freq[:, None] @ pos[None, :].float()).T  # (T, HD/2)
    emb = torch.cat((freqs, freqs), -1)
    cos, sin = emb.cos(), emb.sin()

    h1 = rmsnorm(x, P["input_layernorm"])
    q = (h1 @ P["q_proj"].T).view(T, NH, HD).transpose(0, 1)  # (NH, T, HD)
    k = (h1 @ P["k_proj"].T).view(T, KVH, HD).transpose(0, 1)
    v = (h1 @ P["v_proj"].T).view(T, KVH, HD).transpose(0, 1)
    q = q * cos + rotate_half(q) * sin
    k = k * cos + rotate_half(k) * sin
    k = k.repeat_interleave(NH // KVH, dim=0)  # repeat_kv
    v = v.repeat_interleave(NH // KVH, dim=0)
    allowed = (pos[:, None] >= 0) & (torch.arange(T)[:, None] >= torch.arange(T)[None, :]) & (doc[:, None] == doc[None, :])
    scores = (q @ k.transpose(-1, -2)) * HD ** -0.5
    scores = scores.masked_fill(~allowed, float("-inf"))
    att = torch.softmax(scores, -1) @ v  # (NH, T, HD)
    att = att.transpose(0, 1).reshape(T, NH * HD)
    x1 = x + att @ P["o_proj"].T
    h2 = rmsnorm(x1, P["post_attention_layernorm"])
    mlp = (torch.nn.functional.silu(h2 @ P["gate_proj"].T) * (h2 @ P["up_proj"].T)) @ P["down_proj"].T
    x2 = x1 + mlp
    logits = rmsnorm(x2, P["norm"]) @ P["lm_head"].T
    logits.retain_grad()

    den = mask.sum() + 1e-5
    ce = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
    kl = torch.nn.functional.kl_div(torch.log_softmax(logits, -1), torch.softmax(targets, -1), reduction="none").sum(-1)
    loss = (ce * mask).sum() / den + (kl * mask).sum() / den
    loss.backward()

    w.add("logits", logits)
    w.add("loss", loss.reshape(1))
    w.add("dlogits", logits.grad)
    w.add("dx", x.grad)
    for n, p in params.items():
        w.add("g." + n, p.grad)
    w.meta = {"T": T, "H": H, "NH": NH, "KVH": KVH, "I": I, "V": V, "eps": EPS, "theta": THETA}
    w.save("block")


if __name__ == "__main__":
    main()
