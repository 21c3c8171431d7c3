"""Writes the fixtures of datagen's reader and launch tests with PyTorch.

    /usr/bin/python3 datagen/testdata/gen_torch.py   (from the repository root)

old_format.pt  the older speculators per-sample file (data_{i}.pt):
               {"input_ids": [S] int64, "hidden_states": [A+1 tensors [S, H] bf16], "loss_mask": [S] int64}
new_keys.pt    the current keys in a torch file: {"hidden_states": [S, A+1, H] f32, "token_ids": [S] int64}
expected.json  the values both must decode to, and the vllm serve command lines
               that speculators' launch_vllm.py builds (its json.dumps calls).
"""
import json
import os

import torch

here = os.path.dirname(os.path.abspath(__file__))
g = torch.Generator().manual_seed(0)
S, H, A1 = 5, 8, 4
ids = torch.randint(0, 1000, (S,), generator=g, dtype=torch.long)
layers = [torch.randn(S, H, generator=g).to(torch.bfloat16) for _ in range(A1)]
torch.save({"input_ids": ids, "hidden_states": layers, "loss_mask": torch.tensor([0, 0, 1, 1, 1])},
           os.path.join(here, "old_format.pt"))
stacked = torch.stack([l.float() for l in layers], dim=1)  # [S, A+1, H]
torch.save({"hidden_states": stacked, "token_ids": ids}, os.path.join(here, "new_keys.pt"))


def launch(model, n, target, include_last, path, extra):
    # The logic of speculators scripts/launch_vllm.py.
    if target:
        ids = list(target)
        if include_last and n not in ids:
            ids.append(n)
    else:
        ids = [2, n // 2, n - 3, n]
    spec = {"method": "extract_hidden_states", "num_speculative_tokens": 1,
            "draft_model_config": {"hf_config": {"eagle_aux_hidden_state_layer_ids": ids}}}
    kv = {"kv_connector": "ExampleHiddenStatesConnector", "kv_role": "kv_producer",
          "kv_connector_extra_config": {"shared_storage_path": path}}
    return ["python3", "-m", "vllm.entrypoints.cli.main", "serve", model,
            "--speculative_config", json.dumps(spec), "--kv_transfer_config", json.dumps(kv), *extra]


cases = [
    {"model": "Qwen/Qwen3-8B", "num_layers": 36, "target": None, "include_last": True, "path": "/data/hs",
     "extra": ["--port", "8000", "--tensor-parallel-size", "2"]},
    {"model": "m", "num_layers": 32, "target": [3, 10, 32], "include_last": True, "path": "/tmp/h s\"q\u00e9", "extra": []},
    {"model": "m", "num_layers": 28, "target": [1, 5], "include_last": False, "path": "p", "extra": []},
    {"model": "m", "num_layers": 28, "target": [1, 5], "include_last": True, "path": "p", "extra": []},
]
for c in cases:
    c["argv"] = launch(c["model"], c["num_layers"], c["target"], c["include_last"], c["path"], c["extra"])
out = {
    "token_ids": ids.tolist(),
    "hidden_states": stacked.tolist(),  # exact: bf16 values widen to float32 exactly
    "launch": cases,
}
with open(os.path.join(here, "expected.json"), "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
