"""An independent reader of what `nanotrain ckpt export` writes: parses the safetensors file with
the standard library (struct, json) and compares every tensor, bit for bit, with the model file
of the checkpoint step as torch.load reads it, and the metadata and config.json with its meta.

Usage: /usr/bin/python3 check_safetensors.py FILE CHECKPOINT_DIR STEP
Exits 0 when everything matches; otherwise prints each difference and exits 1.
"""
import json
import os
import struct
import sys

import torch

DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16,
          "BF16": torch.bfloat16, "I64": torch.int64, "I32": torch.int32, "I16": torch.int16,
          "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    body = data[8 + length:]
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        dtype = DTYPES[info["dtype"]]
        raw = bytearray(body[begin:end])
        flat = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(info["shape"])
    return tensors, metadata


def same_bits(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(
        a.contiguous().reshape(-1).view(torch.uint8), b.contiguous().reshape(-1).view(torch.uint8))


def main(path, ckpt_dir, step):
    errors = []
    tensors, metadata = read_safetensors(path)
    model = torch.load(os.path.join(ckpt_dir, f"model_{step:06d}.pt"), map_location="cpu")
    with open(os.path.join(ckpt_dir, f"meta_{step:06d}.json")) as f:
        config = json.load(f)["model_config"]
    if list(tensors) != list(model):
        errors.append(f"tensor names differ: {list(tensors)} vs {list(model)}")
    for name, t in tensors.items():
        if name in model and not same_bits(t, model[name]):
            errors.append(f"{name}: {t.dtype} {tuple(t.shape)} differs from the checkpoint's "
                          f"{model[name].dtype} {tuple(model[name].shape)}")
    expected = {key: str(value) for key, value in config.items()}
    expected.update(format="pt", step=str(step))
    if metadata != expected:
        errors.append(f"__metadata__ {metadata}, expected {expected}")
    with open(os.path.join(os.path.dirname(os.path.abspath(path)), "config.json")) as f:
        if json.load(f) != config:
            errors.append("config.json differs from the meta's model_config")
    for e in errors:
        print(e)
    print(f"{len(tensors)} tensors checked, {len(errors)} differences")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
