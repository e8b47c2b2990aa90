"""What the training scripts of the shipped byte-level models share: the books' train/held-out split, the
training recipe, the held-out loss, rounding to the stored precision and the safetensors writer.

Imported by scripts/train_tiny_gpt2.py and scripts/train_tiny_llama.py; runs on /usr/bin/python3 with Debian's
python3-torch and python3-numpy.
"""
import argparse
import json
import math
import os
import struct
import time

import numpy as np
import torch

BOOKS = ["mobydick-pg2701.txt", "sherlock-pg1661.txt", "kjv-genesis-exodus.txt"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEXTS = os.path.join(ROOT, "..", "shared", "data", "texts")
VOCAB = 256  # bytes


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


def bits_per_byte(model, data, context, windows=8):
    """Mean next-byte loss in bits over `windows` evenly spaced full-context windows of `data`."""
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for start in np.linspace(0, len(data) - context - 1, windows).astype(int):
            chunk = torch.tensor(list(data[start:start + context + 1]))[None]
            logits = model(chunk[:, :-1])
            total += torch.nn.functional.cross_entropy(logits[0], chunk[0, 1:], reduction="sum").item()
            count += context
    model.train()
    return total / count / math.log(2)


def train(model, data, rng, steps, batch, context, on_step=None, weight_decay=0.1):
    """The shipped models' recipe: AdamW (lr 2e-3, betas 0.9/0.95, weight decay 0.1), 50 warm-up steps then a
    cosine decay, gradients clipped at 1, `batch` random full-context windows per step drawn from the books in
    proportion to their length. `on_step(step, model)`, if given, runs before each step."""
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3, betas=(0.9, 0.95), weight_decay=weight_decay)
    books = [np.frombuffer(t, dtype=np.uint8) for t, _ in data.values()]
    weights = np.array([len(t) for t in books], dtype=float)
    weights /= weights.sum()
    started = time.time()
    for step in range(steps):
        if on_step is not None:
            on_step(step, model)
        lr = 2e-3 * min(1.0, (step + 1) / 50) * 0.5 * (1 + math.cos(math.pi * step / steps))
        for group in optimiser.param_groups:
            group["lr"] = lr
        windows = []
        for _ in range(batch):
            book = books[rng.choice(len(books), p=weights)]
            start = rng.integers(0, len(book) - context - 1)
            windows.append(book[start:start + context + 1].astype(np.int64))
        windows = torch.from_numpy(np.stack(windows))
        logits = model(windows[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), windows[:, 1:].reshape(-1))
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        if step % 50 == 0 or step == steps - 1:
            print(f"step {step:4d}  loss {loss.item() / math.log(2):.3f} bits/byte  {time.time() - started:.0f} s",
                  flush=True)
    return time.time() - started


def round_parameters(model, dtype):
    """The checkpoint stores `dtype` (torch.float16 or torch.bfloat16): make the model in memory hold exactly
    those values."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(dtype).float())


SAFETENSORS_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}


def tensor_bytes(tensor, dtype):
    """Little-endian bytes of `tensor` stored as `dtype`."""
    stored = tensor.detach().contiguous().to(dtype)
    if dtype == torch.bfloat16:  # numpy has no bfloat16: reinterpret the 16-bit patterns
        return stored.view(torch.int16).numpy().astype("<i2").tobytes()
    return stored.numpy().astype(stored.numpy().dtype.newbyteorder("<")).tobytes()


def write_safetensors(path, tensors, dtype=torch.float32, metadata=None):
    """The safetensors format: 8-byte little-endian header length, JSON header (padded with spaces to 8 bytes),
    the tensors' raw bytes in header order. `tensors` maps names to torch tensors, all stored as `dtype`."""
    header, blobs, offset = {"__metadata__": metadata or {"format": "pt"}}, [], 0
    for name, tensor in tensors.items():
        blob = tensor_bytes(tensor, dtype)
        header[name] = {"dtype": SAFETENSORS_DTYPES[dtype], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def write_checkpoint(directory, tensors, config, dtype):
    """model.safetensors and config.json in `directory`."""
    write_safetensors(os.path.join(directory, "model.safetensors"), tensors, dtype)
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(config, f, indent=1)


def train_and_write(make_model, save, dtype, context, names, script, steps=800):
    """The command line of both training scripts: writes the random-initialisation control of `make_model()`
    (seed 2604) to models/<names[1]>, trains the same initialisation on the books (seed 2604, 2 threads), writes it
    to models/<names[0]> with training.json (held-out loss in bits per byte of both); `steps` is the default length. `save(model, directory,
    extra_config)` writes one checkpoint; parameters are rounded to `dtype`, the stored precision, first."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=steps)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--texts", default=TEXTS)
    parser.add_argument("--out", default=os.path.join(ROOT, "models"))
    args = parser.parse_args()
    torch.manual_seed(2604)
    torch.set_num_threads(2)
    rng = np.random.default_rng(2604)

    data = splits(args.texts)
    control = make_model()
    round_parameters(control, dtype)
    save(control, os.path.join(args.out, names[1]), {"attnspec_note": "random initialisation (seed 2604), the control"})

    torch.manual_seed(2604)
    model = make_model()
    seconds = train(model, data, rng, args.steps, args.batch, context)
    round_parameters(model, dtype)
    held_out = {name: bits_per_byte(model, h, context) for name, (_, h) in data.items()}
    held_out_control = {name: bits_per_byte(control, h, context) for name, (_, h) in data.items()}
    summary = {"steps": args.steps, "batch": args.batch, "context": context, "seed": 2604,
               "training_seconds": round(seconds), "torch": torch.__version__,
               "held_out_bits_per_byte": held_out, "control_held_out_bits_per_byte": held_out_control}
    save(model, os.path.join(args.out, names[0]),
         {"attnspec_note": f"trained by scripts/{script} on the books' first 90%"})
    with open(os.path.join(args.out, names[0], "training.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps(summary, indent=1))
