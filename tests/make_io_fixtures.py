"""Writes the files the I/O tests read, with numpy only (no attnspec code), into the directory given:

- .npy files written by numpy itself, format versions 1-3, C and Fortran order, float16/32/64;
- safetensors files built here by following the published format byte by byte;
- a small fake checkpoint per architecture family (GPT-2, Llama sharded, Mistral, Qwen-2), random weights under
  the real tensor names and layouts, with config.json;
- per-layer query/key dumps for the GPT-2 checkpoint;
- expected.json: each head's singular values of M and of the field, computed here by slicing independently.

Run: /usr/bin/python3 tests/make_io_fixtures.py OUT_DIR
"""
import json
import os
import struct
import sys

import numpy as np

OUT = sys.argv[1]
rng = np.random.default_rng(2026)


def path(*parts):
    full = os.path.join(OUT, *parts)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    return full


# ---------------------------------------------------------------- npy, written by numpy
def formula(shape):
    """Values every reader can recompute: (flat index) / 3 - 2, exact in float64 and rounded once to float32."""
    return (np.arange(np.prod(shape), dtype=np.float64) / 3.0 - 2.0).reshape(shape)


def save_npy(name, array, version=None):
    with open(path("npy", name), "wb") as f:
        np.lib.format.write_array(f, array, version=version)


save_npy("c_f8.npy", formula((3, 5)))
save_npy("fortran_f4.npy", np.asfortranarray(formula((4, 3)).astype(np.float32)))
save_npy("half_f2.npy", (np.arange(12).reshape(2, 6) * 0.25 - 1.0).astype(np.float16))
save_npy("v2_f8.npy", formula((2, 2)), version=(2, 0))
save_npy("v3_f4.npy", formula((3, 2)).astype(np.float32), version=(3, 0))
save_npy("vector_f8.npy", formula((7,)))
save_npy("cube_f4.npy", formula((2, 3, 4)).astype(np.float32))


# ---------------------------------------------------------------- safetensors, by the published format
def bf16_bytes(array):
    """bfloat16 = the top 16 bits of float32; inputs are chosen exactly representable, so no rounding happens."""
    bits = np.ascontiguousarray(array, dtype=np.float32).view(np.uint32) >> 16
    return bits.astype("<u2").tobytes()


