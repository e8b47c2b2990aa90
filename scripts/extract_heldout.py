"""Writes the held-out excerpts the demo reads: from each book's held-out last 10% (scripts/tiny_models.py
trains both shipped models on the rest), 4,096 bytes starting at a paragraph, to data/heldout/. Longer excerpts,
for real tokenizers that pack several bytes into a token, go elsewhere with --bytes and --out.

    /usr/bin/python3 scripts/extract_heldout.py [--texts ../shared/data/texts] [--bytes 4096] [--out data/heldout]
"""
import argparse
import os

from tiny_models import ROOT, TEXTS, splits

NAMES = {"mobydick-pg2701.txt": "mobydick", "sherlock-pg1661.txt": "sherlock",
         "kjv-genesis-exodus.txt": "kjv-genesis-exodus"}

parser = argparse.ArgumentParser()
parser.add_argument("--texts", default=TEXTS)
parser.add_argument("--bytes", type=int, default=4096)
parser.add_argument("--out", default=os.path.join(ROOT, "data", "heldout"))
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)
for book, (_, held_out) in splits(args.texts).items():
    start = held_out.find(b"\n\n") + 2 if b"\n\n" in held_out[:20000] else held_out.find(b"\n") + 1
    excerpt = held_out[start:start + args.bytes]
    with open(os.path.join(args.out, NAMES[book] + ".txt"), "wb") as f:
        f.write(excerpt)
    print(f"{NAMES[book]}: {len(excerpt)} bytes from held-out offset {start}")
