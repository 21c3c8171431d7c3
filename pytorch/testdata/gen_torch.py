"""Writes the PyTorch checkpoints the pytorch package tests read.

Run from the repository root with Debian's python3-torch:
    /usr/bin/python3 pytorch/testdata/gen_torch.py
Outputs (committed, a few KB each) go next to this script:
    dtypes.pt        every storage dtype, non-contiguous views, storage offsets,
                     shared storages, an nn.Parameter, an empty tensor
    nested.pt        {"state_dict": {...}, "epoch": 3, "note": "x"}
    expected.json    for each file and tensor: dtype, shape and the hex of
                     its C-contiguous little-endian bytes
    evil_os_system.pt   a torch zip whose pickle calls os.system via __reduce__
    evil_eval.pt        the same with builtins.eval
    evil_getattr.pt     a nested call hidden inside a tensor dict
    legacy.pt        the pre-1.6 non-zip format (its storage keys are object
                     addresses, so this file differs on every run)
"""
import collections
import json
import os

import torch

torch.manual_seed(0)
HERE = os.path.dirname(os.path.abspath(__file__))


def raw(t):
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().tobytes().hex()


DTYPE = {
    torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.float64: "F64", torch.int64: "I64", torch.int32: "I32",
    torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL",
}


def describe(sd):
    return {k: {"dtype": DTYPE[v.dtype], "shape": list(v.shape), "hex": raw(v)} for k, v in sd.items()}


def dtypes_sd():
    sd = collections.OrderedDict()
    sd["f32"] = torch.randn(3, 4)
    sd["f16"] = torch.randn(2, 3).half()
    sd["bf16"] = torch.randn(5).bfloat16()
    sd["f64"] = torch.randn(2, 2).double()
    sd["i64"] = torch.tensor([-(2 ** 40), -1, 0, 7, 2 ** 62])
    sd["i32"] = torch.tensor([-5, 2 ** 31 - 1], dtype=torch.int32)
    sd["i16"] = torch.tensor([[-3, 300]], dtype=torch.int16)
    sd["i8"] = torch.tensor([-128, 5, 127], dtype=torch.int8)
    sd["u8"] = torch.tensor([0, 200, 255], dtype=torch.uint8)
    sd["bool"] = torch.tensor([True, False, True, True])
    sd["scalar"] = torch.tensor(2.5)
    sd["empty"] = torch.zeros(0, 4)
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    sd["transposed"] = base.t()  # non-contiguous, shares base's storage
    sd["base"] = base
    sd["row_slice"] = base[2:]  # storage offset 12
    sd["col_slice"] = base[:, 1:5:2]  # offset 1, strides (6, 2)
    sd["param"] = torch.nn.Parameter(torch.randn(2, 2))
    big = torch.randn(10, 8).bfloat16()
    sd["expanded_view"] = big[1::3, ::2]  # offset and two strides
    return sd


def main():
    out = {}
    sd = dtypes_sd()
    torch.save(sd, os.path.join(HERE, "dtypes.pt"))
    out["dtypes.pt"] = describe(sd)

    inner = collections.OrderedDict(w=torch.randn(2, 3), b=torch.zeros(3, dtype=torch.float16))
    torch.save({"state_dict": inner, "epoch": 3, "note": "x"}, os.path.join(HERE, "nested.pt"))
    out["nested.pt"] = describe(inner)

    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
        f.write("\n")

    class Evil:
        def __init__(self, fn, arg):
            self.fn, self.arg = fn, arg

        def __reduce__(self):
            return (self.fn, (self.arg,))

    torch.save({"w": torch.zeros(2), "x": Evil(os.system, "echo pwned")}, os.path.join(HERE, "evil_os_system.pt"))
    torch.save(Evil(eval, "1+1"), os.path.join(HERE, "evil_eval.pt"))
    torch.save(collections.OrderedDict(w=torch.zeros(1), v=Evil(getattr, "x")), os.path.join(HERE, "evil_getattr.pt"))
    torch.save(inner, os.path.join(HERE, "legacy.pt"), _use_new_zipfile_serialization=False)


if __name__ == "__main__":
    main()
