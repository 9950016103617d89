"""Loss of a nanotrain checkpoint over a token file, computed by the project's PyTorch reference.

Usage: /usr/bin/python3 loss_reference.py CHECKPOINT_DIR STEP TOKENS_FILE
Prints "loss: X" with 6 decimals, the line `nanotrain loss` prints for the same inputs.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_reference import gpt_forward  # noqa: E402

ckpt_dir, step, tokens_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
meta = json.load(open(os.path.join(ckpt_dir, f"meta_{step:06d}.json")))
weights = torch.load(os.path.join(ckpt_dir, f"model_{step:06d}.pt"), map_location="cpu")
ids = torch.tensor([int(w) for w in open(tokens_file).read().split()]).view(1, -1)
with torch.no_grad():
    _, loss = gpt_forward(weights, ids[:, :-1], ids[:, 1:], meta["model_config"])
print(f"loss: {loss.item():.6f}")
