#!/usr/bin/env bash
# The whole test suite again, built by clang 14 with AddressSanitizer + UndefinedBehaviorSanitizer and
# -Wall -Wextra -Wpedantic -Wconversion -Werror, plus a bounded run of each libFuzzer target
# (CMakePresets.json, preset "sanitize"; ATTNSPEC_FUZZ_SECONDS=<n> changes the fuzzing time, 60 s by default).
# Left out (tests/CMakeLists.txt, CMakePresets.json): the packaging checks, which build separate downstream projects
# that the sanitizer flags do not reach; the OpenMP copy of the pipeline tests (the same code as test_pipeline); the
# Python module (an instrumented extension needs the sanitizer runtime preloaded into the interpreter); and the
# benchmarks, which no test runs (the main build compiles them with strict warnings).
# The MPI programs run with leak checking off (Open MPI's libraries keep memory until exit; examples/CMakeLists.txt).
# docs/reliability.md says what this covers and what it found.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh clang libclang-rt-14-dev libomp-14-dev
cmake --preset sanitize -DATTNSPEC_FUZZ_SECONDS="${ATTNSPEC_FUZZ_SECONDS:-60}" >/dev/null
cmake --build build-sanitize -j"$(nproc)"
ctest --preset sanitize
