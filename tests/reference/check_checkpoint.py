"""Reads a nanotrain checkpoint step with Python's torch.load and checks its structure.

Usage: /usr/bin/python3 check_checkpoint.py CHECKPOINT_DIR STEP
Exits 0 when model, optimizer and meta files have the layout nanochat's Python code expects;
otherwise prints what differs and exits 1.
"""
import json
import os
import sys

import torch


def main(ckpt_dir, step):
    errors = []
    meta = json.load(open(os.path.join(ckpt_dir, f"meta_{step:06d}.json")))
    cfg = meta["model_config"]
    for key in ("step", "model_config", "format_version", "world_size", "created", "files"):
        if key not in meta:
            errors.append(f"meta lacks {key}")
    model = torch.load(os.path.join(ckpt_dir, f"model_{step:06d}.pt"), map_location="cpu")
    if not isinstance(model, dict):
        errors.append(f"model file holds {type(model).__name__}, expected dict")
    c, vp = cfg["n_embd"], (cfg["vocab_size"] + 63) // 64 * 64
    hd = c // cfg["n_head"]
    expected = {"transformer.wte.weight": (vp, c), "lm_head.weight": (vp, c)}
    for i in range(cfg["n_layer"]):
        p = f"transformer.h.{i}."
        expected.update({p + "attn.c_q.weight": (cfg["n_head"] * hd, c),
                         p + "attn.c_k.weight": (cfg["n_kv_head"] * hd, c),
                         p + "attn.c_v.weight": (cfg["n_kv_head"] * hd, c),
                         p + "attn.c_proj.weight": (c, c),
                         p + "mlp.c_fc.weight": (4 * c, c),
                         p + "mlp.c_proj.weight": (c, 4 * c)})
    if set(model) != set(expected):
        errors.append(f"model keys differ: {sorted(set(model) ^ set(expected))}")
    for name, shape in expected.items():
        t = model.get(name)
        if t is not None and (tuple(t.shape) != shape or t.dtype != torch.float32):
            errors.append(f"{name}: {tuple(t.shape)} {t.dtype}, expected {shape} float32")

    optim = torch.load(os.path.join(ckpt_dir, f"optim_{step:06d}.pt"), map_location="cpu")
    if not isinstance(optim, list) or len(optim) != 2:
        errors.append(f"optim file holds {type(optim).__name__}, expected a list of two dicts")
    else:
        adamw, muon = optim
        n_matrices = 6 * cfg["n_layer"]
        checks = [(adamw, 2, {"exp_avg", "exp_avg_sq", "step"}, {"lr", "initial_lr", "betas"}),
                  (muon, n_matrices, {"momentum_buffer"}, {"lr", "initial_lr", "momentum"})]
        for name, (sd, n_params, state_keys, group_keys) in zip(("AdamW", "Muon"), checks):
            ids = [i for g in sd["param_groups"] for i in g["params"]]
            if sorted(ids) != list(range(n_params)):
                errors.append(f"{name}: param ids {ids}, expected 0..{n_params - 1}")
            for g in sd["param_groups"]:
                if not group_keys <= set(g):
                    errors.append(f"{name}: group lacks {group_keys - set(g)}")
            if sorted(sd["state"]) != list(range(n_params)):
                errors.append(f"{name}: state ids {sorted(sd['state'])}")
            for i, st in sd["state"].items():
                if set(st) != state_keys:
                    errors.append(f"{name}: state[{i}] keys {set(st)}, expected {state_keys}")
        # The dicts must load into real torch.optim optimizers of the same shape.
        params = [torch.zeros(vp, c), torch.zeros(vp, c)]
        opt = torch.optim.AdamW([{"params": [params[0]]}, {"params": [params[1]]}], lr=0.1)
        opt.load_state_dict(adamw)
    for e in errors:
        print("error:", e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
