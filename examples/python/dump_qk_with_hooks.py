"""How a PyTorch user hands a model's per-head queries and keys to attnspec: forward hooks on the attention's
q/k projection capture them during an ordinary forward pass, and numpy writes them as .npy files.

The model here is a tiny GPT-2-architecture network this script builds itself (random weights, fixed seed), so it
runs anywhere Debian's python3-torch does. With a real model, register the same hook on its projection modules.

    /usr/bin/python3 examples/python/dump_qk_with_hooks.py OUT_DIR
    build/examples/analyse_checkpoint OUT_DIR/model --dump OUT_DIR/qk --heads

OUT_DIR/model gets the weights as safetensors under Hugging Face GPT-2 names (Conv1D layout) plus config.json;
OUT_DIR/qk gets layers.<l>.query.npy and layers.<l>.key.npy, each [seq, heads*d] float32; OUT_DIR/expected.json
the k@0.9 of each head's field computed here with torch, for comparison.
"""
import json
import os
import struct
import sys

import numpy as np
import torch

LAYERS, HEADS, HEAD_DIM, CONTEXT = 2, 4, 16, 128
D = HEADS * HEAD_DIM
TEXT = (b"It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of "
        b"foolishness, it was the epoch of belief, it was the epoch of incredulity, it was the season of Light.")


class Conv1D(torch.nn.Module):
    """GPT-2's projection: weight stored [in, out], y = x @ W + b."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = torch.nn.Parameter(0.2 * torch.randn(n_in, n_out))
        self.bias = torch.nn.Parameter(0.02 * torch.randn(n_out))

    def forward(self, x):
        return x @ self.weight + self.bias


class Attention(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.c_attn = Conv1D(D, 3 * D)
        self.c_proj = Conv1D(D, D)

    def forward(self, x):
        t = x.shape[1]
        q, k, v = self.c_attn(x).split(D, dim=2)
        q, k, v = (z.view(1, t, HEADS, HEAD_DIM).transpose(1, 2) for z in (q, k, v))
        logits = q @ k.transpose(-1, -2) / HEAD_DIM ** 0.5
        logits = logits.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
        return self.c_proj((logits.softmax(-1) @ v).transpose(1, 2).reshape(1, t, D))


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1, self.attn, self.ln_2 = torch.nn.LayerNorm(D), Attention(), torch.nn.LayerNorm(D)
        self.mlp = torch.nn.Sequential(torch.nn.Linear(D, 4 * D), torch.nn.GELU(), torch.nn.Linear(4 * D, D))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class TinyGPT2(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.wte, self.wpe = torch.nn.Embedding(256, D), torch.nn.Embedding(CONTEXT, D)
        self.h = torch.nn.ModuleList(Block() for _ in range(LAYERS))

    def forward(self, tokens):
        x = self.wte(tokens) + self.wpe(torch.arange(tokens.shape[1]))
        for block in self.h:
            x = block(x)
        return x


def save_safetensors(path, tensors):
    """The safetensors format by hand: 8-byte header length, JSON header, raw little-endian float32 data."""
    header, blobs, offset = {}, [], 0
    for name, tensor in tensors.items():
        blob = tensor.detach().contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensor.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def main(out):
    torch.manual_seed(0)
    model = TinyGPT2().eval()
    os.makedirs(os.path.join(out, "model"), exist_ok=True)
    os.makedirs(os.path.join(out, "qk"), exist_ok=True)

    captured = {}

    def capture(layer):
        def hook(module, inputs, output):  # output: [batch, seq, 3*D] = queries | keys | values
            captured[layer] = output[0].detach()
        return hook

    handles = [block.attn.c_attn.register_forward_hook(capture(layer)) for layer, block in enumerate(model.h)]
    tokens = torch.tensor([list(TEXT[:CONTEXT])])
    with torch.no_grad():
        model(tokens)
    for handle in handles:
        handle.remove()

    expected = {}
    for layer, qkv in captured.items():
        queries, keys = qkv[:, :D], qkv[:, D:2 * D]  # [seq, heads*d]: the layout attnspec reads from 2-D dumps
        np.save(os.path.join(out, "qk", f"layers.{layer}.query.npy"), queries.numpy().astype(np.float32))
        np.save(os.path.join(out, "qk", f"layers.{layer}.key.npy"), keys.numpy().astype(np.float32))
        for head in range(HEADS):
            q = queries[:, head * HEAD_DIM:(head + 1) * HEAD_DIM].double()
            k = keys[:, head * HEAD_DIM:(head + 1) * HEAD_DIM].double()
            sigma = torch.linalg.svdvals(q @ (k - k.mean(0)).T / HEAD_DIM ** 0.5)
            cumulative = (sigma ** 2).cumsum(0) / (sigma ** 2).sum()
            expected[f"{layer}/{head}"] = int((cumulative < 0.9 - 1e-12).sum()) + 1

    weights = {}
    for layer, block in enumerate(model.h):
        weights[f"h.{layer}.ln_1.weight"] = block.ln_1.weight
        weights[f"h.{layer}.ln_1.bias"] = block.ln_1.bias
        weights[f"h.{layer}.attn.c_attn.weight"] = block.attn.c_attn.weight
        weights[f"h.{layer}.attn.c_attn.bias"] = block.attn.c_attn.bias
    weights["wte.weight"] = model.wte.weight
    save_safetensors(os.path.join(out, "model", "model.safetensors"), weights)
    with open(os.path.join(out, "model", "config.json"), "w") as f:
        json.dump({"model_type": "gpt2", "n_embd": D, "n_head": HEADS, "n_layer": LAYERS, "n_positions": CONTEXT}, f)
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f)
    print(f"dumped {len(captured)} layers x {HEADS} heads of {tokens.shape[1]} tokens to {out}")


if __name__ == "__main__":
    main(sys.argv[1])
