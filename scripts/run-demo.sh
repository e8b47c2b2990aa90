#!/usr/bin/env bash
# The main job: install what is missing, build, then run the shipped small GPT-2 (trained on public-domain
# books) and its random-initialisation control over held-out text from each book, and print the paper's table.
# Writes report.json, heads.csv and spectra_<model>.svg to ${ATTNSPEC_OUT:-attnspec-out}.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${ATTNSPEC_BUILD_DIR:-build}"
bash scripts/configure.sh
cmake --build "$build" --target paper_table -j"$(nproc)"
"$build/examples/paper_table" \
  --model trained=models/tiny-gpt2-books --model control=models/tiny-gpt2-random \
  --text data/heldout/mobydick.txt --text data/heldout/sherlock.txt --text data/heldout/kjv-genesis-exodus.txt \
  --tokens 512,1024 --out "${ATTNSPEC_OUT:-attnspec-out}"
