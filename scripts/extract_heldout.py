"""Writes the held-out excerpts the demo reads: from each book's held-out last 10% (scripts/tiny_models.py
trains both shipped models on the rest), 4,096 bytes starting at a paragraph, to data/heldout/.

    /usr/bin/python3 scripts/extract_heldout.py [--texts ../shared/data/texts]
"""
import argparse
import os

from tiny_models import ROOT, splits

NAMES = {"mobydick-pg2701.txt": "mobydick", "sherlock-pg1661.txt": "sherlock",
         "kjv-genesis-exodus.txt": "kjv-genesis-exodus"}
EXCERPT = 4096

parser = argparse.ArgumentParser()
parser.add_argument("--texts", default=os.path.join(ROOT, "..", "shared", "data", "texts"))
args = parser.parse_args()
os.makedirs(os.path.join(ROOT, "data", "heldout"), exist_ok=True)
for book, (_, held_out) in splits(args.texts).items():
    start = held_out.find(b"\n\n") + 2 if b"\n\n" in held_out[:20000] else held_out.find(b"\n") + 1
    excerpt = held_out[start:start + EXCERPT]
    with open(os.path.join(ROOT, "data", "heldout", NAMES[book] + ".txt"), "wb") as f:
        f.write(excerpt)
    print(f"{NAMES[book]}: {len(excerpt)} bytes from held-out offset {start}")
