#!/usr/bin/python3
"""Generate safetensors goldens for the Go package (run from this directory
with /usr/bin/python3; needs python3-torch and python3-numpy from Debian).

Python's `safetensors` and `huggingface_hub` cannot be installed here (no
PyPI, no Debian package), so this script carries a small Python rendition of
the two upstream algorithms, cited where they live:

* huggingface/safetensors, safetensors/src/tensor.rs `prepare`: sort tensors
  by dtype descending in the order of `enum Dtype` (derived Ord), then by
  name; compact serde_json header with `__metadata__` first and fields
  dtype, shape, data_offsets; pad with spaces to a multiple of 8; prefix the
  header length as a little-endian u64. serde_json's string escaping equals
  json.dumps(ensure_ascii=False) for the names used here.
* huggingface_hub, serialization/_base.py
  `split_state_dict_into_shards_factory` (what transformers' save_pretrained
  calls): fill shards in state-dict order; a tensor larger than the limit gets
  a shard of its own, appended at once; names model-0000i-of-0000n; the index
  is json.dumps(..., indent=2, sort_keys=True) + "\\n" (real json.dumps here).

Before writing anything the script checks its serializer against the byte
strings that the upstream test suites assert (bindings/python/tests/
test_simple.py and src/tensor.rs tests), so the rendition is tied to the real
library's output. Tensor values and the float32 -> bf16/f16 roundings come
from torch.
"""
import json
import os
import struct

import numpy as np
import torch

DTYPE_ORDER = ["BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2", "F8_E4M3",
               "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "I16", "U16", "F16", "BF16",
               "I32", "U32", "F32", "C64", "F64", "I64", "U64"]
TORCH = {torch.bool: "BOOL", torch.uint8: "U8", torch.int8: "I8", torch.int16: "I16",
         torch.float16: "F16", torch.bfloat16: "BF16", torch.int32: "I32",
         torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}


def tensor_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    return t.numpy().tobytes()  # little-endian host


