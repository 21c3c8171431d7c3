"""Writes tiny research checkpoints in every layout the converters read, and
what the converted tensors must hold, computed with torch.

Run from the repository root with Debian's python3-torch:
    /usr/bin/python3 convert/testdata/gen_sources.py
Outputs (committed, a few KB each) go next to this script, one directory per
case, plus expected.json: for each case, every output tensor's dtype, shape
and the hex of its little-endian bytes, and the dropped source tensors.

Dimensions: H=8, heads=2, kv_heads=1, head_dim=4 (Hq=8, Hkv=4), I=12,
verifier vocabulary V=40, draft vocabulary Vd=16.
"""
import collections
import json
import os
import shutil

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(1234)
H, NH, KV, HD, I, V, VD = 8, 2, 1, 4, 12, 40, 16
HQ, HKV = NH * HD, KV * HD

DT = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64", torch.bool: "BOOL"}


def save_file(tensors, path, metadata=None):
    """A minimal safetensors writer (Debian has no python3-safetensors):
    header JSON, padded with spaces to a multiple of 8, then the raw bytes, in
    the order of the Rust serializer (dtype descending, then name), so files
    are byte-identical to safetensors.torch.save_file's."""
    header, blobs, off = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    rank = ["BOOL", "U8", "I8", "I16", "F16", "BF16", "I32", "F32", "F64", "I64"]
    order = sorted(tensors, key=lambda k: (-rank.index(DT[tensors[k].dtype]), k))
    for k in order:
        v = tensors[k]
        b = bytes.fromhex(raw(v))
        header[k] = {"dtype": DT[v.dtype], "shape": list(v.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        for b in blobs:
            f.write(b)


def raw(t):
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().tobytes().hex()


def desc(sd):
    return {k: {"dtype": DT[v.dtype], "shape": list(v.shape), "hex": raw(v)} for k, v in sd.items()}


def r(*shape, dtype=torch.float32):
    return torch.randn(*shape).to(dtype)


def fresh(name):
    d = os.path.join(HERE, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def llama_layer(prefix, in_features, dtype, hidden_norm=True, input_layernorm=True):
    sd = collections.OrderedDict()
    if hidden_norm:
        sd[prefix + "hidden_norm.weight"] = r(H, dtype=dtype)
    if input_layernorm:
        sd[prefix + "input_layernorm.weight"] = r(H, dtype=dtype)
    sd[prefix + "post_attention_layernorm.weight"] = r(H, dtype=dtype)
    sd[prefix + "self_attn.q_proj.weight"] = r(HQ, in_features, dtype=dtype)
    sd[prefix + "self_attn.k_proj.weight"] = r(HKV, in_features, dtype=dtype)
    sd[prefix + "self_attn.v_proj.weight"] = r(HKV, in_features, dtype=dtype)
    sd[prefix + "self_attn.o_proj.weight"] = r(H, HQ, dtype=dtype)
    sd[prefix + "mlp.gate_proj.weight"] = r(I, H, dtype=dtype)
    sd[prefix + "mlp.up_proj.weight"] = r(I, H, dtype=dtype)
    sd[prefix + "mlp.down_proj.weight"] = r(H, I, dtype=dtype)
    return sd


def vocab_mapping():
    sel = torch.tensor(sorted(torch.randperm(V)[:VD].tolist()))
    d2t = sel - torch.arange(VD)
    t2d = torch.zeros(V, dtype=torch.bool)
    t2d[sel] = True
    return d2t, t2d


def main():
    expected = {}

    # Verifiers: a llama (for eagle3/eagle) and a qwen3 (for dflash), 5 layers.
    d = fresh("verifier_llama")
    write_json(os.path.join(d, "config.json"), {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": H,
        "num_hidden_layers": 5, "vocab_size": V, "max_position_embeddings": 131072,
        "rope_theta": 500000.0, "torch_dtype": "bfloat16"})
    d = fresh("verifier_qwen3")
    write_json(os.path.join(d, "config.json"), {
        "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "hidden_size": H,
        "num_hidden_layers": 5, "vocab_size": V, "torch_dtype": "bfloat16"})
    vsd = collections.OrderedDict()
    vsd["model.embed_tokens.weight"] = r(V, H, dtype=torch.bfloat16)
    vsd["model.norm.weight"] = r(H, dtype=torch.bfloat16)
    vsd["lm_head.weight"] = r(V, H, dtype=torch.bfloat16)
    save_file(vsd, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})

    # EAGLE-3, SafeAILab layout, pytorch_model.bin, float16, reduced vocabulary.
    # lm_head is saved as a transposed view (non-contiguous in the zip).
    d = fresh("eagle3_bin")
    f16 = torch.float16
    sd = collections.OrderedDict()
    sd.update(llama_layer("midlayer.", 2 * H, f16))
    sd["fc.weight"] = r(H, 3 * H, dtype=f16)
    sd["norm.weight"] = r(H, dtype=f16)
    sd["lm_head.weight"] = r(H, VD, dtype=f16).t()
    d2t, t2d = vocab_mapping()
    sd["d2t"], sd["t2d"] = d2t, t2d
    torch.save(sd, os.path.join(d, "pytorch_model.bin"))
    write_json(os.path.join(d, "config.json"), {
        "architectures": ["LlamaForCausalLM"], "hidden_size": H, "intermediate_size": I,
        "num_attention_heads": NH, "num_key_value_heads": KV, "num_hidden_layers": 1,
        "max_position_embeddings": 2048, "rms_norm_eps": 1e-05, "vocab_size": V,
        "draft_vocab_size": VD, "torch_dtype": "float16", "bos_token_id": 128000,
        "eos_token_id": 128001, "pad_token_id": 0})
    out = collections.OrderedDict((k.replace("midlayer.", "layers.0."), v) for k, v in sd.items())
    expected["eagle3_bin"] = {"tensors": desc(out), "dropped": []}

    # EAGLE-3 with two layers (midlayer.N), input_norm, no vocabulary
    # reduction, bf16 sharded pytorch_model-0000i-of-00002.bin + index;
    # --dtype float32 in the test, so expected values are float32 casts.
    d = fresh("eagle3_sharded_bin")
    bf = torch.bfloat16
    sd = collections.OrderedDict()
    sd.update(llama_layer("midlayer.0.", 2 * H, bf))
    sd.update(llama_layer("midlayer.1.", H, bf, hidden_norm=False))
    sd["fc.weight"] = r(H, 3 * H, dtype=bf)
    sd["input_norm.weight"] = r(3 * H, dtype=bf)
    sd["norm.weight"] = r(H, dtype=bf)
    sd["lm_head.weight"] = r(V, H, dtype=bf)
    sd["embed_tokens.weight"] = r(V, H, dtype=bf)
    names = list(sd)
    shards = [names[: len(names) // 2], names[len(names) // 2:]]
    wm = {}
    for i, part in enumerate(shards):
        fn = "pytorch_model-%05d-of-00002.bin" % (i + 1)
        torch.save(collections.OrderedDict((k, sd[k]) for k in part), os.path.join(d, fn))
        for k in part:
            wm[k] = fn
    write_json(os.path.join(d, "pytorch_model.bin.index.json"), {"metadata": {"total_size": 0}, "weight_map": wm})
    write_json(os.path.join(d, "config.json"), {
        "architectures": ["LlamaForCausalLMEagle3"], "hidden_size": H, "intermediate_size": I,
        "num_attention_heads": NH, "num_key_value_heads": KV, "num_hidden_layers": 2,
        "max_position_embeddings": 4096, "rms_norm_eps": 1e-06, "vocab_size": V,
        "draft_vocab_size": V, "rope_theta": 1000000.0, "torch_dtype": "bfloat16"})
    out = collections.OrderedDict()
    for k, v in sd.items():
        k = k.replace("midlayer.0.", "layers.0.").replace("midlayer.1.", "layers.1.")
        out[k] = v.float()
    expected["eagle3_sharded_bin"] = {"tensors": desc(out), "dropped": []}

    # z-lab DFlash with fused qkv (Laguna-style: g_proj, aux_hidden_norms),
    # 5 target ids but a 5-layer verifier: ids [0,1,2,3,4] -> capture ids
    # [1,2,3,4] (5 is the verifier's last layer), fc truncated to 4*H.
    d = fresh("dflash_fused")
    sd = collections.OrderedDict()
    for k in range(2):
        p = "layers.%d." % k
        sd[p + "input_layernorm.weight"] = r(H, dtype=bf)
        sd[p + "post_attention_layernorm.weight"] = r(H, dtype=bf)
        sd[p + "self_attn.qkv_proj.weight"] = r(HQ + 2 * HKV, H, dtype=bf)
        sd[p + "self_attn.o_proj.weight"] = r(H, HQ, dtype=bf)
        sd[p + "self_attn.q_norm.weight"] = r(HD, dtype=bf)
        sd[p + "self_attn.k_norm.weight"] = r(HD, dtype=bf)
        sd[p + "self_attn.g_proj.weight"] = r(HQ, H, dtype=bf)
        sd[p + "mlp.gate_proj.weight"] = r(I, H, dtype=bf)
        sd[p + "mlp.up_proj.weight"] = r(I, H, dtype=bf)
        sd[p + "mlp.down_proj.weight"] = r(H, I, dtype=bf)
    sd["fc.weight"] = r(H, 5 * H, dtype=bf)
    sd["hidden_norm.weight"] = r(H, dtype=bf)
    sd["norm.weight"] = r(H, dtype=bf)
    sd["aux_hidden_norms.0.weight"] = r(H, dtype=bf)
    save_file(sd, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    write_json(os.path.join(d, "config.json"), {
        "model_type": "qwen3", "architectures": ["DFlashDraftModel"],
        "auto_map": {"AutoModel": "dflash.DFlashDraftModel"}, "num_target_layers": 5,
        "dflash_config": {"mask_token_id": 39, "target_layer_ids": [0, 1, 2, 3, 4], "block_size": 4},
        "vocab_size": V, "hidden_size": H, "intermediate_size": I, "num_hidden_layers": 2,
        "num_attention_heads": NH, "num_key_value_heads": KV, "head_dim": HD,
        "rms_norm_eps": 1e-06, "rope_theta": 1000000, "torch_dtype": "bfloat16"})
    out = collections.OrderedDict()
    dropped = []
    for k, v in sd.items():
        if ".g_proj." in k or k.startswith("aux_hidden_norms."):
            dropped.append(k)
        elif "qkv_proj" in k:
            q, kk, vv = torch.split(v, [HQ, HKV, HKV], dim=0)
            out[k.replace("qkv_proj", "q_proj")] = q
            out[k.replace("qkv_proj", "k_proj")] = kk
            out[k.replace("qkv_proj", "v_proj")] = vv
        elif k == "fc.weight":
            out[k] = v[:, : 4 * H]
        else:
            out[k] = v
    out["embed_tokens.weight"] = vsd["model.embed_tokens.weight"]
    out["lm_head.weight"] = vsd["lm_head.weight"]
    expected["dflash_fused"] = {"tensors": desc(out), "dropped": dropped}

    # Native MTP inside a sharded Qwen3-Next-like verifier with 2 experts.
    d = fresh("mtp_verifier")
    IE = 4
    sd = collections.OrderedDict()
    sd["model.embed_tokens.weight"] = r(V, H, dtype=bf)
    sd["model.layers.0.input_layernorm.weight"] = r(H, dtype=bf)
    sd["model.norm.weight"] = r(H, dtype=bf)
    sd["lm_head.weight"] = r(V, H, dtype=bf)
    m = collections.OrderedDict()
    m["mtp.fc.weight"] = r(H, 2 * H, dtype=bf)
    m["mtp.norm.weight"] = r(H, dtype=bf)
    m["mtp.pre_fc_norm_hidden.weight"] = r(H, dtype=bf)
    m["mtp.pre_fc_norm_embedding.weight"] = r(H, dtype=bf)
    p = "mtp.layers.0."
    m[p + "input_layernorm.weight"] = r(H, dtype=bf)
    m[p + "post_attention_layernorm.weight"] = r(H, dtype=bf)
    m[p + "self_attn.q_proj.weight"] = r(2 * HQ, H, dtype=bf)
    m[p + "self_attn.k_proj.weight"] = r(HKV, H, dtype=bf)
    m[p + "self_attn.v_proj.weight"] = r(HKV, H, dtype=bf)
    m[p + "self_attn.o_proj.weight"] = r(H, HQ, dtype=bf)
    m[p + "self_attn.q_norm.weight"] = r(HD, dtype=bf)
    m[p + "self_attn.k_norm.weight"] = r(HD, dtype=bf)
    m[p + "mlp.gate.weight"] = r(2, H, dtype=bf)
    for e in range(2):
        m[p + "mlp.experts.%d.gate_proj.weight" % e] = r(IE, H, dtype=bf)
        m[p + "mlp.experts.%d.up_proj.weight" % e] = r(IE, H, dtype=bf)
        m[p + "mlp.experts.%d.down_proj.weight" % e] = r(H, IE, dtype=bf)
    m[p + "mlp.shared_expert.gate_proj.weight"] = r(IE, H, dtype=bf)
    m[p + "mlp.shared_expert.up_proj.weight"] = r(IE, H, dtype=bf)
    m[p + "mlp.shared_expert.down_proj.weight"] = r(H, IE, dtype=bf)
    m[p + "mlp.shared_expert_gate.weight"] = r(1, H, dtype=bf)
    # shard 1: the body and half of mtp; shard 2: the rest of mtp.
    mk = list(m)
    s1 = collections.OrderedDict(list(sd.items()) + [(k, m[k]) for k in mk[:6]])
    s2 = collections.OrderedDict((k, m[k]) for k in mk[6:])
    wm = {}
    for i, part in enumerate([s1, s2]):
        fn = "model-%05d-of-00002.safetensors" % (i + 1)
        save_file(part, os.path.join(d, fn), metadata={"format": "pt"})
        for k in part:
            wm[k] = fn
    total = sum(v.numel() * v.element_size() for v in list(sd.values()) + list(m.values()))
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        f.write(json.dumps({"metadata": {"total_size": total}, "weight_map": wm}, indent=2, sort_keys=True) + "\n")
    write_json(os.path.join(d, "config.json"), {
        "architectures": ["Qwen3NextForCausalLM"], "model_type": "qwen3_next", "hidden_size": H,
        "intermediate_size": I, "moe_intermediate_size": IE, "num_experts": 2,
        "num_attention_heads": NH, "num_key_value_heads": KV, "head_dim": HD,
        "num_hidden_layers": 1, "vocab_size": V, "mtp_num_hidden_layers": 1,
        "rms_norm_eps": 1e-06, "torch_dtype": "bfloat16"})

    def mtp_rename(k):
        for a, b in [("mtp.fc.weight", "mtp_layers.0.input_proj.weight"),
                     ("mtp.norm.weight", "mtp_layers.0.final_layernorm.weight")]:
            if k == a:
                return b
        for a, b in [("mtp.pre_fc_norm_hidden.", "mtp_layers.0.hidden_layernorm."),
                     ("mtp.pre_fc_norm_embedding.", "mtp_layers.0.token_layernorm."),
                     ("mtp.layers.0.", "mtp_layers.0.")]:
            if k.startswith(a):
                return b + k[len(a):]
        return k

    out = collections.OrderedDict()
    for k, v in m.items():
        if ".experts." in k and ".shared_expert" not in k:
            continue
        out[mtp_rename(k)] = v
    ep = "mtp_layers.0.mlp.experts."
    out[ep + "gate_up_proj"] = torch.stack([torch.cat([m[p + "mlp.experts.%d.gate_proj.weight" % e],
                                                       m[p + "mlp.experts.%d.up_proj.weight" % e]], 0) for e in range(2)])
    out[ep + "down_proj"] = torch.stack([m[p + "mlp.experts.%d.down_proj.weight" % e] for e in range(2)])
    expected["mtp_verifier"] = {"tensors": desc(out), "dropped": []}

    # A finetuned speculators mtp checkpoint (every mtp weight changed, in
    # float32 to exercise the cast back to the verifier's bf16), and the
    # verifier tensors stitching it must produce.
    d = fresh("mtp_finetuned")
    ft = collections.OrderedDict((k, (v.float() * 2 + 1)) for k, v in out.items())
    ft["embed_tokens.weight"] = r(V, H)  # dropped: shared with the verifier
    save_file(ft, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    stitched = collections.OrderedDict()
    inv = {mtp_rename(k): k for k in m}
    for k, v in ft.items():
        if k == "embed_tokens.weight":
            continue
        if k == ep + "gate_up_proj":
            for e in range(2):
                g, u = torch.split(v[e], [IE, IE], 0)
                stitched[p + "mlp.experts.%d.gate_proj.weight" % e] = g.bfloat16()
                stitched[p + "mlp.experts.%d.up_proj.weight" % e] = u.bfloat16()
        elif k == ep + "down_proj":
            for e in range(2):
                stitched[p + "mlp.experts.%d.down_proj.weight" % e] = v[e].bfloat16()
        else:
            stitched[inv[k]] = v.bfloat16()
    expected["mtp_stitched"] = {"tensors": desc(stitched), "dropped": ["embed_tokens.weight"]}

    # HASS (EAGLE-1 layout with fc.bias and the extra layernorms), safetensors.
    d = fresh("hass")
    sd = collections.OrderedDict()
    sd["embed_tokens.weight"] = r(V, H, dtype=f16)
    sd["fc.weight"] = r(H, 2 * H, dtype=f16)
    sd["fc.bias"] = r(H, dtype=f16)
    sd.update(llama_layer("layers.0.", H, f16, hidden_norm=False, input_layernorm=False))
    sd["embed_layernorm.weight"] = r(H, dtype=f16)
    sd["hidden_layernorm.weight"] = r(H, dtype=f16)
    sd["lm_head_layernorm.weight"] = r(H, dtype=f16)
    save_file(sd, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    write_json(os.path.join(d, "config.json"), {
        "architectures": ["LlamaForCausalLM"], "hidden_size": H, "intermediate_size": I,
        "num_attention_heads": NH, "num_key_value_heads": KV, "num_hidden_layers": 1,
        "max_position_embeddings": 2048, "rms_norm_eps": 1e-05, "vocab_size": V,
        "bos_token_id": 1, "eos_token_id": 128001, "torch_dtype": "float16"})
    out = collections.OrderedDict()
    for k, v in sd.items():
        if k == "embed_tokens.weight":
            continue
        k = {"embed_layernorm.weight": "embedding_layernorm.weight",
             "hidden_layernorm.weight": "transformer.input_layernorm.weight",
             "lm_head_layernorm.weight": "pre_lm_head_layernorm.weight"}.get(k, k)
        k = k.replace("fc.", "fusion_fc.", 1) if k.startswith("fc.") else k
        k = k.replace("layers.0.", "transformer.", 1) if k.startswith("layers.0.") else k
        out[k] = v
    expected["hass"] = {"tensors": desc(out), "dropped": ["embed_tokens.weight"]}

    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
