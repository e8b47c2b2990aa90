#!/usr/bin/env python3
"""Writes the fuzzers' seed corpora (fuzz/corpus/<target>/): small valid inputs the mutations start from.
numpy writes the .npy seeds; the safetensors seeds follow the published format (8-byte little-endian header
length, JSON header, data). Run once with /usr/bin/python3; the output is committed.
"""
import io
import json
import os
import struct
import sys

import numpy as np

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(target, name, data):
    os.makedirs(os.path.join(root, target), exist_ok=True)
    with open(os.path.join(root, target, name), "wb") as handle:
        handle.write(data)


def safetensors(tensors, metadata=None):
    header, offset, blobs = {}, 0, []
    for name, (dtype, array) in tensors.items():
        blob = array.tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def npy(array, version=None):
    buffer = io.BytesIO()
    if version is None:
        np.save(buffer, array)
    else:
        np.lib.format.write_array(buffer, array, version=version)
    return buffer.getvalue()


rng = np.random.default_rng(7)
write("safetensors", "two_tensors", safetensors({"q": ("F32", rng.standard_normal((2, 3)).astype("<f4")),
                                                  "k": ("F64", rng.standard_normal(4).astype("<f8"))}))
write("safetensors", "half_types", safetensors({"a": ("F16", rng.standard_normal((3, 2)).astype("<f2")),
                                                 "b": ("BF16", np.arange(4, dtype="<u2"))},
                                                {"format": "pt"}))
write("safetensors", "int_and_3d", safetensors({"ids": ("I64", np.arange(3, dtype="<i8")),
                                                 "cube": ("F32", np.ones((2, 2, 2), dtype="<f4"))}))
# A megabyte header of 12,000 tensors (a sharded 70B model's index lists about as many), so mutations work on inputs
# where a parse that is quadratic in the number of keys would time out.
write("safetensors", "many_tensors", safetensors({f"model.layers.{i // 12}.t{i % 12}.weight": ("F16", np.zeros(0, "<f2"))
                                                   for i in range(12000)}))
write("npy", "f8_2d", npy(rng.standard_normal((2, 3)).astype("<f8")))
write("npy", "f4_fortran", npy(np.asfortranarray(rng.standard_normal((3, 2)).astype("<f4"))))
write("npy", "f2_1d", npy(rng.standard_normal(5).astype("<f2")))
write("npy", "v2_header", npy(rng.standard_normal((2, 2)).astype("<f8"), version=(2, 0)))
write("npy", "3d", npy(np.zeros((2, 1, 3), dtype="<f4")))
for index, (n, m, d, model_dim, flags) in enumerate([(6, 5, 3, 4, 1), (4, 4, 2, 3, 3), (7, 3, 4, 5, 37),
                                                      (3, 8, 5, 6, 29)]):
    values = rng.standard_normal(n * d + m * d + 2 * d * model_dim + 1).astype("<f8")
    write("field", f"head_{index}", bytes([n, m, d, model_dim, flags]) + values.tobytes())
write("config", "gpt2", json.dumps({"model_type": "gpt2", "n_embd": 64, "n_head": 4, "n_layer": 2,
                                      "n_positions": 128, "layer_norm_epsilon": 1e-5}).encode())
write("config", "llama_gqa", json.dumps({"model_type": "llama", "hidden_size": 256, "num_attention_heads": 8,
                                         "num_key_value_heads": 2, "num_hidden_layers": 4, "head_dim": 32,
                                         "rope_scaling": None, "tie_word_embeddings": False}).encode())
write("config", "qwen2_escapes", json.dumps({"model_type": "qwen2", "hidden_size": 96, "num_attention_heads": 3,
                                             "num_hidden_layers": 1, "max_position_embeddings": 512,
                                             "architectures": ["Qwen2ForCausalLM"], "note": "caf\u00e9 \"q\"\n",
                                             "rms_norm_eps": -1.5e-6}, ensure_ascii=True).encode())
write("config", "llama3_rope", json.dumps({"model_type": "llama", "hidden_size": 2048, "num_attention_heads": 32,
                                           "num_key_value_heads": 8, "num_hidden_layers": 16, "head_dim": 64,
                                           "rope_theta": 500000.0, "tie_word_embeddings": True,
                                           "rope_scaling": {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                                                            "high_freq_factor": 4.0,
                                                            "original_max_position_embeddings": 8192}}).encode())
write("config", "mistral_window", json.dumps({"model_type": "mistral", "hidden_size": 4096, "num_attention_heads": 32,
                                              "num_key_value_heads": 8, "num_hidden_layers": 32, "head_dim": None,
                                              "sliding_window": 4096, "hidden_act": "silu"}).encode())
print(f"seeds written under {root}", file=sys.stderr)
