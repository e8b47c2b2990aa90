#!/usr/bin/env bash
# Peak memory and time of one float field over a million tokens (d = 128), keeping its own copies of Q and K
# (FieldOptions::keep_factors = true, the default) and reading them in place (false), each in its own process.
#   bash scripts/measure-field-memory.sh [tokens] [head_dim]
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
g++ -std=c++17 -O3 -DNDEBUG -Iinclude -I/usr/include/eigen3 -pthread scripts/field_memory.cpp -o "$scratch/field_memory"
for setting in keep in-place; do
  "$scratch/field_memory" "$setting" "${1:-1048576}" "${2:-128}"
done
