# A torch.distributed program for the launcher comparison: joins the gloo process group from
# the launcher's environment (env://), checks an all_reduce, and writes its whole environment to
# OUT_DIR/env.<rank>.json. Usage: dump_env.py OUT_DIR
import json
import os
import sys

import torch
import torch.distributed as dist

dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
t = torch.tensor([float(rank + 1)])
dist.all_reduce(t)
if t.item() != world * (world + 1) / 2:
    sys.exit(f"rank {rank}: all_reduce gave {t.item()}, expected {world * (world + 1) / 2}")
with open(os.path.join(sys.argv[1], f"env.{rank}.json"), "w") as f:
    json.dump(dict(os.environ), f, indent=1, sort_keys=True)
dist.destroy_process_group()
