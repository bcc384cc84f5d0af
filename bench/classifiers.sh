#!/usr/bin/env bash
# The ported offline classifiers against their Python packages on the same 10,000 texts
# (the first 10,000 statements of ToxiGen's prompt files), same machine, one run
# (benchmark only; never run by CI). Two measures:
#  - classification alone, models loaded: best of 5 (Python: `predict_prob` on the list
#    for alt-profanity-check; hatesonar's `Sonar.ping` per text as its API offers, and
#    one batched onnxruntime call as the fastest Python can do);
#  - the whole command, a CSV in and a CSV of scores out: `assay grade --out` against
#    a Python script doing the same, interpreter and imports included.
# Usage: bench/classifiers.sh DATA_DIR PYTHON   (PYTHON: a venv with
#   alt-profanity-check==1.9.1 hatesonar==0.1.0; onnxruntime needs the en_US.UTF-8 locale)
set -euo pipefail
cd "$(dirname "$0")/.."
data=$1; python=$2
cargo build --release -p assay -p assay-classify --example classify_speed --quiet
out=$(mktemp -d)
cat "$data"/toxigen/prompts/*.txt | sed 's/\\n/\n/g; s/^- *//' | awk 'NF && n < 10000 { print; n++ }' > "$out/texts.txt"
python3 -c "
import csv, sys
w = csv.writer(open('$out/texts.csv', 'w', newline=''))
w.writerow(['text'])
for line in open('$out/texts.txt', encoding='utf-8'): w.writerow([line.rstrip('\n')])
"
echo "texts: $(wc -l < "$out/texts.txt")"
target/release/examples/classify_speed "$out/texts.txt" 5
"$python" bench/classifiers_python.py speed "$out/texts.txt"
for g in alt-profanity-check hatesonar; do
  start=$(date +%s.%N)
  target/release/assay grade "$out/texts.csv" --response-column text --grader "$g" --out "$out/assay-$g.csv" --format json > /dev/null
  end=$(date +%s.%N)
  echo "{\"command\": \"assay grade --grader $g\", \"wall_s\": $(echo "$end - $start" | bc)}"
  start=$(date +%s.%N)
  "$python" bench/classifiers_python.py file "$g" "$out/texts.csv" "$out/python-$g.csv"
  end=$(date +%s.%N)
  echo "{\"command\": \"python $g\", \"wall_s\": $(echo "$end - $start" | bc)}"
done
rm -rf "$out"
