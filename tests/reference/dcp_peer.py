"""torch.distributed.checkpoint (DCP) as nanotrain's peer, run with the pip PyTorch.

  dcp_peer.py save CHECKPOINT_DIR STEP OUT_DIR WORLD
      Saves model_{STEP:06d}.pt of a checkpoint directory as DCP from WORLD ranks, as torchtitan
      would: {"model": state_dict, "step": STEP}, every matrix sharded by rows (FSDP2's Shard(0)).
  dcp_peer.py save_foreign OUT_DIR
      Saves a DCP checkpoint of a state dict that is no nanochat model.
  dcp_peer.py load DCP_DIR MODEL_CONFIG_JSON TOKENS_FILE WORLD
      Loads a DCP directory at WORLD ranks into row-sharded tensors shaped from its metadata,
      gathers them, and prints "loss: X" (6 decimals) on the tokens, as `nanotrain loss` does.
Ranks are processes joined by a FileStore over Gloo.
"""
import json
import os
import sys
import tempfile

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
import torch.multiprocessing as mp
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.tensor import Shard, distribute_tensor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_reference import gpt_forward  # noqa: E402


def sharded(tensor, mesh):
    return distribute_tensor(tensor, mesh, [Shard(0)]) if tensor.dim() == 2 else tensor


def save(rank, world, store, ckpt_dir, step, out_dir):
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    mesh = init_device_mesh("cpu", (world,))
    weights = torch.load(os.path.join(ckpt_dir, f"model_{step:06d}.pt"), map_location="cpu")
    model = {k: sharded(v, mesh) for k, v in weights.items()}
    dcp.save({"model": model, "step": step}, checkpoint_id=out_dir)
    dist.destroy_process_group()


def load(rank, world, store, dcp_dir, config_file, tokens_file):
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    mesh = init_device_mesh("cpu", (world,))
    metadata = dcp.FileSystemReader(dcp_dir).read_metadata()
    state = {k: sharded(torch.zeros(m.size, dtype=m.properties.dtype), mesh)
             for k, m in metadata.state_dict_metadata.items()}
    dcp.load(state, checkpoint_id=dcp_dir)
    # nanotrain computes in fp32 from the stored weights (bf16 in nanochat files), as here.
    weights = {k: (v.full_tensor() if hasattr(v, "full_tensor") else v).float()
               for k, v in state.items()}
    if rank == 0:
        cfg = json.load(open(config_file))
        ids = torch.tensor([int(w) for w in open(tokens_file).read().split()]).view(1, -1)
        with torch.no_grad():
            _, loss = gpt_forward(weights, ids[:, :-1], ids[:, 1:], cfg)
        print(f"loss: {loss.item():.6f}", flush=True)
    # No rank leaves while rank 0 still computes: a peer gone early aborted Gloo's teardown.
    dist.barrier()
    dist.destroy_process_group()


def spawn(fn, world, *args):
    with tempfile.TemporaryDirectory() as tmp:
        mp.spawn(fn, args=(world, os.path.join(tmp, "store"), *args), nprocs=world)


def main():
    torch.set_num_threads(1)
    mode = sys.argv[1]
    if mode == "save":
        ckpt_dir, step, out_dir, world = sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
        spawn(save, world, ckpt_dir, step, out_dir)
    elif mode == "save_foreign":
        dcp.save({"encoder.layer.0.weight": torch.ones(3, 5), "epoch": 7},
                 checkpoint_id=sys.argv[2], no_dist=True)
    elif mode == "load":
        dcp_dir, config_file, tokens_file, world = sys.argv[2:5] + [int(sys.argv[5])]
        spawn(load, world, dcp_dir, config_file, tokens_file)
    else:
        sys.exit(f"unknown mode {mode}: expected save, save_foreign or load")


if __name__ == "__main__":
    main()
