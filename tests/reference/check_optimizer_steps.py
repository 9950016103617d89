"""Checks that a step's optimizer state counts every update since the run began: each AdamW
entry's "step" equals STEP, in the whole file (optim_{STEP:06d}.pt) or in every rank's
(optim_{STEP:06d}_rank*.pt). A run resumed without its optimizer state counts only the updates
after the resume. Read with torch.load, independently of nanotrain.
Usage: python3 check_optimizer_steps.py CHECKPOINT_DIR STEP
"""
import glob
import os
import sys

import torch

directory, step = sys.argv[1], int(sys.argv[2])
whole = os.path.join(directory, f"optim_{step:06d}.pt")
files = [whole] if os.path.exists(whole) else sorted(
    glob.glob(os.path.join(directory, f"optim_{step:06d}_rank*.pt")))
assert files, f"no optimizer file of step {step} in {directory}"
counted = 0
for path in files:
    adamw, muon = torch.load(path, map_location="cpu")
    for index, entry in adamw["state"].items():
        got = float(entry["step"])
        assert got == step, f"{path}: AdamW state {index} counts {got:g} updates, expected {step}"
        counted += 1
    for index, entry in muon["state"].items():
        assert entry["momentum_buffer"].abs().sum() > 0, f"{path}: Muon state {index} is zero"
assert counted > 0, f"no AdamW state in {files}"
print(f"{len(files)} file(s): every AdamW state counts {step} updates")
