#!/usr/bin/env bash
# The main job: install what is missing, build, print the field-versus-weights table and the stability table.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${ATTNSPEC_BUILD_DIR:-build}"
bash scripts/configure.sh
cmake --build "$build" --target synthetic_heads stability_calculator -j"$(nproc)"
"$build/examples/synthetic_heads"
echo
"$build/examples/stability_calculator"
