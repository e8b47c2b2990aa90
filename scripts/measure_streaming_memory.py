"""Measures the peak memory of the streaming forward pass and analysis (examples/paper_table) on a checkpoint of
Llama-3.2-1B's shapes: 16 layers, hidden size 2048, 32 query heads sharing 8 KV heads of size 64, SwiGLU width
8192, a 128,256-token vocabulary with tied embeddings, bfloat16, rope_theta 500000 with llama3 scaling. The
checkpoint is written on the fly with random weights (about 2.5 GB; it is not kept), the host runs it on random
token ids, and the peak resident set size of the host process is printed beside its parts: the mapped file, one
layer's weights in float, and the activations.

    /usr/bin/python3 scripts/measure_streaming_memory.py BUILD_DIR [--tokens 512] [--work /tmp/attnspec-1b]
"""
import argparse
import json
import os
import resource
import shutil
import struct
import subprocess
import time

import numpy as np

SHAPES = {"vocab": 128256, "hidden": 2048, "layers": 16, "heads": 32, "kv_heads": 8, "head_dim": 64, "mlp": 8192}


def tensor_shapes(s):
    d, D, mlp = s["head_dim"], s["hidden"], s["mlp"]
    shapes = {"model.embed_tokens.weight": (s["vocab"], D), "model.norm.weight": (D,)}
    for layer in range(s["layers"]):
        p = f"model.layers.{layer}."
        shapes.update({p + "input_layernorm.weight": (D,), p + "post_attention_layernorm.weight": (D,),
                       p + "self_attn.q_proj.weight": (s["heads"] * d, D),
                       p + "self_attn.k_proj.weight": (s["kv_heads"] * d, D),
                       p + "self_attn.v_proj.weight": (s["kv_heads"] * d, D),
                       p + "self_attn.o_proj.weight": (D, s["heads"] * d), p + "mlp.gate_proj.weight": (mlp, D),
                       p + "mlp.up_proj.weight": (mlp, D), p + "mlp.down_proj.weight": (D, mlp)})
    return shapes


def write_checkpoint(directory, s, rng):
    """Random bfloat16 weights (norm gains 1, matrices N(0, 0.02)), streamed to disk one tensor at a time."""
    shapes = tensor_shapes(s)
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, shape in shapes.items():
        size = 2 * int(np.prod(shape))
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for name, shape in shapes.items():
            values = np.ones(shape, np.float32) if len(shape) == 1 else \
                (0.02 * rng.standard_normal(shape, dtype=np.float32))
            f.write((values.view(np.uint32) >> 16).astype("<u2").tobytes())  # bfloat16: the upper half
    config = {"model_type": "llama", "vocab_size": s["vocab"], "hidden_size": s["hidden"],
              "intermediate_size": s["mlp"], "num_hidden_layers": s["layers"], "num_attention_heads": s["heads"],
              "num_key_value_heads": s["kv_heads"], "head_dim": s["head_dim"], "max_position_embeddings": 131072,
              "rope_theta": 500000.0, "rms_norm_eps": 1e-5, "hidden_act": "silu", "tie_word_embeddings": True,
              "rope_scaling": {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                               "original_max_position_embeddings": 8192}, "torch_dtype": "bfloat16"}
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(config, f)
    return os.path.getsize(os.path.join(directory, "model.safetensors"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("build")
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--work", default="/tmp/attnspec-1b")
    args = parser.parse_args()
    s, mib = SHAPES, 2.0 ** 20
    rng = np.random.default_rng(2604)
    model = os.path.join(args.work, "llama-1b-shaped")
    file_bytes = write_checkpoint(model, s, rng)
    ids = os.path.join(args.work, "ids.npy")
    np.save(ids, rng.integers(0, s["vocab"], args.tokens).astype(np.int64))

    started = time.time()
    result = subprocess.run([os.path.join(args.build, "examples", "paper_table"), "--model", f"llama-1b-shaped={model}",
                             "--text", ids, "--tokens", str(args.tokens), "--out", os.path.join(args.work, "out")],
                            capture_output=True, text=True)
    seconds = time.time() - started
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # kilobytes on Linux
    layer = 4 * (s["hidden"] * s["head_dim"] * 2 * (s["heads"] + s["kv_heads"]) + 3 * s["hidden"] * s["mlp"])
    n = args.tokens
    activations = 4 * n * (4 * s["hidden"] + 2 * s["mlp"] + 2 * s["head_dim"] * (s["heads"] + 2 * s["kv_heads"]) + n)
    print(result.stdout)
    print(f"checkpoint file (bfloat16):        {file_bytes / mib:8.0f} MiB")
    print(f"one layer's weights in float:      {layer / mib:8.0f} MiB")
    print(f"activations at n = {n} (float):   {activations / mib:8.0f} MiB")
    print(f"sum of the three:                  {(file_bytes + layer + activations) / mib:8.0f} MiB")
    print(f"peak resident set of paper_table:  {peak / mib:8.0f} MiB  ({seconds:.0f} s)")
    shutil.rmtree(args.work)


if __name__ == "__main__":
    main()
