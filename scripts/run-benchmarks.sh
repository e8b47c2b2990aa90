#!/usr/bin/env bash
# Builds attnspec_bench (Release) and runs it once into a JSON file, then prints the ratios from that run.
#   bash scripts/run-benchmarks.sh [--native] [--blas] [-- google-benchmark flags...]
# --native compiles the benchmarks with -march=native, --blas lets Eigen call OpenBLAS (libopenblas-dev);
# each configuration builds in its own directory and writes bench-<config>.json there.
set -euo pipefail
cd "$(dirname "$0")/.."
config=default
cmake_flags=()
packages=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --native) config+=-native; cmake_flags+=(-DATTNSPEC_BENCH_NATIVE=ON); shift ;;
    --blas) config+=-blas; cmake_flags+=(-DATTNSPEC_BENCH_BLAS=ON); packages+=(libopenblas-dev); shift ;;
    --) shift; break ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
build="build-bench-${config}"
bash scripts/install-deps.sh "${packages[@]}"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DATTNSPEC_BUILD_TESTS=OFF -DATTNSPEC_BUILD_EXAMPLES=OFF \
  "${cmake_flags[@]}" >/dev/null
cmake --build "$build" -j"$(nproc)" --target attnspec_bench
# One BLAS thread, like Eigen's own kernels here, so the ratios compare like with like.
OPENBLAS_NUM_THREADS=1 "$build/bench/attnspec_bench" --benchmark_out="$build/bench-${config}.json" --benchmark_out_format=json "$@"
/usr/bin/python3 bench/ratios.py "$build/bench-${config}.json"
