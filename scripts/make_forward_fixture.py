"""Writes the fixture that guards the C++ GPT-2 forward pass (examples/decoder/decoder_forward.hpp): PyTorch's queries,
keys and logits for the shipped trained checkpoint on the first 32 bytes of data/heldout/mobydick.txt, computed
here with torch's own layer_norm, GELU and softmax from the safetensors bytes (no attnspec code), as .npy files
in tests/fixtures/gpt2_forward/ (layers.<l>.query.npy and layers.<l>.key.npy in [seq, heads*d], logits.npy).

    /usr/bin/python3 scripts/make_forward_fixture.py [CHECKPOINT_DIR] [OUT_DIR]
"""
import json
import os
import struct
import sys

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
checkpoint = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "models", "tiny-gpt2-books")
out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "tests", "fixtures", "gpt2_forward")
TOKENS = 32


def read_safetensors(path):
    raw = open(path, "rb").read()
    length = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + length])
    dtypes = {"F16": "<f2", "F32": "<f4", "BF16": None}
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        data = np.frombuffer(raw[8 + length + begin:8 + length + end], dtype=dtypes[entry["dtype"]])
        tensors[name] = torch.from_numpy(data.astype(np.float32).reshape(entry["shape"]))
    return tensors


config = json.load(open(os.path.join(checkpoint, "config.json")))
w = read_safetensors(os.path.join(checkpoint, "model.safetensors"))
D, heads = config["n_embd"], config["n_head"]
d = D // heads
tokens = torch.tensor(list(open(os.path.join(ROOT, "data", "heldout", "mobydick.txt"), "rb").read()[:TOKENS]))
norm = lambda x, p: torch.nn.functional.layer_norm(x, (D,), w[p + ".weight"], w[p + ".bias"], 1e-5)

os.makedirs(out, exist_ok=True)
with torch.no_grad():
    x = w["wte.weight"][tokens] + w["wpe.weight"][:TOKENS]
    mask = torch.ones(TOKENS, TOKENS, dtype=torch.bool).triu(1)
    for layer in range(config["n_layer"]):
        p = f"h.{layer}."
        qkv = norm(x, p + "ln_1") @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]
        q, k, v = qkv.split(D, dim=1)
        np.save(os.path.join(out, f"layers.{layer}.query.npy"), q.numpy().astype(np.float32))
        np.save(os.path.join(out, f"layers.{layer}.key.npy"), k.numpy().astype(np.float32))
        q, k, v = (z.view(TOKENS, heads, d).transpose(0, 1) for z in (q, k, v))
        attention = (q @ k.transpose(1, 2) / d ** 0.5).masked_fill(mask, float("-inf")).softmax(-1)
        x = x + (attention @ v).transpose(0, 1).reshape(TOKENS, D) @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
        hidden = torch.nn.functional.gelu(norm(x, p + "ln_2") @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"],
                                          approximate="tanh")
        x = x + hidden @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
    logits = norm(x, "ln_f") @ w["wte.weight"].T
np.save(os.path.join(out, "logits.npy"), logits.numpy().astype(np.float32))
np.save(os.path.join(out, "tokens.npy"), tokens.numpy().astype(np.float64))
print(f"fixture for {TOKENS} tokens and {config['n_layer']} layers written to {out}")
