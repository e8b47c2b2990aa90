"""Mutates a small safetensors checkpoint a few hundred ways (bytes in the header and its length, digits in the
JSON, truncation) and runs analyse_checkpoint on each: every run must end with exit code 0 or with exit code 1
and an attnspec error message — never a crash, a hang or another exit.

Usage: mutated_checkpoints.py ANALYSE_CHECKPOINT CHECKPOINT_DIR WORK_DIR [COUNT]
"""
import os
import random
import shutil
import subprocess
import sys

program, checkpoint, work = sys.argv[1], sys.argv[2], sys.argv[3]
count = int(sys.argv[4]) if len(sys.argv) > 4 else 300
random.seed(2604)
original = open(os.path.join(checkpoint, "model.safetensors"), "rb").read()
header_end = 8 + int.from_bytes(original[:8], "little")
os.makedirs(work, exist_ok=True)
shutil.copy(os.path.join(checkpoint, "config.json"), os.path.join(work, "config.json"))
outcomes = {}
for case in range(count):
    data = bytearray(original)
    kind = case % 4
    if kind == 0:
        for _ in range(random.randint(1, 4)):
            data[random.randrange(header_end)] = random.randrange(256)
    elif kind == 1:
        data = data[:random.randrange(len(data))]
    elif kind == 2:
        digits = [i for i in range(8, header_end) if chr(data[i]).isdigit()]
        data[random.choice(digits)] = ord(random.choice("0123456789"))
    else:
        data[random.randrange(8)] = random.randrange(256)
    with open(os.path.join(work, "model.safetensors"), "wb") as f:
        f.write(data)
    run = subprocess.run([program, work, "--no-stability"], capture_output=True, timeout=60)
    outcomes[run.returncode] = outcomes.get(run.returncode, 0) + 1
    message = run.stderr.decode(errors="replace")
    if run.returncode not in (0, 1) or (run.returncode == 1 and "analyse_checkpoint: [attnspec." not in message):
        sys.exit(f"case {case} (kind {kind}): exit {run.returncode}: {message[-500:]}")
print(f"{count} mutated checkpoints: exit codes {outcomes}, every failure an attnspec error")
