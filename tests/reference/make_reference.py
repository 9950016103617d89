"""Golden values for nanotrain's model and optimizer tests, computed with PyTorch.

An independent reference: the GPT and Muon below are written from the nanochat semantics the
project specifies, not from nanotrain's C++ code; AdamW is torch.optim.AdamW itself.
Run with Debian's python3-torch: /usr/bin/python3 make_reference.py OUT_DIR
Each output file is a safetensors-layout bundle (8-byte header length, JSON header, raw data).
"""
import json
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

DTYPES = {torch.float32: "F32", torch.int64: "I64", torch.bfloat16: "BF16"}


def write_bundle(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        data = t.view(torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 \
            else t.numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for b in blobs:
            f.write(b)


# ---------------------------------------------------------------- GPT (reference semantics)
CFG = dict(sequence_len=16, vocab_size=100, n_layer=2, n_head=4, n_kv_head=2, n_embd=64)
def param_shapes(cfg):
    c, hd = cfg["n_embd"], cfg["n_embd"] // cfg["n_head"]
    padded = (cfg["vocab_size"] + 63) // 64 * 64  # nanochat pads the vocabulary to 64
    shapes = {"transformer.wte.weight": (padded, c)}
    for i in range(cfg["n_layer"]):
        p = f"transformer.h.{i}."
        shapes[p + "attn.c_q.weight"] = (cfg["n_head"] * hd, c)
        shapes[p + "attn.c_k.weight"] = (cfg["n_kv_head"] * hd, c)
        shapes[p + "attn.c_v.weight"] = (cfg["n_kv_head"] * hd, c)
        shapes[p + "attn.c_proj.weight"] = (c, c)
        shapes[p + "mlp.c_fc.weight"] = (4 * c, c)
        shapes[p + "mlp.c_proj.weight"] = (c, 4 * c)
    shapes["lm_head.weight"] = (padded, c)
    return shapes


def norm(x):
    eps = torch.finfo(torch.float32).eps
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)


def rotary(x, cos, sin):  # x: (B, T, H, hd)
    d = x.shape[-1] // 2
    x1, x2 = x[..., :d], x[..., d:]
    return torch.cat([x1 * cos + x2 * sin, -x1 * sin + x2 * cos], dim=-1)


def gpt_forward(w, idx, targets, cfg):
    B, T = idx.shape
    c, H, Hkv = cfg["n_embd"], cfg["n_head"], cfg["n_kv_head"]
    hd = c // H
    inv_freq = 1.0 / (10000 ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
    freqs = torch.outer(torch.arange(T, dtype=torch.float32), inv_freq)
    cos, sin = freqs.cos()[None, :, None, :], freqs.sin()[None, :, None, :]
    x = norm(F.embedding(idx, w["transformer.wte.weight"]))
    for i in range(cfg["n_layer"]):
        p = f"transformer.h.{i}."
        h = norm(x)
        q = (h @ w[p + "attn.c_q.weight"].T).view(B, T, H, hd)
        k = (h @ w[p + "attn.c_k.weight"].T).view(B, T, Hkv, hd)
        v = (h @ w[p + "attn.c_v.weight"].T).view(B, T, Hkv, hd)
        q, k = norm(rotary(q, cos, sin)), norm(rotary(k, cos, sin))
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        k = k.repeat_interleave(H // Hkv, dim=1)
        v = v.repeat_interleave(H // Hkv, dim=1)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hd)
        att = att.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
        y = (att.softmax(-1) @ v).transpose(1, 2).reshape(B, T, c)
        x = x + y @ w[p + "attn.c_proj.weight"].T
        h = norm(x)
        x = x + F.relu(h @ w[p + "mlp.c_fc.weight"].T).square() @ w[p + "mlp.c_proj.weight"].T
    x = norm(x)
    logits = (x @ w["lm_head.weight"].T)[..., :cfg["vocab_size"]].float()
    logits = 15 * torch.tanh(logits / 15)
    loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
    return logits, loss


def random_weights(cfg, gen):
    # Non-zero everywhere (unlike nanochat's init) so every gradient is exercised.
    return {n: (torch.randn(s, generator=gen) * (1.0 if "wte" in n else 0.3 / math.sqrt(s[1])))
            .requires_grad_() for n, s in param_shapes(cfg).items()}


def make_batch(cfg, gen, B=2, T=12):
    idx = torch.randint(0, cfg["vocab_size"], (B, T), generator=gen)
    targets = torch.randint(0, cfg["vocab_size"], (B, T), generator=gen)
    targets[0, 3] = -1
    targets[1, 7] = -1
    return idx, targets


def gpt_reference(out_dir):
    gen = torch.Generator().manual_seed(1234)
    w = random_weights(CFG, gen)
    idx, targets = make_batch(CFG, gen)
    logits, loss = gpt_forward(w, idx, targets, CFG)
    loss.backward()
    out = {"idx": idx, "targets": targets, "logits": logits, "loss": loss.reshape(1)}
    for n, t in w.items():
        out["weight." + n] = t
        out["grad." + n] = t.grad
    write_bundle(os.path.join(out_dir, "gpt.safetensors"), out)
    return w, idx, targets


# ---------------------------------------------------------------- Muon (reference semantics)
def bpb_reference(out_dir, w):
    """nanochat's bits per byte: the nats of every target token whose text has bytes (special
    tokens have none), summed, over ln 2 times the bytes of those targets; (B, T) batches taken
    in order from a token stream, inputs and targets one apart."""
    gen = torch.Generator().manual_seed(99)
    B, T, batches = 2, 8, 2
    tokens = torch.randint(0, CFG["vocab_size"], (batches * B * T + 5,), generator=gen)
    token_bytes = torch.randint(1, 5, (CFG["vocab_size"],), generator=gen)
    token_bytes[:4] = 0  # special tokens
    tokens[[3, 10, 20]] = 1  # some targets are special
    nats, nbytes = 0.0, 0
    with torch.no_grad():
        for b in range(batches):
            window = tokens[b * B * T: (b + 1) * B * T + 1]
            x, y = window[:-1].view(B, T), window[1:].view(B, T)
            logits, _ = gpt_forward(w, x, y, CFG)
            nat = F.cross_entropy(logits.reshape(-1, CFG["vocab_size"]), y.reshape(-1),
                                  reduction="none")
            length = token_bytes[y.reshape(-1)]
            nats += (nat.double() * (length > 0)).sum().item()
            nbytes += length.sum().item()
    bpb = nats / (math.log(2) * nbytes)
    write_bundle(os.path.join(out_dir, "bpb.safetensors"),
                 {"tokens": tokens, "token_bytes": token_bytes,
                  "bpb": torch.tensor([bpb], dtype=torch.float32),
                  "shape": torch.tensor([B, T, batches * B * T])})


def newton_schulz(G, steps, dtype=torch.bfloat16):
    a, b, c = (3.4445, -4.7750, 2.0315)
    X = G.to(dtype)
    tall = G.size(-2) > G.size(-1)
    if tall:
        X = X.mT
    X = X / (X.norm(dim=(-2, -1), keepdim=True) + 1e-7)
    for _ in range(steps):
        A = X @ X.mT
        B = b * A + c * A @ A
        X = a * X + B @ X
    if tall:
        X = X.mT
    return X


class RefMuon(torch.optim.Optimizer):
    """ns_dtype is an attribute, not a group option, so state dicts keep nanochat's keys."""

    def __init__(self, groups, lr, momentum, nesterov=True, ns_steps=5, ns_dtype=torch.bfloat16):
        super().__init__(groups, dict(lr=lr, momentum=momentum, nesterov=nesterov,
                                      ns_steps=ns_steps))
        self.ns_dtype = ns_dtype

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(g)
                buf = state["momentum_buffer"]
                buf.lerp_(g, 1 - group["momentum"])
                g = g.lerp(buf, group["momentum"]) if group["nesterov"] else buf
                g = newton_schulz(g, group["ns_steps"], self.ns_dtype)
                p.add_(g, alpha=-group["lr"] * max(1, p.size(-2) / p.size(-1)) ** 0.5)


def record_steps(opt, params, tag, gen, out, steps=3):
    """Runs `steps` optimizer steps on random gradients, recording params and gradients."""
    for i, p in enumerate(params):
        out[f"{tag}.init.{i}"] = p.detach().clone()
    for s in range(steps):
        for i, p in enumerate(params):
            p.grad = torch.randn(p.shape, generator=gen)
            out[f"{tag}.grad.{s}.{i}"] = p.grad.clone()
        opt.step()
    for i, p in enumerate(params):
        out[f"{tag}.final.{i}"] = p.detach()


def nanochat_optimizers(w, n_embd, momentum, ns_dtype=torch.bfloat16, **adamw_kwargs):
    """nanochat's pair over a weights dict: AdamW for [lm_head] and [wte] with LRs scaled by
    (n_embd/768)^-0.5, Muon for the block matrices, one group per element count."""
    scale = (n_embd / 768) ** -0.5
    adamw = torch.optim.AdamW([{"params": [w["lm_head.weight"]], "lr": 0.004 * scale},
                               {"params": [w["transformer.wte.weight"]], "lr": 0.2 * scale}],
                              betas=(0.8, 0.95), eps=1e-10, weight_decay=0.0, **adamw_kwargs)
    matrices = [t for n, t in w.items() if n.startswith("transformer.h.")]
    sizes = []
    for t in matrices:
        if t.numel() not in sizes:
            sizes.append(t.numel())
    muon = RefMuon([{"params": [t for t in matrices if t.numel() == n]} for n in sizes],
                   lr=0.02, momentum=momentum, ns_dtype=ns_dtype)
    return adamw, muon


def optimizer_references(out_dir):
    gen = torch.Generator().manual_seed(99)
    out = {}
    # AdamW: torch.optim.AdamW itself, nanochat's betas and eps, non-zero weight decay.
    params = [torch.randn(5, 7, generator=gen).requires_grad_(),
              torch.randn(3, generator=gen).requires_grad_()]
    opt = torch.optim.AdamW([{"params": [params[0]], "lr": 0.01},
                             {"params": [params[1]], "lr": 0.2}],
                            betas=(0.8, 0.95), eps=1e-10, weight_decay=0.1, foreach=False)
    record_steps(opt, params, "adamw", gen, out)
    for i, p in enumerate(params):
        for k in ("step", "exp_avg", "exp_avg_sq"):
            out[f"adamw.state.{i}.{k}"] = opt.state[p][k].reshape(-1)

    # Muon: tall, wide and square matrices; nesterov in one group, plain momentum in the other;
    # Newton-Schulz in bfloat16 (nanochat's) and in float32.
    for nesterov, ns_dtype in ((True, torch.bfloat16), (False, torch.bfloat16),
                               (True, torch.float32), (False, torch.float32)):
        tag = ("muon_nesterov" if nesterov else "muon_plain") + \
            ("_fp32" if ns_dtype == torch.float32 else "")
        params = [torch.randn(s, generator=gen).requires_grad_()
                  for s in ((48, 16), (16, 48), (32, 32))]
        opt = RefMuon([{"params": params}], lr=0.02, momentum=0.9, nesterov=nesterov,
                      ns_dtype=ns_dtype)
        record_steps(opt, params, tag, gen, out)
        for i, p in enumerate(params):
            out[f"{tag}.buf.{i}"] = opt.state[p]["momentum_buffer"]
    write_bundle(os.path.join(out_dir, "optim.safetensors"), out)


def training_reference(out_dir, w0, idx, targets):
    """Two steps of nanochat's optimizer pair on the reference GPT, with the LR scale by width,
    AdamW groups [lm_head, wte] and Muon on the block matrices (one group per element count);
    with Newton-Schulz in bfloat16 ("loss.", "final.") and in float32 ("loss_fp32.",
    "final_fp32.")."""
    out = {}
    for ns_dtype, suffix in ((torch.bfloat16, ""), (torch.float32, "_fp32")):
        w = {n: t.detach().clone().requires_grad_() for n, t in w0.items()}
        adamw, muon = nanochat_optimizers(w, CFG["n_embd"], momentum=0.85, ns_dtype=ns_dtype,
                                          foreach=False)
        for s in range(2):
            _, loss = gpt_forward(w, idx, targets, CFG)
            loss.backward()
            out[f"loss{suffix}.{s}"] = loss.detach().reshape(1)
            adamw.step()
            muon.step()
            for t in w.values():
                t.grad = None
        for n, t in w.items():
            out[f"final{suffix}." + n] = t.detach()
    write_bundle(os.path.join(out_dir, "train_steps.safetensors"), out)


if __name__ == "__main__":
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(1)
    w0, idx, targets = gpt_reference(out_dir)
    bpb_reference(out_dir, w0)
    optimizer_references(out_dir)
    training_reference(out_dir, w0, idx, targets)
