#!/usr/bin/env bash
# The main job: install what is missing, build, and print the field-versus-weights table.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${ATTNSPEC_BUILD_DIR:-build}"
bash scripts/configure.sh
cmake --build "$build" --target synthetic_heads -j"$(nproc)"
"$build/examples/synthetic_heads"
