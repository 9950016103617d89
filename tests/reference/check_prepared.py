"""Checks what `nanotrain prepare` wrote, reading it independently of nanotrain's C++ code.

Usage: /usr/bin/python3 check_prepared.py BASE_DIR
Parses every shard's header and ids with the standard library and numpy, loads
tokenizer/token_bytes.pt with torch.load, and checks them against the corpus itself (the KJV
text printed by `bible`): one <|bos|> (id 1) per chapter, every shard starting with <|bos|>,
validation drawn from across the chapters, the byte lengths of all tokens adding up to the
corpus's size in bytes, and manifest.json's records (sizes, counts, and CRC-32Cs computed here
from the polynomial) matching the files. Exits 0 when all hold; otherwise prints what differs.
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


def crc32c(data):
    """CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), a byte at a time."""
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    crc = 0xFFFFFFFF
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return f"{crc ^ 0xFFFFFFFF:08x}"


def file_crc32c(path):
    with open(path, "rb") as f:
        return crc32c(f.read())


def main(base_dir):
    assert crc32c(b"123456789") == "e3069283", "CRC-32C's check value"
    corpus = subprocess.run(["bible", "-f", "Gen1:1-Rev22:21"], capture_output=True,
                            check=True).stdout
    chapters = []
    for line in corpus.decode().splitlines():
        ref = line.split(":", 1)[0]
        if not chapters or chapters[-1] != ref:
            chapters.append(ref)
    token_bytes = torch.load(os.path.join(base_dir, "tokenizer", "token_bytes.pt")).numpy()
    data_dir = os.path.join(base_dir, "base_data")
    with open(os.path.join(data_dir, "manifest.json")) as f:
        manifest = json.load(f)
    listed = manifest["train"] + [manifest["val"]]
    paths = [os.path.join(data_dir, s["name"]) for s in listed]
    on_disk = sorted(glob.glob(os.path.join(data_dir, "*.bin")))
    errors = []
    if sorted(paths) != on_disk:
        errors.append(f"manifest lists {sorted(paths)}, the directory holds {on_disk}")
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
    val_docs = int((val_ids == BOS).sum())
    val_share = len(val_ids) / manifest["tokens"]
    checks = [
        (len(paths) >= 3, f"{len(paths)} shards, expected several training shards and one val"),
        (total_bos == len(chapters), f"{total_bos} <|bos|> tokens for {len(chapters)} chapters"),
        (val_docs == manifest["val_documents"] and val_docs >= 1,
         f"validation shard has {val_docs} documents, the manifest says "
         f"{manifest['val_documents']}"),
        # whole chapters drawn at the rate for 5% of the tokens: between 2.5% and 10%
        (0.025 < val_share < 0.10, f"validation holds {val_share:.3%} of the tokens, not ~5%"),
        (total_bytes == len(corpus), f"tokens stand for {total_bytes} bytes, corpus has "
                                     f"{len(corpus)}"),
        (token_bytes[BOS] == 0 and token_bytes[0] == 0, "special tokens must count 0 bytes"),
    ]
    # The manifest's records match the files: sizes, token counts, checksums, totals.
    for shard, path in zip(listed, paths):
        ids, _ = read_shard(path)
        checks.append((shard["bytes"] == os.path.getsize(path) and shard["tokens"] == len(ids),
                       f"{path}: manifest says {shard['bytes']} bytes, {shard['tokens']} tokens"))
        checks.append((shard["crc32c"] == file_crc32c(path),
                       f"{path}: manifest says CRC-32C {shard['crc32c']}, the file's is "
                       f"{file_crc32c(path)}"))
    tokenizer_crc = file_crc32c(os.path.join(base_dir, "tokenizer", "tokenizer.model"))
    checks.append((manifest["tokenizer_crc32c"] == tokenizer_crc,
                   f"manifest: tokenizer CRC-32C {manifest['tokenizer_crc32c']}, "
                   f"tokenizer.model's is {tokenizer_crc}"))
    checks.append((manifest["documents"] == len(chapters) and manifest["vocab_size"] == vocab
                   and manifest["tokens"] == sum(s["tokens"] for s in listed),
                   f"manifest: {manifest['documents']} documents, {manifest['tokens']} tokens, "
                   f"vocab {manifest['vocab_size']}"))
    errors += [message for ok, message in checks if not ok]
    for e in errors:
        print("FAIL:", e)
    print(f"{len(paths)} shards, {len(chapters)} documents, {total_bytes} bytes: "
          f"{'ok' if not errors else 'mismatch'}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
