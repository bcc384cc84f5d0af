#!/usr/bin/env bash
# Accuracy of the default model on the standard tasks, for BENCHMARKS.md.
# Full splits where they fit in a session on 2 cores; a seeded random subset of 2,000
# items (--sample 2000 --sample-seed 1234) for HellaSwag and MMLU.
# Usage: scripts/accuracy.sh [OUTPUT_DIR] [TASK_GROUP...]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/accuracy}
shift || true
data=${ASSAY_DATA_DIR:-../shared/data}
cargo build --release -p assay --quiet
assay=./target/release/assay
run() { "$assay" eval --data-dir "$data" --out "$out" --threads "${THREADS:-2}" "$@"; }
groups=${*:-full subset}
for g in $groups; do
  case $g in
    full) run --tasks arc_easy,arc_challenge,piqa,winogrande,winogrande_lighteval ;;
    subset) run --tasks hellaswag,hellaswag_lighteval,mmlu,mmlu_cloze --sample 2000 --sample-seed 1234 ;;
    *) run --tasks "$g" ;;
  esac
done
