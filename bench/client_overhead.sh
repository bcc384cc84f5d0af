#!/usr/bin/env bash
# Client overhead: assay's OpenAI-compatible client and lm-evaluation-harness's
# `local-completions`, against the same fixed-answer loopback server (it answers at
# once, so the time is the clients' own), on the same HellaSwag log-likelihood
# requests, in one run on one machine.
#
#   bench/client_overhead.sh [N_ITEMS]     (default 1000 items = 4000 requests)
#
# lm-eval runs with a local Hugging Face fast tokenizer (trained here on the items, so
# nothing is downloaded) and several concurrency settings; the best is compared.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
PORT=${PORT:-8777}
source scripts/lm-eval/env.sh
"$VENV/bin/python" -c "import transformers" 2>/dev/null || "$VENV/bin/pip" install -q transformers
cargo build --release -q -p assay
cargo build --release -q -p assay-openai --example loopback_server
target/release/examples/loopback_server "$PORT" 2> "$WORK/server.log" &
SERVER=$!
sleep 1
URL=http://127.0.0.1:$PORT/v1

now() { date +%s.%N; }
RESULTS=$WORK/times.tsv
: > "$RESULTS"

# assay: three runs, no cache (every request goes to the server).
for i in 1 2 3; do
  s=$(now)
  target/release/assay eval --model openai:fake-model --base-url "$URL" --no-cache \
    --tasks hellaswag --limit "$N" --data-dir "$DATA" --out "$WORK/assay$i" > /dev/null 2>&1
  e=$(now)
  phase=$(python3 -c "import json,glob,sys; r=json.load(open(glob.glob('$WORK/assay$i/*/results.json')[0])); print(r['run']['duration_s'])")
  echo -e "assay (adaptive, max 64 in flight)\t$(echo "$e - $s" | bc)\t$phase" >> "$RESULTS"
done
# assay with 16 prompts per request, as lm-eval's batch_size=16.
s=$(now)
target/release/assay eval --model openai:fake-model --base-url "$URL" --no-cache --prompts-per-request 16 \
  --tasks hellaswag --limit "$N" --data-dir "$DATA" --out "$WORK/assay-batched" > /dev/null 2>&1
e=$(now)
phase=$(python3 -c "import json,glob,sys; r=json.load(open(glob.glob('$WORK/assay-batched/*/results.json')[0])); print(r['run']['duration_s'])")
echo -e "assay --prompts-per-request 16\t$(echo "$e - $s" | bc)\t$phase" >> "$RESULTS"

# The same (context, continuation) pairs for lm-eval.
RUN=$(ls -d "$WORK"/assay1/*/)
export_items "$RUN/samples/hellaswag.jsonl"
"$VENV/bin/python" - "$WORK/items.jsonl" "$WORK/tok" <<'PY'
import json, sys
from tokenizers import ByteLevelBPETokenizer
from transformers import PreTrainedTokenizerFast
texts = []
for line in open(sys.argv[1]):
    r = json.loads(line)
    texts += [r["context"], *r["choices"]]
bpe = ByteLevelBPETokenizer()
bpe.train_from_iterator(texts, vocab_size=4000, show_progress=False)
PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>").save_pretrained(sys.argv[2])
PY

# num_concurrent;batch_size (prompts per HTTP request)
for config in "1;1" "8;1" "64;1" "8;16"; do
  conc=${config%;*}; batch=${config#*;}
  args="num_concurrent=$conc batch_size=$batch"
  s=$(now)
  HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false "$VENV/bin/lm_eval" --model local-completions \
    --model_args "model=fake-model,base_url=$URL/completions,tokenizer_backend=huggingface,tokenizer=$WORK/tok,num_concurrent=$conc,max_retries=3" \
    --batch_size "$batch" --tasks hellaswag_assay --include_path "$WORK" > "$WORK/lm-eval-$args.txt" 2>&1
  e=$(now)
  # The request phase: tqdm's elapsed time of "Requesting API".
  phase=$(tr '\r' '\n' < "$WORK/lm-eval-$args.txt" | grep "Requesting API: 100%" | tail -1 | sed -E 's/.*\[([0-9:]+)<.*/\1/' | awk -F: '{ if (NF == 3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  echo -e "lm-eval local-completions $args\t$(echo "$e - $s" | bc)\t$phase" >> "$RESULTS"
done

python3 - "$RESULTS" "$N" <<'PY'
import sys, statistics
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
n = int(sys.argv[2]) * 4
walls, phases = {}, {}
for name, wall, phase in rows:
    walls.setdefault(name, []).append(float(wall))
    phases.setdefault(name, []).append(float(phase or "nan"))
key = "assay (adaptive, max 64 in flight)"
aw, ap = statistics.median(walls[key]), statistics.median(phases[key])
others = [k for k in walls if k != key and k.startswith("lm-eval")]
ours = [k for k in walls if k != key and not k.startswith("lm-eval")]
best = min(others, key=lambda k: walls[k][0])
print("| client | wall time (s) | requests/s, whole run | request phase (s) |")
print("|---|---:|---:|---:|")
print(f"| assay (median of 3) | {aw:.2f} | {n / aw:.0f} | {ap:.2f} |")
for k in ours + others:
    print(f"| {k} | {walls[k][0]:.2f} | {n / walls[k][0]:.0f} | {phases[k][0]:.2f} |")
print(f"\n{n} log-likelihood requests. Wall time: assay is {walls[best][0] / aw:.1f}x faster than lm-eval's best ({best}).")
for k in ours:
    phase = f"{phases[best][0] / phases[k][0]:.1f}x" if phases[best][0] > 0 else "n/a (lm-eval's phase rounds to 0 s)"
    print(f"{k}: {walls[best][0] / walls[k][0]:.1f}x faster than lm-eval's best; request phase {phase}.")
print("Request phase: assay's whole evaluation loop (results.json duration_s); lm-eval's tqdm 'Requesting API' time (whole seconds).")
PY
