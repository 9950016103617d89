"""A two-node job on this machine, where one whole node is lost and comes back empty: two ntrun
agents with one worker each, each "host" a network namespace (a veth pair between them, the
project's own addresses 10.215.0.1 and .2) with a /dev/shm of its own (a mount namespace), so
that killing node 1's agent (its worker dies with it) loses that node's memory. Node 1 is
SIGKILLed when rank 0 prints a step drawn from the seed, then started again; with --save_every -1
no disk checkpoint exists to recover from. Every line of node 0 is stamped as it arrives. Prints
one JSON line: wall time, the step at the kill, the step resumed from and where from, steps
executed, and the recovery time (the kill to the next completed step). Needs root.

Usage: node_loss.py --ntrun NTRUN --nanotrain NANOTRAIN --base_dir DIR --log LOG [--kill]
       --seed N -- TRAIN_ARGS
"""
import argparse
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time

STEP = re.compile(r"\[rank 0\] step (\d{5})/(\d{5}) .*\| dt: ([0-9.]+)ms")
NAMESPACES = ["ntbenchA", "ntbenchB"]


def ip(*args):
    subprocess.run(["ip", *args], check=True)


def make_hosts():
    remove_hosts()
    for ns in NAMESPACES:
        ip("netns", "add", ns)
    ip("link", "add", "ntbench_a", "type", "veth", "peer", "name", "ntbench_b")
    for ns, link, address in zip(NAMESPACES, ["ntbench_a", "ntbench_b"],
                                 ["10.215.0.1/24", "10.215.0.2/24"]):
        ip("link", "set", link, "netns", ns)
        ip("-n", ns, "addr", "add", address, "dev", link)
        ip("-n", ns, "link", "set", link, "up")
        ip("-n", ns, "link", "set", "lo", "up")


def remove_hosts():
    for ns in NAMESPACES:
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)


def start_node(args, node_rank, train_args, output):
    env = dict(os.environ, NANOTRAIN_BASE_DIR=args.base_dir, OMP_NUM_THREADS="1")
    command = ["ip", "netns", "exec", NAMESPACES[node_rank], "unshare", "-m", "sh", "-c",
               'mount -t tmpfs -o size=1g,mode=1777 tmpfs /dev/shm && exec "$@"', "_",
               args.ntrun, "--nnodes=2", "--nproc_per_node=1", f"--node_rank={node_rank}",
               "--master_addr=10.215.0.1", "--master_port=29751", "--run_id=bench",
               "--rdzv_timeout=120", "--max_restarts=3", "--shutdown_timeout=5",
               args.nanotrain, "train"] + train_args
    return subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT, text=True,
                            bufsize=1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ntrun", required=True)
    parser.add_argument("--nanotrain", required=True)
    parser.add_argument("--base_dir", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--kill", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("train_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    train_args = [a for a in args.train_args if a != "--"]
    make_hosts()
    lines = []  # (monotonic time, text) of node 0
    other = open(args.log + ".node1", "w")
    try:
        start = time.monotonic()
        node0 = start_node(args, 0, train_args, subprocess.PIPE)
        node1 = start_node(args, 1, train_args, other)

        def read():
            for text in node0.stdout:
                lines.append((time.monotonic(), text.rstrip("\n")))

        reader = threading.Thread(target=read)
        reader.start()
        kill_step = random.Random(args.seed).randint(30, 90) if args.kill else None
        killed_at = None
        while kill_step is not None and killed_at is None and node0.poll() is None:
            if any((m := STEP.search(t)) and int(m.group(1)) >= kill_step for _, t in lines[-5:]):
                node1.send_signal(signal.SIGKILL)  # its worker follows (PR_SET_PDEATHSIG)
                killed_at = time.monotonic()
                lines.append((killed_at, f"node_loss: SIGKILL to node 1 (agent pid {node1.pid})"))
                node1.wait()
                node1 = start_node(args, 1, train_args, other)
            time.sleep(0.01)
        node0.wait()
        node1.wait()
        reader.join()
        wall = time.monotonic() - start
    finally:
        other.close()
        remove_hosts()
    with open(args.log, "w") as log:
        for t, text in lines:
            log.write(f"{t - start:9.3f} {text}\n")
    steps = [(t, int(m.group(1))) for t, text in lines if (m := STEP.search(text))]
    before = [s for t, s in steps if killed_at is not None and t < killed_at]
    after = [t for t, _ in steps if killed_at is not None and t > killed_at]
    dts = [float(m.group(3)) for _, text in lines if (m := STEP.search(text)) and int(m.group(1)) > 3]
    resumed = [int(m.group(1)) for _, text in lines
               if (m := re.search(r"resumed from (?:memory )?.*at step (\d+)", text))]
    print(json.dumps({
        "exit": [node0.returncode, node1.returncode],
        "wall_s": wall,
        "kill_step": before[-1] if before else None,
        "resumed_step": resumed[-1] if resumed else None,
        "from_replica": any("sent back from the replicas" in text for _, text in lines),
        "steps_executed": len(steps),
        "recovery_s": after[0] - killed_at if after else None,
        "median_step_ms": statistics.median(dts) if dts else None,
    }))
    sys.exit(0 if node0.returncode == 0 and node1.returncode == 0 else 1)


if __name__ == "__main__":
    main()
