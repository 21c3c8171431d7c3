#!/usr/bin/env python3
"""Golden logits and hidden states for model/llama, from a plain-PyTorch
re-implementation of transformers' modeling_llama / modeling_mistral /
modeling_qwen2 / modeling_qwen3 (float32, eager attention).

Usage (from the repository root):
    go test ./model/llama -run TestGolden -golden-models /tmp/golden-models
    /usr/bin/python3 model/llama/testdata/gen_golden.py /tmp/golden-models model/llama/testdata/golden

The first command writes the tiny random checkpoints of every golden case
(internal/testmodel, deterministic); this script reads each one with its own
safetensors reader and writes golden/<case>.safetensors holding input_ids,
layer_ids, logits [T, V] and hidden_states [T, A, H], plus the SHA-256 of the
weights it read so the Go test can tell a changed generator from a bug.
"""
import hashlib
import json
import math
import os
import struct
import sys

import numpy as np
import torch

torch.set_grad_enabled(False)


# ---- safetensors, read by hand (the safetensors package is not installed) ----

def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = data[base + b: base + e]
        shape = info["shape"]
        dt = info["dtype"]
        if dt == "F32":
            arr = np.frombuffer(raw, dtype="<f4").copy()
        elif dt == "F16":
            arr = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif dt == "BF16":
            arr = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise ValueError(f"{path}: {name}: dtype {dt}")
        out[name] = torch.from_numpy(arr.reshape(shape))
    return out


def load_dir(d):
    idx = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(idx):
        with open(idx) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    h = hashlib.sha256()
    w = {}
    for fn in files:
        p = os.path.join(d, fn)
        with open(p, "rb") as f:
            h.update(f.read())
        w.update(read_safetensors(p))
    return w, h.hexdigest()


# ---- RoPE: transformers' modeling_rope_utils, default/linear/llama3/yarn ----

