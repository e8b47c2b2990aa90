"""analyse_checkpoint_mpi under mpirun against one process: with 1, 2 and 3 ranks (oversubscribed on a 2-core
machine), splitting the units or (--split-stability) every head's stability pass, the report set is the one-process
set, file for file, byte for byte; a rank that fails ends the job with the failing unit named and no report; a
rank that is killed ends the job with no report; an unusable --out is refused before any rank analyses.

    check_mpi.py MPIEXEC ANALYSE_CHECKPOINT ANALYSE_CHECKPOINT_MPI CHECKPOINT DUMP WORKDIR
"""
import os
import shutil
import subprocess
import sys

import numpy as np

mpiexec, single, parallel, checkpoint, dump, work = sys.argv[1:7]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
FILES = ["report.json", "heads.csv", "spectra.svg", "summary.txt"]
# Open MPI refuses to start as root unless told to; CI machines run as root.
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")


def run(command, expect_success=True):
    done = subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=300)
    if (done.returncode == 0) != expect_success:
        sys.exit(f"{command} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout + done.stderr


def ranks(n, *arguments):
    return [mpiexec, "--oversubscribe", "-n", str(n), parallel, checkpoint, *arguments, "--threads", "1"]


one = os.path.join(work, "one")
run([single, checkpoint, "--dump", dump, "--out", one, "--threads", "1"])


def same_report_set(out, reference, what):
    for name in FILES:
        if open(os.path.join(out, name), "rb").read() != open(os.path.join(reference, name), "rb").read():
            sys.exit(f"{what}: {name} differs from the one-process report")


for n in (1, 2, 3):
    out = os.path.join(work, f"ranks{n}")
    run(ranks(n, "--dump", dump, "--out", out))
    same_report_set(out, one, f"{n} ranks")
print("1, 2 and 3 ranks write the one-process report set, byte for byte")

# A longer context (the fixture's 40 tokens five times over, perturbed): 200 query rows are four blocks of the
# stability pass, so splitting each head's pass gives every rank blocks to compute.
long_dump = os.path.join(work, "long_dump")
os.makedirs(long_dump)
noise = np.random.default_rng(17)
for name in sorted(os.listdir(dump)):
    rows = np.load(os.path.join(dump, name))
    longer = np.concatenate([rows + 0.01 * noise.standard_normal(rows.shape).astype(rows.dtype) for _ in range(5)])
    np.save(os.path.join(long_dump, name), longer)
one_long = os.path.join(work, "one_long")
run([single, checkpoint, "--dump", long_dump, "--out", one_long, "--threads", "1"])
for n in (2, 3):
    out = os.path.join(work, f"ranks{n}_split")
    run(ranks(n, "--dump", long_dump, "--out", out, "--split-stability"))
    same_report_set(out, one_long, f"{n} ranks, each stability pass split")
print("2 and 3 ranks splitting every head's stability pass write the one-process report set, byte for byte")

# Unit 6 (layer 1, head 2) gets a NaN; with 3 ranks it is rank 0's (units 0, 3, 6).
bad = os.path.join(work, "bad_dump")
shutil.copytree(dump, bad)
queries = np.load(os.path.join(bad, "layers.1.query.npy"))
head_dim = queries.shape[1] // 4
queries[3, 2 * head_dim + 1] = np.nan
np.save(os.path.join(bad, "layers.1.query.npy"), queries)
failed_out = os.path.join(work, "failed")
text = run(ranks(3, "--dump", bad, "--out", failed_out), expect_success=False)
if "rank 0 of 3 failed" not in text or "(layer 1, head 2)" not in text or "is not finite" not in text:
    sys.exit(f"the failing rank was not named with its unit:\n{text}")
if os.path.exists(failed_out):
    sys.exit("a failed run wrote a report")
text = run(ranks(2, "--dump", bad, "--out", failed_out, "--split-stability"), expect_success=False)
if "of 2 failed" not in text or "(layer 1, head 2)" not in text or os.path.exists(failed_out):
    sys.exit(f"with split stability passes, a failing rank did not end the job naming its unit:\n{text}")
print("a failing rank ends the job, naming its unit; no report")

# Rank 1 is killed (SIGKILL) as it starts: mpirun ends the job, and rank 0, which alone writes, writes nothing.
killed_out = os.path.join(work, "killed")
kill_rank_1 = 'if [ "$OMPI_COMM_WORLD_RANK" = 1 ]; then kill -9 $$; fi; exec "$0" "$@"'
text = run([mpiexec, "--oversubscribe", "-n", "2", "sh", "-c", kill_rank_1, parallel, checkpoint, "--dump", dump,
            "--out", killed_out, "--threads", "1"], expect_success=False)
# mpirun reports it as a signal or as a non-zero exit, depending on when it notices; either way the job ends.
if not ("signal 9" in text or "non-zero" in text) or os.path.exists(killed_out):
    sys.exit(f"a killed rank did not end the job without a report:\n{text}")
print("a killed rank ends the job; no report")

not_a_folder = os.path.join(work, "file")
open(not_a_folder, "w").write("x")
text = run(ranks(2, "--dump", dump, "--out", not_a_folder), expect_success=False)
if "exists and is not a directory" not in text or "heads (" in text:
    sys.exit(f"an unusable --out was not refused before the analysis:\n{text}")
print("an unusable --out is refused before any rank starts")
