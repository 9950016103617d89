"""Files written by Python's torch.save, for nanotrain's torch-file reader and nanochat tests.

Usage: /usr/bin/python3 make_torch_fixtures.py OUT_DIR VOCAB_SIZE
Writes into OUT_DIR:
  state_dict.pt, optimizers.pt, nested.pt: torch.save of the structures below, each with X.json,
    the same structure described by describe(): every tensor's dtype, shape, stride, storage
    offset and values, so the C++ tests compare element by element.
  Files nanotrain must refuse: forbidden_global.pt (os.system by __reduce__), foreign_class.pt
    (an instance of a class of this script), os_system.pt (handcrafted GLOBAL 'os system'),
    tensor_past_storage.pt, missing_record.pt, record_size_mismatch.pt (handcrafted pickles in
    torch's zip layout), truncated.pt (the first half of state_dict.pt).
  nanochat/d2/: a checkpoint directory as nanochat writes it, of a tiny GPT with vocabulary
    VOCAB_SIZE (the prepared tokenizer's): metas without nanotrain's commit record, a model
    state dict with a bfloat16 embedding; step 3 has one optimizer list file, step 5 one file
    per rank (a single rank). nanochat_ranks/d2/: step 5 again, its optimizer state as a run
    of nanochat on two ranks saves it (distributed_state_dicts). nanochat_expected.safetensors: the eval loss of step 5 on
    nanochat_tokens.txt, and one more training step from step 5 (batch, loss, parameters).
"""
import collections
import copy
import io
import json
import os
import pickle
import shutil
import struct
import sys
import zipfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_reference import gpt_forward, nanochat_optimizers, param_shapes, write_bundle  # noqa: E402

# LibTorch's names (c10::toString), which the C++ side prints for a tensor's dtype.
DTYPE_NAMES = {torch.float32: "Float", torch.float64: "Double", torch.float16: "Half",
               torch.bfloat16: "BFloat16", torch.int64: "Long", torch.int32: "Int",
               torch.int16: "Short", torch.int8: "Char", torch.uint8: "Byte", torch.bool: "Bool"}


def describe(obj):
    """A JSON description of a pickled structure, exact for every value (floats via repr)."""
    if isinstance(obj, torch.Tensor):
        t = obj.detach()
        values = t.double().flatten().tolist() if t.is_floating_point() else t.flatten().tolist()
        return {"tensor": {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape),
                           "stride": list(t.stride()), "offset": t.storage_offset(),
                           "values": values}}
    if isinstance(obj, dict):
        return {"dict": [[describe(k), describe(v)] for k, v in obj.items()]}
    if isinstance(obj, list):
        return {"list": [describe(v) for v in obj]}
    if isinstance(obj, tuple):
        return {"tuple": [describe(v) for v in obj]}
    if obj is None:
        return {"none": None}
    if isinstance(obj, bool):
        return {"bool": obj}
    if isinstance(obj, int):
        return {"int": obj}
    if isinstance(obj, float):
        return {"float": obj}
    if isinstance(obj, str):
        return {"str": obj}
    raise TypeError(f"cannot describe {type(obj).__name__}")


def save_with_description(out_dir, name, obj):
    torch.save(obj, os.path.join(out_dir, name + ".pt"))
    with open(os.path.join(out_dir, name + ".json"), "w") as f:
        json.dump(describe(obj), f)


def state_dict(gen):
    base = torch.randn(6, 8, generator=gen)
    sd = collections.OrderedDict()
    sd["fp32"] = torch.randn(3, 4, generator=gen)
    sd["bf16"] = torch.randn(2, 5, generator=gen).bfloat16()
    sd["fp16"] = torch.randn(7, generator=gen).half()
    sd["fp64"] = torch.randn(2, 2, generator=gen).double()
    sd["int64"] = torch.randint(-2**40, 2**40, (5,), generator=gen)
    sd["int32"] = torch.randint(-2**31, 2**31 - 1, (4,), generator=gen, dtype=torch.int32)
    sd["int8"] = torch.randint(-128, 127, (6,), generator=gen, dtype=torch.int8)
    sd["uint8"] = torch.randint(0, 255, (6,), generator=gen, dtype=torch.uint8)
    sd["bool"] = torch.randn(3, 3, generator=gen) > 0
    sd["scalar"] = torch.tensor(2.5)
    sd["empty"] = torch.zeros(0, 3)
    # Views of one storage: the base, a row (storage offset 16), a transposed slice (strides
    # (1, 8), offset 1) and a strided block; the reader must share the storage, not copy it.
    sd["base"] = base
    sd["row"] = base[2]
    sd["transposed_slice"] = base.t()[1:5]
    sd["strided"] = base[::2, 1::3]
    sd["param"] = torch.nn.Parameter(torch.randn(2, 3, generator=gen))
    sd._metadata = collections.OrderedDict([("", {"version": 1})])  # as Module.state_dict() has
    return sd


