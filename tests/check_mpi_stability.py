"""stability_calculator_mpi under mpirun against stability_calculator: with 1, 2 and 3 ranks (oversubscribed on a
2-core machine), each rank computing every N-th block of rows of one head's stability pass, rank 0 prints exactly
what one process prints (the bit-for-bit merge is tested in test_softmax_stability).

    check_mpi_stability.py MPIEXEC STABILITY_CALCULATOR STABILITY_CALCULATOR_MPI
"""
import os
import subprocess
import sys

mpiexec, single, parallel = sys.argv[1:4]
# Open MPI refuses to start as root unless told to; CI machines run as root.
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")


def output(command):
    done = subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=300)
    if done.returncode != 0:
        sys.exit(f"{command} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


for head in (["300", "32", "1"], ["200", "16", "0"]):  # 5 and 4 blocks of 64 rows: uneven shares
    expected = output([single, *head])
    for n in (1, 2, 3):
        got = output([mpiexec, "--oversubscribe", "-n", str(n), parallel, *head])
        if got != expected:
            sys.exit(f"{n} ranks, head {' '.join(head)}: the output differs from one process's\n{got}\n---\n{expected}")
print("1, 2 and 3 ranks print the one-process stability table")
