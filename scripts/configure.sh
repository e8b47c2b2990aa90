#!/usr/bin/env bash
# Installs what is missing, then configures a Release build of attnspec in ${ATTNSPEC_BUILD_DIR:-build}.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B "${ATTNSPEC_BUILD_DIR:-build}" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