def optimizer_state_dicts():
    torch.manual_seed(0)
    layer = torch.nn.Linear(4, 3)
    adamw = torch.optim.AdamW(layer.parameters(), lr=1e-3, betas=(0.8, 0.95), weight_decay=0.1)
    sgd = torch.optim.SGD([{"params": [layer.weight]}, {"params": [layer.bias], "lr": 0.5}],
                          lr=0.1, momentum=0.9)
    for _ in range(2):
        layer(torch.randn(2, 4)).square().sum().backward()
        adamw.step()
        sgd.step()
        adamw.zero_grad()
    return [adamw.state_dict(), sgd.state_dict()]


def nested(gen):
    strings = [f"name_{i}" for i in range(300)]  # memo indices past 255: LONG_BINPUT/BINGET
    shared = [1, 2]
    tensor = torch.arange(4, dtype=torch.int64)
    return {
        "single": {"only": {"deeper": torch.randn(3, generator=gen)}},
        "numbers": [0, 1, -1, 255, 256, 65535, 65536, 2**31 - 1, -2**31, 2**40, -2**63,
                    2**63 - 1, 0.1, -0.0, 1e300, 3.5],
        "text": ["", "ascii", "ünïcödé ✓"],
        "flags": (True, False, None),
        "tuples": ((), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4)),
        "empties": [[], {}, ()],
        "int_keys": {0: "zero", 7: [1.25], -3: None},
        "one_item_list": [tensor],
        "same_tensor_twice": (tensor, tensor),
        "shared_list": [shared, shared],
        "strings": strings,
        "string_again": strings[290],
        "long_list": list(range(2500)),  # APPENDS in batches of 1000
    }


def write_archive(path, pickled, records):
    """A zip in torch.save's layout around handcrafted pickle bytes."""
    stem = os.path.splitext(os.path.basename(path))[0]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{stem}/data.pkl", pickled)
        for key, data in records.items():
            z.writestr(f"{stem}/data/{key}", data)
        z.writestr(f"{stem}/version", "3\n")


class FakeStorage:
    def __init__(self, key, numel):
        self.key, self.numel = key, numel


class FakeTensor:
    """Pickles as torch does a tensor, with whatever storage, offset, size and stride."""

    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, size, stride, False, collections.OrderedDict())

    def __reduce__(self):
        return torch._utils._rebuild_tensor_v2, self.args


class StoragePickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, FakeStorage):
            return ("storage", torch.FloatStorage, obj.key, "cpu", obj.numel)
        return None


def pickled(obj):
    buf = io.BytesIO()
    StoragePickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


class Point:
    def __init__(self):
        self.x = 1


class RunsCommand:
    def __reduce__(self):
        return os.system, ("true",)


