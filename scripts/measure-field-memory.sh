#!/usr/bin/env bash
# Peak memory and time of one float field over a million tokens (d = 128), keeping its own copies of Q and K
# (FieldOptions::keep_factors = true) and reading them in place (false, the default), each in its own process;
# with --pipeline, of one float and one double head through analyse_model with its stability pass instead (16,384
# tokens by default).
#   bash scripts/measure-field-memory.sh [--pipeline] [tokens] [head_dim]
set -euo pipefail
cd "$(dirname "$0")/.."
settings=(keep in-place)
tokens=1048576
if [[ "${1:-}" == --pipeline ]]; then
  shift
  settings=(pipeline-float pipeline-double)
  tokens=16384
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
g++ -std=c++17 -O3 -DNDEBUG -Iinclude -I/usr/include/eigen3 -pthread scripts/field_memory.cpp -o "$scratch/field_memory"
for setting in "${settings[@]}"; do
  "$scratch/field_memory" "$setting" "${1:-$tokens}" "${2:-128}"
done
