"""One training job under ntrun --max_restarts, with a random worker SIGKILLed at exponentially
distributed intervals (seeded), every output line stamped as it arrives. Prints one JSON line:
wall time, kills, steps executed, recovery times (a kill to the next completed step), the median
step time, and the checkpoint directory.

Usage: goodput.py --ntrun NTRUN --base_dir DIR --mean_kill_s S (0: no kills) --seed N -- TRAIN_ARGS
"""
import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

STEP = re.compile(r"step (\d{5})/(\d{5}) .*\| dt: ([0-9.]+)ms")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ntrun", required=True)
    parser.add_argument("--nanotrain", required=True)
    parser.add_argument("--base_dir", required=True)
    parser.add_argument("--mean_kill_s", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--log", required=True)
    parser.add_argument("train_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    train_args = [a for a in args.train_args if a != "--"]
    env = dict(os.environ, NANOTRAIN_BASE_DIR=args.base_dir)
    command = [args.ntrun, "--standalone", "--nproc_per_node=2", "--max_restarts=1000",
               "--shutdown_timeout=5", args.nanotrain, "train"] + train_args
    lines = []  # (monotonic time, text)
    start = time.monotonic()
    job = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, bufsize=1)

    def read():
        for text in job.stdout:
            lines.append((time.monotonic(), text.rstrip("\n")))

    reader = threading.Thread(target=read)
    reader.start()
    rng = random.Random(args.seed)
    kills = []  # (monotonic time, pid)
    while args.mean_kill_s > 0 and job.poll() is None:
        deadline = time.monotonic() + rng.expovariate(1.0 / args.mean_kill_s)
        while job.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        if job.poll() is not None:
            break
        children = subprocess.run(["pgrep", "-P", str(job.pid)], capture_output=True,
                                  text=True).stdout.split()
        if not children:
            continue  # between attempts: nothing to kill
        pid = int(rng.choice(sorted(children)))
        try:
            os.kill(pid, signal.SIGKILL)
            kills.append((time.monotonic(), pid))
            lines.append((kills[-1][0], f"goodput: SIGKILL to worker pid {pid}"))
        except ProcessLookupError:
            pass
    job.wait()
    reader.join()
    wall = time.monotonic() - start
    with open(args.log, "w") as log:  # the stamped lines, kills included
        for t, text in sorted(lines, key=lambda line: line[0]):
            log.write(f"{t - start:9.3f} {text}\n")
    steps = [(t, int(m.group(1)), float(m.group(3))) for t, text in lines
             if "[rank 0]" in text and (m := STEP.search(text))]
    recoveries = []
    # Each recovery's phases: the kill to ntrun's restart (detection and stopping the others),
    # to the first worker's first line (process start), to the resume line (rendezvous, data,
    # model, loading the state), to the first completed step.
    marks = ["restarting workers", "config:", "resumed from", "step "]
    phases = {m: [] for m in marks}
    for killed_at, _ in kills:
        after = [t for t, _, _ in steps if t > killed_at]
        restarted = [t for t, text in lines if t > killed_at and "restarting workers" in text]
        # Only a kill that caused a restart counts (a worker already exiting does not).
        if not (after and restarted and restarted[0] < after[0]):
            continue
        recoveries.append(after[0] - killed_at)
        previous = killed_at
        for mark in marks:
            found = [t for t, text in lines if previous <= t <= after[0] and mark in text and
                     (mark != "step " or STEP.search(text))]
            if not found:
                break
            phases[mark].append(found[0] - previous)
            previous = found[0]
    dts = sorted(dt for _, step, dt in steps if step > 3)
    print(json.dumps({
        "exit": job.returncode,
        "wall_s": wall,
        "kills": len(kills),
        "restarts": sum("restarting workers" in text for _, text in lines),
        "steps_executed": len(steps),
        "last_step": steps[-1][1] if steps else 0,
        "recovery_s": recoveries,
        "recovery_phases_median_s": {m: sorted(v)[len(v) // 2] for m, v in phases.items() if v},
        "median_step_ms": dts[len(dts) // 2] if dts else None,
        "resumed_from_memory": sum("resumed from memory" in text for _, text in lines),
        "resumed_from_disk": sum(bool(re.search(r"resumed from /", text)) for _, text in lines),
    }))
    sys.exit(0 if job.returncode == 0 else 1)


if __name__ == "__main__":
    main()
