"""Trains the small GPT-2 the end-to-end demo analyses, and writes its random-initialisation control.

A byte-level GPT-2 (4 layers, d_model 192, 3 heads of 64, context 1024, tied embeddings, GELU (tanh), pre-norm
LayerNorm) trained on the training split of the three public-domain books in data/texts (see data/README.md):
each book without its Project Gutenberg header and footer, first 90% for training, last 10% held out.

Both checkpoints are written with Hugging Face GPT-2 tensor names and layout (Conv1D [in, out], packed c_attn
with biases) and a config.json, in float16 to stay under 8 MB, to models/tiny-gpt2-books/ and
models/tiny-gpt2-random/. The held-out loss in bits per byte goes to models/tiny-gpt2-books/training.json.

    /usr/bin/python3 scripts/train_tiny_gpt2.py [--steps 800] [--texts ../shared/data/texts]

Deterministic for a given torch build and thread count (seed 2604, 2 threads).
"""
import argparse
import json
import math
import os
import struct
import time

import numpy as np
import torch

LAYERS, D, HEADS, CONTEXT, VOCAB = 4, 192, 3, 1024, 256
BOOKS = ["mobydick-pg2701.txt", "sherlock-pg1661.txt", "kjv-genesis-exodus.txt"]
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def book_text(path):
    """The book as bytes without BOM, CRLF line ends, or the Gutenberg header and footer."""
    text = open(path, "rb").read().decode("utf-8-sig").replace("\r\n", "\n")
    start, end = text.find("*** START OF"), text.find("*** END OF")
    if start >= 0 and end > start:
        text = text[text.index("\n", start) + 1:end]
    return text.strip().encode("utf-8")