def rope_init(cfg, head_dim):
    base = cfg.get("rope_theta", 10000.0)
    prf = cfg.get("partial_rotary_factor", 1.0)
    dim = int(head_dim * prf)
    rs = cfg.get("rope_scaling")
    rtype = "default" if rs is None else rs.get("rope_type", rs.get("type", "default"))
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    if rtype == "default":
        return inv_freq, 1.0
    if rtype == "linear":
        return inv_freq / rs["factor"], 1.0
    if rtype == "llama3":
        factor = rs["factor"]
        low_freq_factor = rs["low_freq_factor"]
        high_freq_factor = rs["high_freq_factor"]
        old_context_len = rs["original_max_position_embeddings"]
        low_freq_wavelen = old_context_len / low_freq_factor
        high_freq_wavelen = old_context_len / high_freq_factor
        wavelen = 2 * math.pi / inv_freq
        inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
        smooth_factor = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
        smoothed = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
        is_medium = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
        return torch.where(is_medium, smoothed, inv_freq_llama), 1.0
    if rtype == "yarn":
        factor = rs["factor"]
        attention_factor = rs.get("attention_factor")
        mscale = rs.get("mscale")
        mscale_all_dim = rs.get("mscale_all_dim")
        omax = rs.get("original_max_position_embeddings") or cfg["max_position_embeddings"]
        if "original_max_position_embeddings" in rs:
            factor = cfg["max_position_embeddings"] / omax

        def get_mscale(scale, m=1):
            return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0

        if attention_factor is None:
            if mscale and mscale_all_dim:
                attention_factor = float(get_mscale(factor, mscale) / get_mscale(factor, mscale_all_dim))
            else:
                attention_factor = get_mscale(factor)
        beta_fast = rs.get("beta_fast") or 32
        beta_slow = rs.get("beta_slow") or 1

        def corr_dim(rot):
            return (dim * math.log(omax / (rot * 2 * math.pi))) / (2 * math.log(base))

        low, high = corr_dim(beta_fast), corr_dim(beta_slow)
        if rs.get("truncate", True):
            low, high = math.floor(low), math.ceil(high)
        low, high = max(low, 0), min(high, dim - 1)
        if low == high:
            high += 0.001
        ramp = torch.clamp((torch.arange(dim // 2, dtype=torch.float32) - low) / (high - low), 0, 1)
        pos_freqs = base ** (torch.arange(0, dim, 2).float() / dim)
        extra = 1.0 / pos_freqs
        interp = 1.0 / (factor * pos_freqs)
        ef = 1 - ramp
        return interp * (1 - ef) + extra * ef, attention_factor
    raise ValueError(rtype)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def apply_rope(x, cos, sin):
    # x (heads, T, hd); cos/sin (T, rot); partial rotary passes the rest through
    rot = cos.shape[-1]
    xr, xp = x[..., :rot], x[..., rot:]
    return torch.cat((xr * cos + rotate_half(xr) * sin, xp), dim=-1)


def rms_norm(x, w, eps):
    xf = x.to(torch.float32)
    var = xf.pow(2).mean(-1, keepdim=True)
    return w * (xf * torch.rsqrt(var + eps))


def layer_windows(cfg):
    n = cfg["num_hidden_layers"]
    mt = cfg["model_type"]
    if mt == "mistral":
        w = cfg.get("sliding_window", 4096)
        return [w] * n
    if mt in ("qwen2", "qwen3"):
        sw = cfg.get("sliding_window", 4096) if cfg.get("use_sliding_window", False) else None
        types = cfg.get("layer_types") or [
            "sliding_attention" if sw is not None and i >= cfg.get("max_window_layers", 28) else "full_attention"
            for i in range(n)]
        return [sw if t == "sliding_attention" else None for t in types]
    return [None] * n


def forward(cfg, w, ids, capture):
    """Returns logits (T, V) and hidden_states (T, A, H) with vLLM's ids."""
    mt = cfg["model_type"]
    H = cfg["hidden_size"]
    nh = cfg["num_attention_heads"]
    kvh = cfg.get("num_key_value_heads") or nh
    hd = cfg.get("head_dim") or H // nh
    eps = cfg.get("rms_norm_eps", 1e-6)
    n = cfg["num_hidden_layers"]
    T = len(ids)
    inv_freq, ascale = rope_init(cfg, hd)
    pos = torch.arange(T).float()
    freqs = pos[:, None] @ inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos() * ascale, emb.sin() * ascale
    windows = layer_windows(cfg)

    def lin(x, name):
        y = x @ w[name + ".weight"].T
        b = w.get(name + ".bias")
        return y if b is None else y + b

    x = w["model.embed_tokens.weight"][torch.tensor(ids)]
    states = []
    for l in range(n):
        states.append(x)
        p = f"model.layers.{l}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = lin(h, p + "self_attn.q_proj").view(T, nh, hd).transpose(0, 1)
        k = lin(h, p + "self_attn.k_proj").view(T, kvh, hd).transpose(0, 1)
        v = lin(h, p + "self_attn.v_proj").view(T, kvh, hd).transpose(0, 1)
        if mt == "qwen3":
            q = rms_norm(q, w[p + "self_attn.q_norm.weight"], eps)
            k = rms_norm(k, w[p + "self_attn.k_norm.weight"], eps)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        k = k.repeat_interleave(nh // kvh, dim=0)
        v = v.repeat_interleave(nh // kvh, dim=0)
        scores = (q @ k.transpose(1, 2)) * hd ** -0.5
        qi = torch.arange(T)[:, None]
        ki = torch.arange(T)[None, :]
        allowed = ki <= qi
        if windows[l] is not None:
            allowed = allowed & (ki > qi - windows[l])
        scores = scores.masked_fill(~allowed, torch.finfo(torch.float32).min)
        probs = torch.softmax(scores, dim=-1, dtype=torch.float32)
        a = (probs @ v).transpose(0, 1).reshape(T, nh * hd)
        x = x + lin(a, p + "self_attn.o_proj")
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        g = lin(h, p + "mlp.gate_proj")
        u = lin(h, p + "mlp.up_proj")
        x = x + lin(torch.nn.functional.silu(g) * u, p + "mlp.down_proj")
    states.append(x)
    head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings", False) else w["lm_head.weight"]
    logits = rms_norm(x, w["model.norm.weight"], eps) @ head.T
    hidden = torch.stack([states[i] for i in capture], dim=1)
    return logits, hidden


def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    blobs = []
    off = 0
    for name, arr in tensors:
        dt = {np.float32: "F32", np.int64: "I64"}[arr.dtype.type]
        b = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(hb)) + hb + b"".join(blobs))
    os.replace(path + ".tmp", path)


def main():
    src, dst = sys.argv[1], sys.argv[2]
    os.makedirs(dst, exist_ok=True)
    for case in sorted(os.listdir(src)):
        d = os.path.join(src, case)
        with open(os.path.join(d, "config.json")) as f:
            cfg = json.load(f)
        w, sha = load_dir(d)
        V = cfg["vocab_size"]
        n = cfg["num_hidden_layers"]
        T = 13
        ids = [(i * 7919 + 13) % V for i in range(T)]
        capture = list(range(n + 1))
        logits, hidden = forward(cfg, w, ids, capture)
        write_safetensors(os.path.join(dst, case + ".safetensors"), [
            ("hidden_states", hidden.numpy().astype(np.float32)),
            ("logits", logits.numpy().astype(np.float32)),
            ("input_ids", np.array(ids, dtype=np.int64)),
            ("layer_ids", np.array(capture, dtype=np.int64)),
        ], {"weights_sha256": sha, "torch": torch.__version__})
        print(case, "T", T, "V", V, "max|logit|", float(logits.abs().max()))


if __name__ == "__main__":
    main()
