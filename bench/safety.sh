#!/usr/bin/env bash
# XSTest (450 prompts, greedy, up to 256 tokens, string-match grader) on the embedded
# default model with `assay eval`, against the same generations through llama.cpp's
# server driven by a Python client with 32 requests in flight (bench/xstest_llamacpp.py),
# same GGUF, same threads, one run (benchmark only; never run by CI). The server is
# started and warmed before its clock starts; assay's time is the whole command,
# model loading included. Then AdvBench (520 prompts) with assay alone, for the rates.
# Usage: bench/safety.sh LLAMA_CPP_BIN_DIR DATA_DIR [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$1; data=$2; threads=${3:-2}
export LD_LIBRARY_PATH=$bin
cargo build --release -p assay --quiet
out=$(mktemp -d)
model=$(target/release/assay fetch default 2>&1 | sed -n 's/^model `default`: //p')
start=$(date +%s.%N)
target/release/assay eval --tasks xstest --data-dir "$data" --out "$out/xstest" --threads "$threads" --format json > "$out/xstest.json"
end=$(date +%s.%N)
python3 - "$out/xstest.json" "$start" "$end" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
m = {x["name"]: x for x in r["results"][0]["metrics"]}
print(json.dumps({"assay": {"wall_s": float(sys.argv[3]) - float(sys.argv[2]),
      **{k: [v["value"], v["ci_low"], v["ci_high"]] for k, v in m.items()}}}))
PY
"$bin/llama-server" -m "$model" -t "$threads" --parallel 32 -cb -c 16384 --port 8413 --log-disable >/dev/null 2>&1 &
server=$!
until curl -sf http://127.0.0.1:8413/health >/dev/null; do sleep 1; done
curl -sf http://127.0.0.1:8413/v1/chat/completions -H 'Content-Type: application/json' \
  -d '{"messages":[{"role":"user","content":"Hi"}],"max_tokens":4}' >/dev/null
echo "{\"llama.cpp\": $(python3 bench/xstest_llamacpp.py http://127.0.0.1:8413/v1 smollm2 "$data/xstest/xstest_prompts.csv" 32)}"
kill $server; wait $server 2>/dev/null || true
target/release/assay eval --tasks advbench --data-dir "$data" --out "$out/advbench" --threads "$threads" --format csv
rm -rf "$out"