def serialize(items, metadata=None):
    """items: list of (name, dtype string, shape, bytes)."""
    items = sorted(items, key=lambda x: x[0])
    items = sorted(items, key=lambda x: -DTYPE_ORDER.index(x[1]))  # stable: name order kept
    hdr = {}
    if metadata is not None:
        hdr["__metadata__"] = metadata
    off = 0
    data = b""
    for name, dt, shape, b in items:
        hdr[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        data += b
    h = json.dumps(hdr, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def save_file(state, path, metadata=None):
    items = [(k, TORCH[v.dtype], tuple(v.shape), tensor_bytes(v)) for k, v in state.items()]
    with open(path, "wb") as f:
        f.write(serialize(items, metadata))


def check_upstream():
    z16 = bytes(16)
    assert serialize([("test", "I32", (2, 2), z16)]) == \
        b'@\x00\x00\x00\x00\x00\x00\x00{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}    ' + z16
    assert serialize([("test2", "F16", (2, 2), bytes(8)), ("test1", "I32", (2, 2), z16)]) == \
        b'\x80\x00\x00\x00\x00\x00\x00\x00{"test1":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]},"test2":{"dtype":"F16","shape":[2,2],"data_offsets":[16,24]}}      ' + bytes(24)
    assert serialize([("test1", "I32", (2, 2), z16)], {"framework": "pt"}) == \
        b'`\x00\x00\x00\x00\x00\x00\x00{"__metadata__":{"framework":"pt"},"test1":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}} ' + z16
    assert serialize([]) == bytes([8, 0, 0, 0, 0, 0, 0, 0]) + b"{}      "


def split(state, max_shard_size):
    shards, cur, cur_size, total = [], {}, 0, 0
    for k, v in state.items():
        size = v.numel() * v.element_size()
        if size > max_shard_size:
            total += size
            shards.append({k: v})
            continue
        if cur_size + size > max_shard_size:
            shards.append(cur)
            cur, cur_size = {}, 0
        cur[k] = v
        cur_size += size
        total += size
    if cur:
        shards.append(cur)
    return shards, total


def save_pretrained(state, d, max_shard_size, total_parameters=None):
    os.makedirs(d, exist_ok=True)
    shards, total = split(state, max_shard_size)
    if len(shards) == 1:
        save_file(shards[0], os.path.join(d, "model.safetensors"), {"format": "pt"})
        return
    wm = {}
    for i, s in enumerate(shards):
        name = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file(s, os.path.join(d, name), {"format": "pt"})
        for k in s:
            wm[k] = name
    meta = {"total_size": total}
    if total_parameters is not None:
        meta["total_parameters"] = total_parameters
    with open(os.path.join(d, "model.safetensors.index.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps({"metadata": meta, "weight_map": wm}, indent=2, sort_keys=True) + "\n")


def manifest(state, path, **extra):
    m = {"order": [[k, TORCH[v.dtype], list(v.shape)] for k, v in state.items()]}
    m.update(extra)
    with open(path, "w") as f:
        json.dump(m, f, indent=1)
        f.write("\n")


def main():
    check_upstream()
    g = torch.Generator().manual_seed(0)
    out = "golden"
    os.makedirs(out, exist_ok=True)

    # Float32 values whose bf16/f16 roundings torch decides: random normals
    # plus ties, subnormals, overflow, infinities and NaN.
    special = torch.tensor([0.0, -0.0, 1.0, -1.0, 1.00390625, 1.01171875, 1.0009765625,
                            3.0e-8, 6.0e-8, 2.9802322e-08, 5.96e-8, 6.1e-5, 6.097e-5,
                            65504.0, 65519.0, 65520.0, 1e6, -1e30, 3.4e38, 1e-40, -1e-45,
                            float("inf"), float("-inf"), float("nan")], dtype=torch.float32)
    src = torch.cat([torch.randn(1000, generator=g) * 10, torch.randn(200, generator=g) * 1e-5, special])
    conv = {"src": src, "src.bf16": src.to(torch.bfloat16), "src.f16": src.to(torch.float16),
            "src.f64": src.to(torch.float64),
            "src.bf16.f32": src.to(torch.bfloat16).to(torch.float32),
            "src.f16.f32": src.to(torch.float16).to(torch.float32)}
    save_file(conv, os.path.join(out, "conversions.safetensors"))

    # A small eagle3-like state dict with every dtype and a few odd names.
    state = {
        "d2t": torch.randint(0, 50, (32,), generator=g, dtype=torch.int64),
        "t2d": torch.rand(100, generator=g) < 0.3,
        "embed_tokens.weight": torch.randn(100, 16, generator=g).to(torch.bfloat16),
        "fc.weight": torch.randn(16, 48, generator=g).to(torch.bfloat16),
        "layers.0.self_attn.q_proj.weight": torch.randn(16, 32, generator=g).to(torch.bfloat16),
        "layers.0.input_layernorm.weight": torch.ones(16).to(torch.bfloat16),
        "lm_head.weight": torch.randn(32, 16, generator=g).to(torch.float16),
        "norm.weight": torch.randn(16, generator=g),
        "rope.f64": torch.randn(4, generator=g, dtype=torch.float64),
        "ids.i32": torch.randint(-1000, 1000, (5,), generator=g, dtype=torch.int32),
        "ids.i16": torch.randint(-1000, 1000, (6,), generator=g, dtype=torch.int16),
        "ids.i8": torch.randint(-100, 100, (7,), generator=g, dtype=torch.int8),
        "bytes.u8": torch.randint(0, 255, (9,), generator=g, dtype=torch.uint8),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 3),
        "unicode.\u00fc\u00df.\u6f22\u5b57.\U0001f600": torch.randn(2, generator=g),
        "quote\"back\\slash\ttab": torch.randn(3, generator=g).to(torch.bfloat16),
    }
    save_file(state, os.path.join(out, "mixed.safetensors"), {"format": "pt"})
    manifest(state, os.path.join(out, "mixed.manifest.json"))

    # Sharded like save_pretrained(max_shard_size=2000). embed_tokens
    # (3200 bytes) is larger than the limit and gets its own shard ahead of
    # the shard being filled (the huggingface_hub quirk).
    save_pretrained(state, os.path.join(out, "sharded"), 2000, total_parameters=2242)
    manifest(state, os.path.join(out, "sharded.manifest.json"), max_shard_size=2000, total_parameters=2242)

    # Without total_parameters (transformers < 4.56).
    save_pretrained(state, os.path.join(out, "sharded_old"), 4000)
    manifest(state, os.path.join(out, "sharded_old.manifest.json"), max_shard_size=4000)


if __name__ == "__main__":
    main()
