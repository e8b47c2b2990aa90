"""The scaling figures of docs/distributed.md: a Llama-shaped checkpoint written here (2 layers of 8 heads,
d = 128, D = 1024, random float32 weights) with a dump of n = 4096 queries and keys per head (a planted rank-8
structure plus noise), analysed with stability at k@0.9 by one process on 1 and 2 threads and by
analyse_checkpoint_mpi on 1 and 2 ranks of 1 thread (splitting the units, then every head's stability pass), best
of --repeats wall-clock runs each.

    /usr/bin/python3 scripts/measure_ranks.py build [--repeats 3]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from tiny_models import write_checkpoint  # noqa: E402

LAYERS, HEADS, HEAD_DIM, MODEL_DIM, TOKENS = 2, 8, 128, 1024, 4096


def write_model(directory):
    rng = torch.Generator().manual_seed(2604)
    tensors = {}
    for layer in range(LAYERS):
        prefix = f"model.layers.{layer}."
        tensors[prefix + "input_layernorm.weight"] = torch.ones(MODEL_DIM)
        for name in ("q_proj", "k_proj"):
            tensors[prefix + f"self_attn.{name}.weight"] = 0.02 * torch.randn(HEADS * HEAD_DIM, MODEL_DIM, generator=rng)
    config = {"model_type": "llama", "hidden_size": MODEL_DIM, "num_attention_heads": HEADS,
              "num_key_value_heads": HEADS, "num_hidden_layers": LAYERS, "head_dim": HEAD_DIM}
    write_checkpoint(directory, tensors, config, torch.float32)


def write_dump(directory):
    rng = np.random.default_rng(2604)
    os.makedirs(directory)
    for layer in range(LAYERS):
        for name in ("query", "key"):
            planted = rng.standard_normal((TOKENS, 8)) @ rng.standard_normal((8, HEADS * HEAD_DIM))
            values = planted + 0.1 * rng.standard_normal((TOKENS, HEADS * HEAD_DIM))
            np.save(os.path.join(directory, f"layers.{layer}.{name}.npy"), values.astype(np.float32))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("build")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="attnspec-ranks-")
    checkpoint, dump = os.path.join(work, "model"), os.path.join(work, "qk")
    write_model(checkpoint)
    write_dump(dump)
    single = os.path.join(args.build, "examples", "analyse_checkpoint")
    parallel = os.path.join(args.build, "examples", "analyse_checkpoint_mpi")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    common = [checkpoint, "--dump", dump, "--threads"]
    runs = [("1 process, 1 thread", [single, *common, "1"]),
            ("1 process, 2 threads", [single, *common, "2"]),
            ("mpirun -n 1, 1 thread", ["mpirun", "-n", "1", parallel, *common, "1"]),
            ("mpirun -n 2, 1 thread each", ["mpirun", "-n", "2", parallel, *common, "1"]),
            ("mpirun -n 2, --split-stability", ["mpirun", "-n", "2", parallel, *common, "1", "--split-stability"])]
    print(f"{LAYERS * HEADS} heads, n = {TOKENS}, d = {HEAD_DIM}, D = {MODEL_DIM}, stability at k@0.9; "
          f"best of {args.repeats}")
    print("| run | wall time | speed-up over 1 process, 1 thread |\n| --- | ---: | ---: |")
    baseline = None
    for name, command in runs:
        best = float("inf")
        for _ in range(args.repeats):
            started = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True, env=env)
            best = min(best, time.perf_counter() - started)
        baseline = baseline or best
        print(f"| {name} | {best:.2f} s | {baseline / best:.2f}x |")


if __name__ == "__main__":
    main()
