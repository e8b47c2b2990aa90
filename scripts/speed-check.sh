#!/usr/bin/env bash
# The accurate field against the two-GEMM floor as a user compiles it: installs the headers into a scratch
# prefix, compiles scripts/speed_check.cpp with g++ -O3 -DNDEBUG (and again with -march=native) and prints the
# ratios. Timings, so run it on an idle machine; nothing here asserts a speed.
# A third build lets Eigen call OpenBLAS and compares its singular values with the plain build's; the native build also
# runs once with the C library keeping freed memory, which takes page faults out of the floor.
#   bash scripts/speed-check.sh [repeats]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh libopenblas-dev  # the third build links Eigen to OpenBLAS
repeats=${1:-15}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cmake -S . -B "$scratch/build" -DATTNSPEC_BUILD_TESTS=OFF -DATTNSPEC_BUILD_EXAMPLES=OFF -DATTNSPEC_BUILD_BENCHMARKS=OFF \
  -DATTNSPEC_BUILD_PYTHON=OFF -DCMAKE_INSTALL_PREFIX="$scratch/prefix" >/dev/null
cmake --install "$scratch/build" >/dev/null
build() {  # name, then compiler and linker flags
  local name=$1
  shift
  g++ -std=c++17 -I"$scratch/prefix/include" -I/usr/include/eigen3 scripts/speed_check.cpp "$@" -o "$scratch/$name"
}
compare() {  # two build names: are their singular values the same bits, and if not, how far apart?
  if cmp -s "$scratch/$1.values" "$scratch/$2.values"; then
    echo "$2 against $1: every singular value identical"
    return
  fi
  echo "$2 against $1: largest |difference| / sigma_1 per field:"
  paste -d'\n' "$scratch/$1.values" "$scratch/$2.values" | /usr/bin/python3 -c '
import sys
lines = sys.stdin.read().splitlines()
for first, second in zip(lines[0::2], lines[1::2]):
    label, a = first.split(":")
    a, b = [float(x) for x in a.split()], [float(x) for x in second.split(":")[1].split()]
    print(f"  {label}: {max(abs(x - y) for x, y in zip(a, b)) / a[0]:.1e}")'
}
build plain -O3 -DNDEBUG
build native -O3 -DNDEBUG -march=native
for name in plain native; do
  echo "== $name"
  "$scratch/$name" "$repeats" "$scratch/$name.values"
done
compare plain native
# The same native build with the C library told to keep freed memory (glibc tunables): no buffer is handed back to
# the system, so nothing page-faults afresh and the floor is the products' arithmetic. Without this, Eigen's GEMM in
# the floor can fault on every call (its packing buffers), which on a virtual machine costs more than the products.
echo "== native, freed memory kept by the C library"
MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=4294967296 "$scratch/native" "$repeats" /dev/null
# Eigen on OpenBLAS, single-threaded like the plain build.
build blas -O3 -DNDEBUG -DEIGEN_USE_BLAS -lopenblas
echo "== blas (OPENBLAS_NUM_THREADS=1)"
OPENBLAS_NUM_THREADS=1 "$scratch/blas" "$repeats" "$scratch/blas.values"
compare plain blas