def refused_files(out_dir):
    torch.save({"x": RunsCommand()}, os.path.join(out_dir, "forbidden_global.pt"))
    torch.save({"p": Point()}, os.path.join(out_dir, "foreign_class.pt"))
    write_archive(os.path.join(out_dir, "os_system.pt"),
                  b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00true\x85R.", {})
    four_floats = struct.pack("<4f", 1, 2, 3, 4)
    write_archive(os.path.join(out_dir, "tensor_past_storage.pt"),
                  pickled({"t": FakeTensor(FakeStorage("0", 4), 2, (3,), (1,))}),
                  {"0": four_floats})
    write_archive(os.path.join(out_dir, "missing_record.pt"),
                  pickled({"t": FakeTensor(FakeStorage("7", 4), 0, (4,), (1,))}),
                  {"0": four_floats})
    write_archive(os.path.join(out_dir, "record_size_mismatch.pt"),
                  pickled({"t": FakeTensor(FakeStorage("0", 4), 0, (4,), (1,))}),
                  {"0": four_floats[:12]})
    good = open(os.path.join(out_dir, "state_dict.pt"), "rb").read()
    with open(os.path.join(out_dir, "truncated.pt"), "wb") as f:
        f.write(good[:len(good) // 2])


def distributed_state_dicts(w, adamw, muon, rank, world_size):
    """[DistAdamW, DistMuon].state_dict() of `rank`, as nanochat's distributed optimizers
    (nanochat/adamw.py, nanochat/muon.py) would hold the state of the single-process pair
    (adamw, muon) over the weights `w` on `world_size` ranks:
      DistAdamW: the groups of AdamW; each rank keeps rows [rank * n, (rank + 1) * n) of
        exp_avg and exp_avg_sq (n = rows / world_size) and the step as an int64 tensor.
      DistMuon: one group per parameter shape, shapes sorted, parameters in model order, each
        group with a zero_buffer of its shape; the parameter at position i of a group belongs to
        rank i % world_size, which alone keeps its momentum_buffer.
    Ids count parameters across groups in order, as torch.optim.Optimizer.state_dict does."""
    adam_state, adam_groups, next_id = {}, [], 0
    for group in adamw.param_groups:
        ids = list(range(next_id, next_id + len(group["params"])))
        next_id += len(ids)
        adam_groups.append({**{k: group[k] for k in ("lr", "betas", "eps", "weight_decay",
                                                     "initial_lr")}, "params": ids})
        for pid, p in zip(ids, group["params"]):
            s, rows = adamw.state[p], p.shape[0] // world_size
            adam_state[pid] = {"step": torch.tensor(int(s["step"]), dtype=torch.int64)}
            for key in ("exp_avg", "exp_avg_sq"):
                adam_state[pid][key] = s[key][rank * rows:(rank + 1) * rows].clone()

    matrices = [t for n, t in w.items() if n.startswith("transformer.h.")]
    options = {k: muon.param_groups[0][k] for k in ("lr", "momentum", "nesterov", "ns_steps",
                                                    "initial_lr")}
    muon_state, muon_groups, next_id = {}, [], 0
    for shape in sorted({t.shape for t in matrices}):
        params = [t for t in matrices if t.shape == shape]
        ids = list(range(next_id, next_id + len(params)))
        next_id += len(ids)
        muon_groups.append({**options, "zero_buffer": torch.zeros(shape), "params": ids})
        for i, (pid, p) in enumerate(zip(ids, params)):
            if i % world_size == rank:
                muon_state[pid] = {"momentum_buffer": muon.state[p]["momentum_buffer"].clone()}
    return [{"state": adam_state, "param_groups": adam_groups},
            {"state": muon_state, "param_groups": muon_groups}]


def nanochat_checkpoint(out_dir, vocab_size):
    """Trains one step as nanochat does, saves it the way nanochat's checkpoint_manager does, and
    records what nanotrain must reproduce from the files: an eval loss and one more step."""
    cfg = dict(sequence_len=32, vocab_size=vocab_size, n_layer=2, n_head=2, n_kv_head=1, n_embd=64)
    gen = torch.Generator().manual_seed(2024)
    w = {n: (torch.randn(s, generator=gen) * (1.0 if "wte" in n else 0.3 / s[1] ** 0.5))
         .requires_grad_() for n, s in param_shapes(cfg).items()}
    adamw, muon = nanochat_optimizers(w, cfg["n_embd"], momentum=0.85, foreach=False)
    for opt in (adamw, muon):
        for group in opt.param_groups:
            group["initial_lr"] = group["lr"]  # as nanochat's base_train sets it

    def batch():
        idx = torch.randint(0, vocab_size, (2, 16), generator=gen)
        return idx, torch.randint(0, vocab_size, (2, 16), generator=gen)

    def train_step(idx, targets):
        _, loss = gpt_forward(w, idx, targets, cfg)
        loss.backward()
        adamw.step()
        muon.step()
        for t in w.values():
            t.grad = None
        return loss.detach()

    train_step(*batch())
    # nanochat keeps the embedding in bfloat16; continue from exactly what the file holds.
    with torch.no_grad():
        w["transformer.wte.weight"].copy_(w["transformer.wte.weight"].bfloat16().float())
    model = collections.OrderedDict(
        (n, t.detach().clone().bfloat16() if "wte" in n else t.detach().clone())
        for n, t in w.items())
    optimizers = [adamw.state_dict(), muon.state_dict()]

    ckpt_dir = os.path.join(out_dir, "nanochat", "d2")
    os.makedirs(ckpt_dir, exist_ok=True)
    for step, optim_name in ((3, "optim_000003.pt"), (5, "optim_000005_rank0.pt")):
        torch.save(model, os.path.join(ckpt_dir, f"model_{step:06d}.pt"))
        torch.save(optimizers, os.path.join(ckpt_dir, optim_name))
        # min_val_bpb is inf until nanochat's first evaluation: json.dump writes Infinity.
        meta = {"step": step, "val_bpb": 1.25, "model_config": cfg,
                "user_config": {"run": "fixture", "depth": 2}, "device_batch_size": 2,
                "max_seq_len": 16,
                "loop_state": {"min_val_bpb": float("inf"), "smooth_train_loss": 0.0,
                               "total_training_time": 1.5}}
        with open(os.path.join(ckpt_dir, f"meta_{step:06d}.json"), "w") as f:
            json.dump(meta, f, indent=2)

    # The same state as a nanochat run on two ranks saves it: step 5 again, one file per rank.
    ranks_dir = os.path.join(out_dir, "nanochat_ranks", "d2")
    os.makedirs(ranks_dir, exist_ok=True)
    for name in ("model_000005.pt", "meta_000005.json"):
        shutil.copyfile(os.path.join(ckpt_dir, name), os.path.join(ranks_dir, name))
    for rank in range(2):
        torch.save(distributed_state_dicts(w, adamw, muon, rank, 2),
                   os.path.join(ranks_dir, f"optim_000005_rank{rank}.pt"))

    tokens = torch.randint(0, vocab_size, (1, 24), generator=gen)
    with torch.no_grad():
        _, eval_loss = gpt_forward(w, tokens[:, :-1], tokens[:, 1:], cfg)
    with open(os.path.join(out_dir, "nanochat_tokens.txt"), "w") as f:
        f.write(" ".join(str(t) for t in tokens.flatten().tolist()) + "\n")
    with open(os.path.join(out_dir, "nanochat_eval_loss.txt"), "w") as f:
        f.write(f"{eval_loss.item():.6f}\n")

    # The next step, as nanochat takes it (Newton-Schulz in bfloat16: "final.") and from the same
    # state with Newton-Schulz in float32 ("final_fp32.").
    idx, targets = batch()
    saved = ({n: t.detach().clone() for n, t in w.items()},
             copy.deepcopy(adamw.state_dict()), copy.deepcopy(muon.state_dict()))
    out = {"eval_loss": eval_loss.reshape(1), "resume.idx": idx, "resume.targets": targets,
           "resume.loss": train_step(idx, targets).reshape(1)}
    for n, t in w.items():
        out["final." + n] = t.detach().clone()
    with torch.no_grad():
        for n, t in w.items():
            t.copy_(saved[0][n])
    adamw.load_state_dict(saved[1])
    muon.load_state_dict(saved[2])
    muon.ns_dtype = torch.float32
    train_step(idx, targets)
    for n, t in w.items():
        out["final_fp32." + n] = t.detach().clone()
    write_bundle(os.path.join(out_dir, "nanochat_expected.safetensors"), out)


if __name__ == "__main__":
    out_dir, vocab_size = sys.argv[1], int(sys.argv[2])
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(7)
    save_with_description(out_dir, "state_dict", state_dict(gen))
    save_with_description(out_dir, "optimizers", optimizer_state_dicts())
    save_with_description(out_dir, "nested", nested(gen))
    refused_files(out_dir)
    nanochat_checkpoint(out_dir, vocab_size)
