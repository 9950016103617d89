# Compares what two launchers set in their workers' environments: every variable that torchrun
# sets (absent from, or different in, the parent's environment) must be set by ntrun with the
# same value, and ntrun must set nothing torchrun does not, except the variables listed in
# DELIBERATELY_DIFFERENT (docs/launching.md, "ntrun: the launcher") whose values differ by design,
# and those in NTRUN_ONLY.
# Usage: compare_launcher_env.py PARENT_ENV_JSON TORCHRUN_DIR NTRUN_DIR WORLD_SIZE
import json
import sys

DELIBERATELY_DIFFERENT = {
    "MASTER_ADDR": "standalone: torchrun names this host by its FQDN, ntrun by 127.0.0.1",
    "MASTER_PORT": "standalone: a free port chosen at each start",
    "TORCHELASTIC_RUN_ID": "standalone: a random id at each start",
    "TORCHELASTIC_ERROR_FILE": "a path in each launcher's own log directory",
    "OMP_NUM_THREADS": "torchrun gives 1, ntrun the allowed CPUs shared out",
    "_": "the shell's last command, not a launcher's",
}
# Set by ntrun alone, for nanotrain's workers.
NTRUN_ONLY = {
    "NANOTRAIN_JOB_SECRET": "marks the job's per-step snapshots (docs/checkpoints.md)",
    "NANOTRAIN_GROUP_FAILED_FILE": "ends a failed group's workers at SIGTERM (docs/launching.md)",
}

parent_path, torchrun_dir, ntrun_dir, world = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
parent = json.load(open(parent_path))
failures = []
for rank in range(world):
    envs = {}
    for name, d in (("torchrun", torchrun_dir), ("ntrun", ntrun_dir)):
        env = json.load(open(f"{d}/env.{rank}.json"))
        envs[name] = {k: v for k, v in env.items() if parent.get(k) != v}
    t, n = envs["torchrun"], envs["ntrun"]
    for key in sorted(set(t) | set(n)):
        if key in NTRUN_ONLY:
            if key in t or key not in n:
                failures.append(f"rank {rank}: {key} must be set by ntrun alone")
            continue
        if key in DELIBERATELY_DIFFERENT:
            if key != "_" and (key in t) != (key in n):
                failures.append(f"rank {rank}: {key} set by only one launcher")
            elif key != "_" and t[key] != n[key]:
                print(f"rank {rank}: {key} differs by design: torchrun {t[key]!r}, ntrun {n[key]!r}")
            continue
        if t.get(key) != n.get(key):
            failures.append(f"rank {rank}: {key}: torchrun {t.get(key)!r}, ntrun {n.get(key)!r}")
    print(f"rank {rank}: {len(t)} variables set by torchrun, "
          f"{sum(1 for k in t if k not in DELIBERATELY_DIFFERENT and t[k] == n.get(k))} equal under ntrun")
if failures:
    print("\n".join(failures))
    sys.exit(1)
