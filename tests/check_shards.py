"""analyse_checkpoint --shard I/N and merge_reports against one run: the merged report set equals the one-run set
file for file, byte for byte, for N = 1, 3 and 8 (one unit per shard); a missing, repeated or foreign shard and
a damaged report are refused with nothing written.

    check_shards.py ANALYSE_CHECKPOINT MERGE_REPORTS CHECKPOINT DUMP WORKDIR
"""
import os
import shutil
import subprocess
import sys

analyse, merge, checkpoint, dump, work = sys.argv[1:6]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
FILES = ["report.json", "heads.csv", "spectra.svg", "summary.txt"]


def run(*command, expect=0):
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != expect:
        sys.exit(f"{command} exited {done.returncode}, expected {expect}:\n{done.stdout}\n{done.stderr}")
    return done.stdout + done.stderr


def read(folder, name):
    with open(os.path.join(folder, name), "rb") as f:
        return f.read()


whole = os.path.join(work, "whole")
run(analyse, checkpoint, "--dump", dump, "--out", whole, "--threads", "2")
for count in (1, 3, 8):
    shards = [os.path.join(work, f"n{count}_shard{i}") for i in range(count)]
    for index, folder in enumerate(shards):
        run(analyse, checkpoint, "--dump", dump, f"--shard={index}/{count}", "--out", folder, "--threads", "2")
    merged = os.path.join(work, f"merged{count}")
    run(merge, "--out", merged, *reversed(shards))
    for name in FILES:
        if read(merged, name) != read(whole, name):
            sys.exit(f"merging {count} shards: {name} differs from the one-run report")
print("1, 3 and 8 shards merge into the one-run report set, byte for byte")

shards = [os.path.join(work, f"n3_shard{i}") for i in range(3)]
foreign = os.path.join(work, "foreign")
run(analyse, checkpoint, "--dump", dump, "--shard", "1/3", "--tau", "0.8", "--out", foreign)
damaged = os.path.join(work, "damaged")
shutil.copytree(shards[2], damaged)
with open(os.path.join(damaged, "report.json"), "r+b") as f:
    f.truncate(os.path.getsize(os.path.join(damaged, "report.json")) // 2)
refusals = [
    ([shards[0], shards[1]], "is one of 3 shards, but 2 reports were given"),
    ([shards[0], shards[1], shards[1]], "repeats shard 1/3"),
    ([shards[0], foreign, shards[2]], "comes from another analysis"),
    ([shards[0], shards[1], damaged], "damaged/report.json"),
    ([whole, shards[1], shards[2]], "is not a shard's report"),
]
for inputs, message in refusals:
    out = os.path.join(work, "refused")
    text = run(merge, "--out", out, *inputs, expect=1)
    if message not in text:
        sys.exit(f"merging {inputs}: expected '{message}' in:\n{text}")
    if os.path.exists(out):
        sys.exit(f"merging {inputs} was refused but wrote {out}")
print(f"{len(refusals)} bad shard sets refused by name, nothing written")
text = run(analyse, checkpoint, "--shard", "3/3", expect=2)
if "--shard takes I/N with 0 <= I < N, not '3/3'" not in text:
    sys.exit(f"--shard 3/3 was not refused as a usage error:\n{text}")
