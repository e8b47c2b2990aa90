#!/usr/bin/env bash
# The accurate field against the two-GEMM floor as a user compiles it: installs the headers into a scratch
# prefix, compiles scripts/speed_check.cpp with g++ -O3 -DNDEBUG (and again with -march=native) and prints the
# ratios. Timings, so run it on an idle machine; nothing here asserts a speed.
#   bash scripts/speed-check.sh [repeats]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cmake -S . -B "$scratch/build" -DATTNSPEC_BUILD_TESTS=OFF -DATTNSPEC_BUILD_EXAMPLES=OFF -DATTNSPEC_BUILD_BENCHMARKS=OFF \
  -DATTNSPEC_BUILD_PYTHON=OFF -DCMAKE_INSTALL_PREFIX="$scratch/prefix" >/dev/null
cmake --install "$scratch/build" >/dev/null
for flags in "-O3 -DNDEBUG" "-O3 -DNDEBUG -march=native"; do
  echo "== g++ $flags"
  # shellcheck disable=SC2086  # the flags are words
  g++ -std=c++17 $flags -I"$scratch/prefix/include" -I/usr/include/eigen3 scripts/speed_check.cpp -o "$scratch/check"
  "$scratch/check" "${1:-15}"
done
