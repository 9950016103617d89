"""The Python PyTorch peer of build/bin/train_step_bench: the same GPT (tests/reference's
implementation), torch.optim.AdamW and the reference Muon, the same shapes and step count.
Under a torchrun-style launcher (ntrun) it trains as a Python user would on CPU: the weights in a module
wrapped by DistributedDataParallel (Gloo; gradients averaged in buckets, overlapped with the
backward pass) and the same optimizers on every rank. Rank 0 prints one line per case:
"depth seq dtype tokens_per_second" (all ranks together).

Model dtypes and Muon's Newton-Schulz precision follow nanotrain's choice on this CPU (bf16 only
where the CPU has avx512_bf16 or amx_bf16; --bf16 forces it, --muon_dtype as train_step_bench's),
so both run the same arithmetic.

Usage: [build/bin/ntrun --standalone --nproc_per_node=N] /usr/bin/python3 bench/python_peer.py
       [--steps N] [--bf16] [--muon_dtype auto|bfloat16|float32]
"""
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "reference"))
import make_reference as ref  # noqa: E402


WORLD = int(os.environ.get("WORLD_SIZE", "1"))


def cpu_has_bf16():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                return "avx512_bf16" in flags or "amx_bf16" in flags
    return False


BF16 = cpu_has_bf16()
MUON_DTYPE = sys.argv[sys.argv.index("--muon_dtype") + 1] if "--muon_dtype" in sys.argv else "auto"
NS_DTYPE = {"auto": torch.bfloat16 if BF16 else torch.float32, "bfloat16": torch.bfloat16,
            "float32": torch.float32}[MUON_DTYPE]


class Weights(torch.nn.Module):
    """The reference GPT's weights as a module, so DistributedDataParallel can wrap it."""

    def __init__(self, w, cfg):
        super().__init__()
        self.names = list(w)
        self.params = torch.nn.ParameterList([torch.nn.Parameter(t.detach()) for t in w.values()])
        self.cfg = cfg

    def weights(self):
        return dict(zip(self.names, self.params))

    def forward(self, x, y):
        return ref.gpt_forward(self.weights(), x, y, self.cfg)[1]


def build(depth, seq):
    c = 64 * depth
    cfg = dict(sequence_len=seq, vocab_size=50304, n_layer=depth,
               n_head=max(1, (c + 127) // 128), n_kv_head=max(1, (c + 127) // 128), n_embd=c)
    ref.PADDED_VOCAB = 50304
    gen = torch.Generator().manual_seed(0)
    module = Weights(ref.random_weights(cfg, gen), cfg)
    w = module.weights()
    adamw, muon = ref.nanochat_optimizers(w, c, momentum=0.95, ns_dtype=NS_DTYPE)
    model = torch.nn.parallel.DistributedDataParallel(module) if WORLD > 1 else module
    return model, w, adamw, muon


def time_case(depth, seq, dtype, steps, batch=8):
    model, w, adamw, muon = build(depth, seq)
    tokens = torch.randint(0, 50304, (batch, seq + 1))
    x, y = tokens[:, :-1].contiguous(), tokens[:, 1:].contiguous()

    def one_step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bfloat16"):
            loss = model(x, y)
        loss.backward()
        adamw.step()
        muon.step()
        for t in w.values():
            t.grad = None

    one_step()
    one_step()
    t0 = time.perf_counter()
    for _ in range(steps):
        one_step()
    if WORLD > 1:
        torch.distributed.barrier()
    return WORLD * batch * seq * steps / (time.perf_counter() - t0)


if __name__ == "__main__":
    steps = int(sys.argv[sys.argv.index("--steps") + 1]) if "--steps" in sys.argv else 5
    bf16 = BF16 or "--bf16" in sys.argv
    # As nanotrain: OMP_NUM_THREADS when set (ntrun sets it per worker), else a share of the CPUs.
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", max(1, os.cpu_count() // WORLD))))
    if WORLD > 1:
        torch.distributed.init_process_group("gloo")
    rank = int(os.environ.get("RANK", "0"))
    for depth, seq in ((4, 256), (6, 512)):
        for dtype in ("float32", "bfloat16") if bf16 else ("float32",):
            tps = time_case(depth, seq, dtype, steps)
            if rank == 0:
                print(f"{depth} {seq} {dtype} {tps:.1f}", flush=True)