def to_bf16_exact(array):
    """Rounds float32 values to bfloat16 (round to nearest even) and returns them as float32."""
    bits = np.ascontiguousarray(array, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
    return rounded.astype(np.uint32).view(np.float32)


def write_safetensors(file_path, tensors, metadata=None):
    """tensors: {name: (dtype string, numpy array)}; little-endian data, tensors laid out in the order given."""
    header, blobs, offset = {}, [], 0
    for name, (dtype, array) in tensors.items():
        if dtype == "BF16":
            blob = bf16_bytes(array)
        else:
            np_type = {"F16": "<f2", "F32": "<f4", "F64": "<f8", "I64": "<i8"}[dtype]
            blob = np.ascontiguousarray(array).astype(np_type).tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)  # the format allows trailing spaces for alignment
    with open(file_path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


mixed = {
    "f32": ("F32", formula((3, 4)).astype(np.float32)),
    "f64": ("F64", formula((2, 3))),
    "f16": ("F16", (np.arange(6).reshape(3, 2) * 0.5 - 1.0).astype(np.float16)),
    "bf16": ("BF16", (np.arange(8).reshape(2, 4) * 0.25 - 0.5).astype(np.float32)),
    "positions": ("I64", np.arange(5, dtype=np.int64)),
}
write_safetensors(path("safetensors", "mixed.safetensors"), mixed, {"format": "pt", "note": "attnspec test"})


# ---------------------------------------------------------------- fake checkpoints
def logit_spectrum(wq, wk, scale):
    return np.linalg.svd(scale * wq.T @ wk, compute_uv=False)


def prepared_factor(w, gain, beta, bias):
    """Wᵀ with γ folded into its rows and a last row W·β + b (the constant coordinate)."""
    factor = w.T * gain[:, None]
    return np.vstack([factor, (w @ beta + bias)[None, :]])


expected = {}


def record(name, key, values):
    expected.setdefault(name, {})[key] = [float(v) for v in values]


def gpt2_checkpoint():
    name, layers, heads, d, D = "gpt2", 2, 4, 8, 32
    tensors, weights = {}, []
    for layer in range(layers):
        c_attn = rng.standard_normal((D, 3 * D)).astype(np.float32)
        bias = (0.3 * rng.standard_normal(3 * D)).astype(np.float32)
        gain = (1 + 0.2 * rng.standard_normal(D)).astype(np.float32)
        beta = (0.2 * rng.standard_normal(D)).astype(np.float32)
        tensors[f"h.{layer}.ln_1.weight"] = ("F32", gain)
        tensors[f"h.{layer}.ln_1.bias"] = ("F32", beta)
        tensors[f"h.{layer}.attn.c_attn.weight"] = ("F32", c_attn)
        tensors[f"h.{layer}.attn.c_attn.bias"] = ("F32", bias)
        tensors[f"h.{layer}.attn.c_proj.weight"] = ("F32", rng.standard_normal((D, D)).astype(np.float32))
        weights.append((c_attn.astype(np.float64), bias.astype(np.float64), gain.astype(np.float64),
                        beta.astype(np.float64)))
    tensors["wte.weight"] = ("F32", rng.standard_normal((50, D)).astype(np.float32))
    directory = path(name, "model.safetensors")
    write_safetensors(directory, tensors, {"format": "pt"})
    with open(path(name, "config.json"), "w") as f:
        json.dump({"model_type": "gpt2", "n_embd": D, "n_head": heads, "n_layer": layers, "n_positions": 64,
                   "vocab_size": 50}, f)
    seq = 40
    dumps = {}
    for layer, (c_attn, bias, gain, beta) in enumerate(weights):
        x = rng.standard_normal((seq, 3)) @ rng.standard_normal((3, D)) + 0.1 * rng.standard_normal((seq, D))
        projected = (x @ c_attn + bias).astype(np.float32)  # [seq, 3D]: q | k | v
        np.save(path(name + "_dump_npy", f"layers.{layer}.query.npy"), projected[:, :D])
        np.save(path(name + "_dump_npy", f"layers.{layer}.key.npy"), projected[:, D:2 * D])
        q3 = projected[:, :D].reshape(seq, heads, d).transpose(1, 0, 2)  # [heads, seq, d]
        k3 = projected[:, D:2 * D].reshape(seq, heads, d).transpose(1, 0, 2)
        dumps[f"layers.{layer}.query"] = ("F32", q3)
        dumps[f"layers.{layer}.key"] = ("F32", k3)
        for h in range(heads):
            wq = c_attn[:, h * d:(h + 1) * d].T
            wk = c_attn[:, D + h * d:D + (h + 1) * d].T
            record(name, f"M/{layer}/{h}", logit_spectrum(wq, wk, 1 / np.sqrt(d)))
            fq = prepared_factor(wq, gain, beta, bias[h * d:(h + 1) * d])
            fk = prepared_factor(wk, gain, beta, bias[D + h * d:D + (h + 1) * d])
            record(name, f"M_prepared/{layer}/{h}", np.linalg.svd(fq @ fk.T / np.sqrt(d), compute_uv=False))
            q = q3[h].astype(np.float64)
            k = k3[h].astype(np.float64)
            field = (q @ (k - k.mean(axis=0)).T) / np.sqrt(d)
            record(name, f"field/{layer}/{h}", np.linalg.svd(field, compute_uv=False))
    write_safetensors(path(name + "_dump.safetensors"), dumps)


def llama_like_checkpoint(name, model_type, layers, q_heads, kv_heads, d, D, biases, shards, q_dtype="F32"):
    tensors, per_layer = {}, []
    for layer in range(layers):
        q_proj = rng.standard_normal((q_heads * d, D)).astype(np.float32)
        if q_dtype == "BF16":
            q_proj = to_bf16_exact(q_proj)
        k_proj = rng.standard_normal((kv_heads * d, D)).astype(np.float32)
        gain = (1 + 0.2 * rng.standard_normal(D)).astype(np.float32)
        prefix = f"model.layers.{layer}."
        tensors[prefix + "input_layernorm.weight"] = ("F32", gain)
        tensors[prefix + "self_attn.q_proj.weight"] = (q_dtype, q_proj)
        tensors[prefix + "self_attn.k_proj.weight"] = ("F16" if name == "mistral" else "F32",
                                                       k_proj.astype(np.float16) if name == "mistral" else k_proj)
        if name == "mistral":
            k_proj = k_proj.astype(np.float16).astype(np.float32)
        tensors[prefix + "self_attn.v_proj.weight"] = ("F32", rng.standard_normal((kv_heads * d, D)).astype(np.float32))
        qb = kb = None
        if biases:
            qb = (0.3 * rng.standard_normal(q_heads * d)).astype(np.float32)
            kb = (0.3 * rng.standard_normal(kv_heads * d)).astype(np.float32)
            tensors[prefix + "self_attn.q_proj.bias"] = ("F32", qb)
            tensors[prefix + "self_attn.k_proj.bias"] = ("F32", kb)
        per_layer.append((q_proj.astype(np.float64), k_proj.astype(np.float64), gain.astype(np.float64),
                          None if qb is None else qb.astype(np.float64), None if kb is None else kb.astype(np.float64)))
    tensors["model.embed_tokens.weight"] = ("F32", rng.standard_normal((30, D)).astype(np.float32))
    config = {"model_type": model_type, "hidden_size": D, "num_attention_heads": q_heads,
              "num_key_value_heads": kv_heads, "num_hidden_layers": layers, "max_position_embeddings": 128}
    if D // q_heads != d:
        config["head_dim"] = d
    with open(path(name, "config.json"), "w") as f:
        json.dump(config, f)
    names = list(tensors)
    if shards == 1:
        write_safetensors(path(name, "model.safetensors"), tensors)
    else:
        weight_map = {}
        for s in range(shards):
            shard = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
            part = {n: tensors[n] for n in names[s::shards]}
            write_safetensors(path(name, shard), part)
            weight_map.update({n: shard for n in part})
        with open(path(name, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, f)

    group = q_heads // kv_heads
    for layer, (q_proj, k_proj, gain, qb, kb) in enumerate(per_layer):
        for h in range(q_heads):
            g = h // group
            wq = q_proj[h * d:(h + 1) * d]
            wk = k_proj[g * d:(g + 1) * d]
            record(name, f"M/{layer}/{h}", logit_spectrum(wq, wk, 1 / np.sqrt(d)))
            if biases:
                zero = np.zeros(D)
                fq = prepared_factor(wq, gain, zero, qb[h * d:(h + 1) * d])
                fk = prepared_factor(wk, gain, zero, kb[g * d:(g + 1) * d])
                record(name, f"M_prepared/{layer}/{h}", np.linalg.svd(fq @ fk.T / np.sqrt(d), compute_uv=False))
        for g in range(kv_heads):
            wk = k_proj[g * d:(g + 1) * d]
            stacked = np.vstack([q_proj[h * d:(h + 1) * d].T @ wk for h in range(g * group, (g + 1) * group)])
            record(name, f"M_group/{layer}/{g}", np.linalg.svd(stacked / np.sqrt(d), compute_uv=False))


gpt2_checkpoint()
llama_like_checkpoint("llama", "llama", layers=2, q_heads=8, kv_heads=2, d=8, D=48, biases=False, shards=3,
                      q_dtype="BF16")
llama_like_checkpoint("mistral", "mistral", layers=1, q_heads=4, kv_heads=1, d=16, D=32, biases=False, shards=1)
llama_like_checkpoint("qwen2", "qwen2", layers=2, q_heads=6, kv_heads=2, d=6, D=24, biases=True, shards=1)

with open(path("expected.json"), "w") as f:
    json.dump(expected, f)
print(f"fixtures written to {OUT}")
