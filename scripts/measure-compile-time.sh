#!/usr/bin/env bash
# The compile time of a program that includes attnspec's umbrella header and computes one field's singular values,
# against the same program calling Eigen's BDCSVD once on the materialised matrix; -O2, the best of ROUNDS
# interleaved rounds each (the machine is shared), and the peak memory of the compiler. Then the attnspec probe
# again with ATTNSPEC_EXTERN_TEMPLATES (what each translation unit costs when src/instantiations.cpp, compiled
# once, holds the float and double instantiations) and that file itself.
# Usage: scripts/measure-compile-time.sh [ROUNDS] [extra compiler flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
shift || true
cxx=${CXX:-g++}
flags=(-std=c++17 -O2 -I include -I /usr/include/eigen3 "$@")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
best() { sort -g | head -1; }
for probe in attnspec_field eigen_bdcsvd; do : >"$work/$probe.times"; done
for ((round = 0; round < rounds; ++round)); do
  for probe in attnspec_field eigen_bdcsvd; do
    /usr/bin/time -f "%e %M" -o "$work/time" "$cxx" "${flags[@]}" -c "bench/compile_time/$probe.cpp" -o "$work/$probe.o"
    read -r seconds kib <"$work/time"
    echo "$seconds" >>"$work/$probe.times"
    echo "$kib" >>"$work/$probe.kib"
  done
done
ours=$(best <"$work/attnspec_field.times")
eigen=$(best <"$work/eigen_bdcsvd.times")
ours_mib=$(sort -g "$work/attnspec_field.kib" | tail -1 | awk '{printf "%.0f", $1 / 1024}')
eigen_mib=$(sort -g "$work/eigen_bdcsvd.kib" | tail -1 | awk '{printf "%.0f", $1 / 1024}')
echo "compiler: $($cxx --version | head -1); flags: ${flags[*]}"
echo "attnspec field probe: ${ours} s, ${ours_mib} MiB peak"
echo "Eigen BDCSVD probe:   ${eigen} s, ${eigen_mib} MiB peak"
awk -v a="$ours" -v b="$eigen" 'BEGIN { printf "ratio attnspec / Eigen: %.2f\n", a / b }'

/usr/bin/time -f "%e %M" -o "$work/time" "$cxx" "${flags[@]}" -DATTNSPEC_EXTERN_TEMPLATES -c bench/compile_time/attnspec_field.cpp -o "$work/extern.o"
read -r seconds kib <"$work/time"
echo "attnspec field probe with ATTNSPEC_EXTERN_TEMPLATES: ${seconds} s, $((kib / 1024)) MiB peak"
/usr/bin/time -f "%e %M" -o "$work/time" "$cxx" "${flags[@]}" -c src/instantiations.cpp -o "$work/instantiations.o"
read -r seconds kib <"$work/time"
echo "src/instantiations.cpp (float and double, once per project): ${seconds} s, $((kib / 1024)) MiB peak"
