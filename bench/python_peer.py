"""The Python PyTorch peer of build/bin/train_step_bench: the same GPT (tests/reference's
implementation), torch.optim.AdamW and the reference Muon, the same shapes and step count.
Prints one line per case: "depth seq dtype tokens_per_second".

Usage: /usr/bin/python3 bench/python_peer.py [--steps N]
"""
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "reference"))
import make_reference as ref  # noqa: E402


def build(depth, seq):
    c = 64 * depth
    cfg = dict(sequence_len=seq, vocab_size=50304, n_layer=depth,
               n_head=max(1, (c + 127) // 128), n_kv_head=max(1, (c + 127) // 128), n_embd=c)
    ref.PADDED_VOCAB = 50304
    gen = torch.Generator().manual_seed(0)
    w = ref.random_weights(cfg, gen)
    adamw, muon = ref.nanochat_optimizers(w, c, momentum=0.95)
    return cfg, w, adamw, muon


def time_case(depth, seq, dtype, steps, batch=8):
    cfg, w, adamw, muon = build(depth, seq)
    tokens = torch.randint(0, 50304, (batch, seq + 1))
    x, y = tokens[:, :-1].contiguous(), tokens[:, 1:].contiguous()

    def one_step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bfloat16"):
            _, loss = ref.gpt_forward(w, x, y, cfg)
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
    return batch * seq * steps / (time.perf_counter() - t0)


if __name__ == "__main__":
    steps = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[1] == "--steps" else 5
    torch.set_num_threads(os.cpu_count())
    for depth, seq in ((4, 256), (6, 512)):
        for dtype in ("float32", "bfloat16"):
            print(f"{depth} {seq} {dtype} {time_case(depth, seq, dtype, steps):.1f}", flush=True)
