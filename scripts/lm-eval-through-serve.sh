#!/usr/bin/env bash
# lm-evaluation-harness evaluates the embedded model through `assay serve`, on the same
# HellaSwag items assay scores directly, and the two accuracies are compared.
#
#   scripts/lm-eval-through-serve.sh [N_ITEMS]      (default 100)
#
# lm-eval talks to the server as it talks to vLLM: `local-completions` with token-id
# prompts, `echo` + `logprobs`, and the server's /tokenize endpoint as its tokenizer
# (tokenizer_backend=remote), so no Hugging Face download is needed.
# Needs: python3 with venv, ../shared/data (or ASSAY_DATA_DIR). Installs lm-eval 0.4.13
# into a virtual environment in assay's cache directory on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100}
PORT=${PORT:-8765}
source scripts/lm-eval/env.sh
cargo build --release -q -p assay
ASSAY=target/release/assay

# 1. assay scores the items directly and records exactly what it asked.
t0=$(date +%s.%N)
$ASSAY eval --tasks hellaswag --limit "$N" --data-dir "$DATA" --out "$WORK/assay" > "$WORK/assay.txt"
t1=$(date +%s.%N)
RUN=$(ls -d "$WORK"/assay/*/)
export_items "$RUN/samples/hellaswag.jsonl"

# 2. The same model behind assay serve, evaluated by lm-eval.
$ASSAY serve --port "$PORT" --served-model-name smollm2 2> "$WORK/serve.log" &
SERVER=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" > /dev/null && break; sleep 0.2; done
# assay's own client through the server, for comparison.
t2=$(date +%s.%N)
$ASSAY eval --model openai:smollm2 --base-url "http://127.0.0.1:$PORT/v1" --no-cache \
  --tasks hellaswag --limit "$N" --data-dir "$DATA" --out "$WORK/client" > "$WORK/client.txt"
t3=$(date +%s.%N)
start=$(date +%s.%N)
HF_DATASETS_OFFLINE=1 "$VENV/bin/lm_eval" --model local-completions \
  --model_args "model=smollm2,base_url=http://127.0.0.1:$PORT/v1/completions,tokenizer_backend=remote,num_concurrent=8,max_retries=3" \
  --tasks hellaswag_assay --include_path "$WORK" --output_path "$WORK/lm-eval" --log_samples > "$WORK/lm-eval.txt" 2> "$WORK/lm-eval.log"
end=$(date +%s.%N)

# 3. Compare.
python3 - "$RUN/results.json" "$WORK/lm-eval" "$RUN/samples/hellaswag.jsonl" "$start" "$end" "$t0" "$t1" "$t2" "$t3" "$WORK/client" <<'PY'
import glob, json, sys
client = {m["name"]: m["value"] for t in json.load(open(glob.glob(sys.argv[10] + "/*/results.json")[0]))["results"] for m in t["metrics"]}
ours = {m["name"]: m["value"] for t in json.load(open(sys.argv[1]))["results"] for m in t["metrics"]}
res = json.load(open(sorted(glob.glob(sys.argv[2] + "/**/results_*.json", recursive=True))[-1]))["results"]["hellaswag_assay"]
theirs = {"acc": res["acc,none"], "acc_norm": res["acc_norm,none"]}
samples = [json.loads(l) for l in open(sorted(glob.glob(sys.argv[2] + "/**/samples_hellaswag_assay_*.jsonl", recursive=True))[-1])]
mine = [json.loads(l) for l in open(sys.argv[3])]
diff = 0.0
for s in samples:
    a = [r["logprob"] for r in mine[s["doc_id"]]["responses"]]
    # Each response is [log-likelihood, is_greedy] (as strings in some versions).
    b = [float(r[0][0] if isinstance(r[0], list) else r[0]) for r in s["filtered_resps"]]
    diff = max(diff, max(abs(x - y) for x, y in zip(a, b)))
print(f"items: {len(samples)}")
for k in ("acc", "acc_norm"):
    print(f"{k}: assay {ours[k]:.4f}  lm-eval via assay serve {theirs[k]:.4f}  {'same' if abs(ours[k]-theirs[k]) < 1e-12 else 'DIFFERENT'}")
print(f"largest per-choice log-likelihood difference: {diff:.2e}")
print(f"assay client via assay serve: acc {client['acc']:.4f}, acc_norm {client['acc_norm']:.4f}")
print(f"wall time: assay direct {float(sys.argv[7]) - float(sys.argv[6]):.1f} s, "
      f"assay client via serve {float(sys.argv[9]) - float(sys.argv[8]):.1f} s, "
      f"lm-eval via serve {float(sys.argv[5]) - float(sys.argv[4]):.1f} s")
ok = all(abs(ours[k] - theirs[k]) < 1e-12 and abs(ours[k] - client[k]) < 1e-12 for k in ("acc", "acc_norm")) and diff < 1e-4
sys.exit(0 if ok else 1)
PY
