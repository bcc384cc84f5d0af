#!/usr/bin/env bash
# Speed of assay's embedded model against llama.cpp, same GGUF, same HellaSwag items,
# same threads, one run. Benchmark only (never run by CI). Needs llama.cpp:
#   python3 -m venv /tmp/lcpp && /tmp/lcpp/bin/pip install llama-cpp-python cmake numpy
#   (and llama-perplexity built from the sdist's vendor/llama.cpp; see BENCHMARKS.md)
# Usage: bench/run.sh ITEMS THREADS PYTHON LLAMA_PERPLEXITY_BIN [DATA_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
items=${1:-200}; threads=${2:-2}; python=${3:-python3}; perplexity=${4:-llama-perplexity}
data=${5:-../shared/data}
cargo build --release -p assay --example speed --quiet
model=$(target/release/assay fetch 2>&1 | sed -n 's/^model `default`: //p')
assay_json=$(target/release/examples/speed "$data" "$items" "$threads")
llama_json=$("$python" bench/llamacpp_speed.py "$model" "$data/hellaswag/hellaswag_val_full.txt" "$items" "$threads" "$perplexity")
echo "$assay_json"
echo "$llama_json"
"$python" - "$assay_json" "$llama_json" <<'PY'
import json, os, sys
a, l = json.loads(sys.argv[1]), json.loads(sys.argv[2])
mhz = max(float(x.split(":")[1]) for x in open("/proc/cpuinfo") if x.startswith("cpu MHz"))
# Two 256-bit FMA pipes per core (AMD Zen 4 runs AVX-512 through the same two pipes):
# 2 pipes x 8 f32 lanes x 2 FLOP = 32 FLOP per cycle per core.
peak = a["threads"] * mhz / 1000 * 32
gflops = a["tokens_per_s"] * 0.27
print(f"\n| measure ({a['items']} HellaSwag items, {a['threads']} threads) | assay | llama.cpp | ratio |")
print("|---|---:|---:|---:|")
print(f"| items/s vs per-choice scoring | {a['items_per_s']:.2f} | {l['per_choice_items_per_s']:.2f} | {a['items_per_s']/l['per_choice_items_per_s']:.2f}x |")
print(f"| items/s vs llama-perplexity --hellaswag | {a['items_per_s']:.2f} | {l['best_items_per_s']:.2f} | {a['items_per_s']/l['best_items_per_s']:.2f}x |")
print(f"| decode tokens/s | {a['decode_tokens_per_s']:.1f} | {l['decode_tokens_per_s']:.1f} | {a['decode_tokens_per_s']/l['decode_tokens_per_s']:.2f}x |")
print(f"| prompt tokens/s ({a['prompt_tokens']} tokens) | {a['prefill_tokens_per_s']:.0f} | {l['prefill_tokens_per_s']:.0f} | {a['prefill_tokens_per_s']/l['prefill_tokens_per_s']:.2f}x |")
print(f"\nassay scoring: {a['tokens_per_s']:.0f} useful tokens/s x 0.27 GFLOP = {gflops:.0f} GFLOP/s, "
      f"{100*gflops/peak:.0f}% of a {peak:.0f} GFLOP/s f32 peak ({a['threads']} cores x {mhz:.0f} MHz x 32 FLOP/cycle)")
print(f"accuracy on these items: assay acc {a['acc']:.3f}; llama.cpp per-choice acc {l['per_choice_acc']:.3f}; llama-perplexity acc_norm {l['best_acc_norm_percent']}%")
PY
