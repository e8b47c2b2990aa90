#!/usr/bin/env bash
# Fails when a tracked C++ file differs from what clang-format (.clang-format: Google style, 120 columns) makes of it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh clang-format
git ls-files '*.cpp' '*.hpp' | xargs clang-format --dry-run -Werror
echo "clang-format: $(git ls-files "*.cpp" "*.hpp" | wc -l) files as clang-format would write them"
