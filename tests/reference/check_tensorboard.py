"""Reads a run's TensorBoard folder with TensorBoard's own EventAccumulator and checks it against
the run's metrics.jsonl: every scalar tag holds each expected step exactly once, with the value
metrics.jsonl last recorded for that step (a resumed run's line wins, as in `nanotrain plot`).
Every record's CRCs are checked first with TensorBoard's masked CRC-32C.

Usage: check_tensorboard.py TB_DIR METRICS_JSONL LAST_STEP EVAL_EVERY
"""

import glob
import json
import os
import struct
import sys

from tensorboard.backend.event_processing import event_accumulator
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

TAGS = {"loss": "train/loss", "smooth_loss": "train/smooth_loss", "lrm": "train/lrm",
        "tok_per_sec": "train/tok_per_sec", "mfu": "train/mfu", "val_bpb": "val/bpb"}


def check_records(path):
    data = open(path, "rb").read()
    pos, count = 0, 0
    while pos < len(data):
        header = data[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (header_crc,) = struct.unpack("<I", data[pos + 8:pos + 12])
        assert header_crc == masked_crc32c(header), f"{path}: record {count}: bad length CRC"
        body = data[pos + 12:pos + 12 + length]
        (body_crc,) = struct.unpack("<I", data[pos + 12 + length:pos + 16 + length])
        assert body_crc == masked_crc32c(body), f"{path}: record {count}: bad data CRC"
        pos += 16 + length
        count += 1
    return count


def main():
    tb_dir, metrics_path, last_step, eval_every = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    files = sorted(glob.glob(os.path.join(tb_dir, "events.out.tfevents.*")))
    assert files, f"no event files in {tb_dir}"
    records = sum(check_records(f) for f in files)

    expected = {tag: {} for tag in TAGS.values()}
    for line in open(metrics_path):
        record = json.loads(line)
        for key, tag in TAGS.items():
            if key in record:
                expected[tag][record["step"]] = record[key]
    train_steps = list(range(1, last_step + 1))
    val_steps = sorted({0, last_step} | set(range(0, last_step + 1, eval_every)))

    acc = event_accumulator.EventAccumulator(tb_dir, size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    assert sorted(acc.Tags()["scalars"]) == sorted(TAGS.values()), acc.Tags()["scalars"]
    for tag in TAGS.values():
        events = acc.Scalars(tag)
        steps = [e.step for e in events]
        want = val_steps if tag == "val/bpb" else train_steps
        assert steps == want, f"{tag}: steps {steps}, expected {want} once each, in order"
        assert sorted(expected[tag]) == want, f"metrics.jsonl {tag}: steps {sorted(expected[tag])}"
        for e in events:
            value = expected[tag][e.step]
            # Event files hold float32; metrics.jsonl the double it was rounded from.
            assert abs(e.value - value) <= 1e-6 * max(1.0, abs(value)), \
                f"{tag} step {e.step}: TensorBoard {e.value}, metrics.jsonl {value}"
    print(f"tensorboard: {len(files)} files, {records} records, {len(TAGS)} tags, "
          f"{len(train_steps)} train steps and {len(val_steps)} evaluations once each")


if __name__ == "__main__":
    main()