def splits(texts_dir):
    """(train, held-out) bytes per book: first 90% and last 10%."""
    out = {}
    for name in BOOKS:
        data = book_text(os.path.join(texts_dir, name))
        cut = int(len(data) * 0.9)
        out[name] = (data[:cut], data[cut:])
    return out


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = torch.nn.LayerNorm(D, eps=1e-5)
        self.c_attn = torch.nn.Linear(D, 3 * D)
        self.attn_proj = torch.nn.Linear(D, D)
        self.ln_2 = torch.nn.LayerNorm(D, eps=1e-5)
        self.c_fc = torch.nn.Linear(D, 4 * D)
        self.mlp_proj = torch.nn.Linear(4 * D, D)

    def forward(self, x):
        b, t, _ = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(D, dim=2)
        q, k, v = (z.view(b, t, HEADS, D // HEADS).transpose(1, 2) for z in (q, k, v))
        y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True) if hasattr(
            torch.nn.functional, "scaled_dot_product_attention") else causal_attention(q, k, v)
        x = x + self.attn_proj(y.transpose(1, 2).reshape(b, t, D))
        return x + self.mlp_proj(torch.nn.functional.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


def causal_attention(q, k, v):
    t = q.shape[2]
    logits = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    logits = logits.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
    return logits.softmax(-1) @ v


class TinyGPT2(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = torch.nn.Embedding(VOCAB, D)
        self.wpe = torch.nn.Embedding(CONTEXT, D)
        self.h = torch.nn.ModuleList(Block() for _ in range(LAYERS))
        self.ln_f = torch.nn.LayerNorm(D, eps=1e-5)
        # GPT-2's initialisation: N(0, 0.02), residual projections scaled by 1/sqrt(2·layers).
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * LAYERS) if name.endswith("proj.weight") else 0.02
                torch.nn.init.normal_(p, 0.0, std)
            elif name.endswith("bias"):
                torch.nn.init.zeros_(p)

    def forward(self, tokens):
        x = self.wte(tokens) + self.wpe(torch.arange(tokens.shape[1]))
        for block in self.h:
            x = block(x)
        return self.ln_f(x) @ self.wte.weight.T  # tied embeddings


def bits_per_byte(model, data, windows=8):
    """Mean next-byte loss in bits over `windows` evenly spaced full-context windows of `data`."""
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for start in np.linspace(0, len(data) - CONTEXT - 1, windows).astype(int):
            chunk = torch.tensor(list(data[start:start + CONTEXT + 1]))[None]
            logits = model(chunk[:, :-1])
            total += torch.nn.functional.cross_entropy(logits[0], chunk[0, 1:], reduction="sum").item()
            count += CONTEXT
    model.train()
    return total / count / math.log(2)


def save_gpt2_safetensors(model, directory, extra):
    """Hugging Face GPT-2 names and layout: Conv1D weights are stored [in, out], the transpose of nn.Linear."""
    tensors = {"wte.weight": model.wte.weight, "wpe.weight": model.wpe.weight,
               "ln_f.weight": model.ln_f.weight, "ln_f.bias": model.ln_f.bias}
    for i, block in enumerate(model.h):
        p = f"h.{i}."
        tensors.update({
            p + "ln_1.weight": block.ln_1.weight, p + "ln_1.bias": block.ln_1.bias,
            p + "attn.c_attn.weight": block.c_attn.weight.T, p + "attn.c_attn.bias": block.c_attn.bias,
            p + "attn.c_proj.weight": block.attn_proj.weight.T, p + "attn.c_proj.bias": block.attn_proj.bias,
            p + "ln_2.weight": block.ln_2.weight, p + "ln_2.bias": block.ln_2.bias,
            p + "mlp.c_fc.weight": block.c_fc.weight.T, p + "mlp.c_fc.bias": block.c_fc.bias,
            p + "mlp.c_proj.weight": block.mlp_proj.weight.T, p + "mlp.c_proj.bias": block.mlp_proj.bias,
        })
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, tensor in tensors.items():
        blob = tensor.detach().contiguous().numpy().astype("<f2").tobytes()
        header[name] = {"dtype": "F16", "shape": list(tensor.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    config = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": VOCAB, "n_embd": D,
              "n_head": HEADS, "n_layer": LAYERS, "n_positions": CONTEXT, "n_ctx": CONTEXT,
              "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new", "torch_dtype": "float16"}
    config.update(extra)
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(config, f, indent=1)


def round_to_float16(model):
    """The checkpoint stores float16: make the model in memory hold exactly those values."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.half().float())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--texts", default=os.path.join(ROOT, "..", "shared", "data", "texts"))
    parser.add_argument("--out", default=os.path.join(ROOT, "models"))
    args = parser.parse_args()
    torch.manual_seed(2604)
    torch.set_num_threads(2)
    rng = np.random.default_rng(2604)

    data = splits(args.texts)
    control = TinyGPT2()
    round_to_float16(control)
    save_gpt2_safetensors(control, os.path.join(args.out, "tiny-gpt2-random"),
                          {"attnspec_note": "random initialisation (seed 2604), the control"})

    torch.manual_seed(2604)
    model = TinyGPT2()
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3, betas=(0.9, 0.95), weight_decay=0.1)
    train = [np.frombuffer(t, dtype=np.uint8) for t, _ in data.values()]
    weights = np.array([len(t) for t in train], dtype=float)
    weights /= weights.sum()
    started = time.time()
    for step in range(args.steps):
        lr = 2e-3 * min(1.0, (step + 1) / 50) * 0.5 * (1 + math.cos(math.pi * step / args.steps))
        for group in optimiser.param_groups:
            group["lr"] = lr
        batch = []
        for _ in range(args.batch):
            book = train[rng.choice(len(train), p=weights)]
            start = rng.integers(0, len(book) - CONTEXT - 1)
            batch.append(book[start:start + CONTEXT + 1].astype(np.int64))
        batch = torch.from_numpy(np.stack(batch))
        loss = torch.nn.functional.cross_entropy(model(batch[:, :-1]).reshape(-1, VOCAB), batch[:, 1:].reshape(-1))
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        if step % 50 == 0 or step == args.steps - 1:
            print(f"step {step:4d}  loss {loss.item() / math.log(2):.3f} bits/byte  {time.time() - started:.0f} s",
                  flush=True)
    round_to_float16(model)
    held_out = {name: bits_per_byte(model, h) for name, (_, h) in data.items()}
    held_out_control = {name: bits_per_byte(control, h) for name, (_, h) in data.items()}
    summary = {"steps": args.steps, "batch": args.batch, "context": CONTEXT, "seed": 2604,
               "training_seconds": round(time.time() - started), "torch": torch.__version__,
               "held_out_bits_per_byte": held_out, "control_held_out_bits_per_byte": held_out_control}
    save_gpt2_safetensors(model, os.path.join(args.out, "tiny-gpt2-books"),
                          {"attnspec_note": "trained by scripts/train_tiny_gpt2.py on the books' first 90%"})
    with open(os.path.join(args.out, "tiny-gpt2-books", "training.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
