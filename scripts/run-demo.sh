#!/usr/bin/env bash
# The main job: install what is missing, build, then run the shipped small GPT-2 and Llama-style models (trained
# on public-domain books) and their random-initialisation controls over held-out text from each book, and print
# the paper's table, with the Llama-style models' queries and keys before and after the rotary embedding and the
# causal field beside the full one. Writes report.json, heads.csv and spectra_<model>[_pre_rope].svg to
# ${ATTNSPEC_OUT:-attnspec-out}.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${ATTNSPEC_BUILD_DIR:-build}"
bash scripts/configure.sh
cmake --build "$build" --target paper_table -j"$(nproc)"
"$build/examples/paper_table" \
  --model gpt2-trained=models/tiny-gpt2-books --model gpt2-control=models/tiny-gpt2-random \
  --model llama-trained=models/tiny-llama-books --model llama-control=models/tiny-llama-random \
  --text data/heldout/mobydick.txt --text data/heldout/sherlock.txt --text data/heldout/kjv-genesis-exodus.txt \
  --tokens 512,1024 --causal-field --out "${ATTNSPEC_OUT:-attnspec-out}"
