"""Checks what `nanotrain prepare` wrote, reading it independently of nanotrain's C++ code.

Usage: /usr/bin/python3 check_prepared.py BASE_DIR
Parses every shard's header and ids with the standard library and numpy, loads
tokenizer/token_bytes.pt with torch.load, and checks them against the corpus itself (the KJV
text printed by `bible`): one <|bos|> (id 1) per chapter, every shard starting with <|bos|>,
the last shard holding the last 5% of the chapters, and the byte lengths of all tokens adding
up to the corpus's size in bytes. Exits 0 when all hold; otherwise prints what differs.
"""
import glob
import json
import os
import struct
import subprocess
import sys

import numpy as np
import torch

BOS = 1  # <unk> is 0, then nanochat's special tokens in order, <|bos|> first


def read_shard(path):
    with open(path, "rb") as f:
        data = f.read()
    magic, version, width, count, vocab = struct.unpack_from("<8sIIQQ", data, 0)
    assert magic == b"NTTOKENS" and version == 1, f"{path}: header {magic!r} v{version}"
    assert len(data) == 32 + width * count, f"{path}: {len(data)} bytes for {count} tokens"
    dtype = {2: "<u2", 4: "<u4"}[width]
    return np.frombuffer(data, dtype=dtype, offset=32).astype(np.int64), vocab


def main(base_dir):
    corpus = subprocess.run(["bible", "-f", "Gen1:1-Rev22:21"], capture_output=True,
                            check=True).stdout
    chapters = []
    for line in corpus.decode().splitlines():
        ref = line.split(":", 1)[0]
        if not chapters or chapters[-1] != ref:
            chapters.append(ref)
    token_bytes = torch.load(os.path.join(base_dir, "tokenizer", "token_bytes.pt")).numpy()
    paths = sorted(glob.glob(os.path.join(base_dir, "base_data", "shard_*.bin")))
    errors = []
    total_bos = total_bytes = 0
    for path in paths:
        ids, vocab = read_shard(path)
        if vocab != len(token_bytes):
            errors.append(f"{path}: vocab {vocab}, token_bytes has {len(token_bytes)}")
        if ids[0] != BOS:
            errors.append(f"{path}: starts with {ids[0]}, not <|bos|>")
        total_bos += int((ids == BOS).sum())
        total_bytes += int(token_bytes[ids].sum())
    val_ids, _ = read_shard(paths[-1])
    expected_val = round(0.05 * len(chapters))
    checks = [
        (len(paths) >= 3, f"{len(paths)} shards, expected several training shards and one val"),
        (total_bos == len(chapters), f"{total_bos} <|bos|> tokens for {len(chapters)} chapters"),
        (int((val_ids == BOS).sum()) == expected_val,
         f"validation shard has {int((val_ids == BOS).sum())} documents, expected {expected_val}"),
        (total_bytes == len(corpus), f"tokens stand for {total_bytes} bytes, corpus has "
                                     f"{len(corpus)}"),
        (token_bytes[BOS] == 0 and token_bytes[0] == 0, "special tokens must count 0 bytes"),
    ]
    # The manifest lists the same shards, training ones in order and validation last, with
    # their sizes and token counts.
    with open(os.path.join(base_dir, "base_data", "manifest.json")) as f:
        manifest = json.load(f)
    listed = manifest["train"] + [manifest["val"]]
    checks.append(([s["name"] for s in listed] == [os.path.basename(p) for p in paths],
                   f"manifest lists {[s['name'] for s in listed]}, the directory holds {paths}"))
    for shard, path in zip(listed, paths):
        ids, _ = read_shard(path)
        checks.append((shard["bytes"] == os.path.getsize(path) and shard["tokens"] == len(ids),
                       f"{path}: manifest says {shard['bytes']} bytes, {shard['tokens']} tokens"))
    checks.append((manifest["documents"] == len(chapters) and manifest["vocab_size"] == vocab,
                   f"manifest: {manifest['documents']} documents, vocab {manifest['vocab_size']}"))
    errors += [message for ok, message in checks if not ok]
    for e in errors:
        print("FAIL:", e)
    print(f"{len(paths)} shards, {len(chapters)} documents, {total_bytes} bytes: "
          f"{'ok' if not errors else 'mismatch'}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
