"""The shipped GPT-2's training recipe (scripts/train_tiny_gpt2.py, scripts/tiny_models.py) with attnspec's
SpectrumMonitor recording, every --every steps, each head's k@0.9 of the field (on one held-out window of 1024
bytes per book) and of M, plus the held-out loss. Only the weight decay changes between runs, so the trajectories
of --weight-decay 0.1 (the shipped recipe) and 0 show what weight decay does to M's compressibility.

    PYTHONPATH=build/python /usr/bin/python3 scripts/train_with_monitor.py --weight-decay 0.1 \
        --out docs/data/trajectory-wd0.1.json [--steps 800] [--every 50] [--threads 1]

Seed 2604 as the shipped model; with --threads 1 (so two runs share a 2-core machine) the run is deterministic
but not bit-identical to the shipped checkpoint, which was trained on 2 threads.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import attnspec  # noqa: E402
from attnspec.monitor import SpectrumMonitor  # noqa: E402
from tiny_models import TEXTS, bits_per_byte, splits, train  # noqa: E402
from train_tiny_gpt2 import CONTEXT, HEADS, TinyGPT2  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weight-decay", type=float, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--texts", default=TEXTS)
    args = parser.parse_args()
    torch.manual_seed(2604)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(2604)
    data = splits(args.texts)
    held_out = torch.tensor(np.stack([np.frombuffer(h[:CONTEXT], dtype=np.uint8) for _, h in data.values()]),
                            dtype=torch.int64)

    model = TinyGPT2()
    monitor = SpectrumMonitor(model, held_out, every=args.every, heads=HEADS, threads=args.threads)
    losses = []

    def on_step(step, model):
        if step % args.every == 0:
            monitor.record(step)
            losses.append({"step": step, "held_out_bits_per_byte": {
                name: bits_per_byte(model, h, CONTEXT, windows=4) for name, (_, h) in data.items()}})

    started = time.time()
    train(model, data, rng, args.steps, 2, CONTEXT, on_step=on_step, weight_decay=args.weight_decay)
    on_step(args.steps, model)
    result = {"weight_decay": args.weight_decay, "steps": args.steps, "every": args.every, "seed": 2604,
              "threads": args.threads, "torch": torch.__version__, "attnspec": attnspec.__version__,
              "seconds": round(time.time() - started), "monitor_seconds": round(monitor.seconds, 1),
              "medians": monitor.medians(), "losses": losses, "rows": monitor.rows}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result["medians"][-1]), f"{result['seconds']} s, monitor {result['monitor_seconds']} s")


if __name__ == "__main__":
    main()
