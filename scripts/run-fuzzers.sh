#!/usr/bin/env bash
# The libFuzzer targets alone, for a longer run: bash scripts/run-fuzzers.sh [SECONDS [TARGET...]]
# (600 s, all of safetensors npy config field by default). Builds them as scripts/run-sanitizers.sh does (clang 14,
# ASan + UBSan, CMakePresets.json preset "sanitize"), then fuzzes each target's seed corpus for SECONDS, two
# targets at a time, and prints each run's figures.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
shift || true
targets=("${@:-safetensors npy config field}")
selection="^fuzz_($(echo ${targets[*]} | tr ' ' '|'))\$"
bash scripts/install-deps.sh clang libclang-rt-14-dev libomp-14-dev
cmake --preset sanitize -DATTNSPEC_FUZZ_SECONDS="$seconds" >/dev/null
cmake --build build-sanitize -j"$(nproc)" --target fuzz_safetensors fuzz_npy fuzz_config fuzz_field
ctest --preset sanitize -R "$selection" -V | grep -E '^[0-9]+: (-- fuzz_|  #|  stat::)|tests passed|FAILED|Failed'
