#!/usr/bin/env bash
# The whole test suite: install what is missing, build everything (tests, examples, benchmarks), run ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${ATTNSPEC_BUILD_DIR:-build}"
bash scripts/configure.sh -DATTNSPEC_WARNINGS_AS_ERRORS=ON
cmake --build "$build" -j"$(nproc)"
ctest --test-dir "$build" --output-on-failure -j"$(nproc)"
