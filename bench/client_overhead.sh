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
DATA=${ASSAY_DATA_DIR:-../shared/data}
CACHE=${ASSAY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/assay}
VENV=$CACHE/venvs/lm-eval-0.4.13
PORT=${PORT:-8777}
WORK=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT

if [ ! -x "$VENV/bin/lm_eval" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "lm-eval[api]==0.4.13"
fi
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
    --tasks hellaswag --limit "$N" --data-dir "$DATA" --output "$WORK/assay$i" > /dev/null 2>&1
  e=$(now)
  echo -e "assay (adaptive, max 64 in flight)\t$(echo "$e - $s" | bc)" >> "$RESULTS"
done

# The same (context, continuation) pairs for lm-eval.
RUN=$(ls -d "$WORK"/assay1/*/)
python3 - "$RUN/samples/hellaswag.jsonl" "$WORK/items.jsonl" <<'PY'
import json, sys
with open(sys.argv[2], "w") as out:
    for line in open(sys.argv[1]):
        r = json.loads(line)
        out.write(json.dumps({"context": r["prompt"], "choices": r["requests"], "gold": r["target"]["index"]}) + "\n")
PY
sed "s#ITEMS_JSONL#$WORK/items.jsonl#" scripts/lm-eval/hellaswag_assay.yaml > "$WORK/hellaswag_assay.yaml"
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

for conc in 1 8 64; do
  s=$(now)
  HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false "$VENV/bin/lm_eval" --model local-completions \
    --model_args "model=fake-model,base_url=$URL/completions,tokenizer_backend=huggingface,tokenizer=$WORK/tok,num_concurrent=$conc,max_retries=3" \
    --tasks hellaswag_assay --include_path "$WORK" > "$WORK/lm-eval-$conc.txt" 2>&1
  e=$(now)
  echo -e "lm-eval local-completions num_concurrent=$conc\t$(echo "$e - $s" | bc)" >> "$RESULTS"
done

python3 - "$RESULTS" "$N" <<'PY'
import sys, statistics
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
n = int(sys.argv[2]) * 4
by = {}
for name, t in rows:
    by.setdefault(name, []).append(float(t))
assay = statistics.median(by.pop("assay (adaptive, max 64 in flight)"))
best_name, best = min(((k, min(v)) for k, v in by.items()), key=lambda kv: kv[1])
print(f"| client | wall time (s) | requests/s |")
print(f"|---|---:|---:|")
print(f"| assay (median of 3) | {assay:.2f} | {n / assay:.0f} |")
for k, v in by.items():
    print(f"| {k} | {min(v):.2f} | {n / min(v):.0f} |")
print(f"\n{n} log-likelihood requests; assay is {best / assay:.1f}x faster than lm-eval's best ({best_name}).")
PY
