#!/usr/bin/env bash
# Bradley-Terry with bootstrap intervals on 1,000,000 synthetic battles among 100
# models: assay against LMArena's arena-rank and FastChat's scikit-learn approach, on
# the same file and machine, in one run.
#
#   bench/rank_bt.sh [ASSAY_ROUNDS] [PEER_ROUNDS]     (defaults 1000 and 1000)
#
# The Python peers take minutes per few rounds at this size; with PEER_ROUNDS < 1000
# their time is measured on that many rounds and scaled to 1,000 (stated in the output).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-1000}
PEER_ROUNDS=${2:-1000}
CACHE=${ASSAY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/assay}
VENV=$CACHE/venvs/rank-peers
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import arena_rank, sklearn" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q arena-rank scikit-learn pandas
fi
cargo build --release -q -p assay
python3 - "$WORK/battles.csv" <<'PY'
import math, random, sys
random.seed(1)
k = 100
s = [random.gauss(0, 1) for _ in range(k)]
with open(sys.argv[1], "w") as f:
    f.write("model_a,model_b,winner\n")
    for _ in range(1_000_000):
        a = random.randrange(k); b = random.randrange(k - 1)
        b += b >= a
        p = 1 / (1 + math.exp(s[b] - s[a])); u = random.random()
        w = "tie" if u < 0.1 else ("model_a" if u < 0.1 + 0.9 * p else "model_b")
        f.write(f"m{a:03d},m{b:03d},{w}\n")
PY
s=$(date +%s.%N)
target/release/assay rank "$WORK/battles.csv" --rounds "$ROUNDS" --format csv > "$WORK/assay.csv"
e=$(date +%s.%N)
"$VENV/bin/python" bench/rank_peers.py "$WORK/battles.csv" "$PEER_ROUNDS" "$WORK/peers.json" > /dev/null 2> "$WORK/peers.log"
python3 - "$WORK/assay.csv" "$WORK/peers.json" "$(echo "$e - $s" | bc)" "$ROUNDS" <<'PY'
import csv, json, sys
ours = {r["model"]: float(r["rating"]) for r in csv.DictReader(open(sys.argv[1]))}
peers = json.load(open(sys.argv[2]))
assay_s, rounds = float(sys.argv[3]), int(sys.argv[4])
# Whole run at 1,000 rounds: assay as measured (scaled if run with fewer); the peers'
# full fit plus their measured per-round bootstrap time times 1,000.
assay_1000 = assay_s if rounds == 1000 else assay_s * 1000 / rounds
r = peers["rounds"]
print(f"| implementation | {peers['battles']:,} battles, fit + 1,000 bootstrap rounds (s) | assay faster by | largest rating difference vs assay |")
print("|---|---:|---:|---:|")
print(f"| assay (measured, 2 threads) | {assay_1000:.2f} | - | - |")
for name in ("arena_rank", "sklearn"):
    fit, boot = peers[f"{name}_fit_s"], peers[f"{name}_bootstrap_s"]
    total = fit + boot * 1000 / r
    how = "measured" if r == 1000 else f"fit {fit:.1f} s + {boot / r:.2f} s/round measured on {r} rounds"
    diff = max(abs(ours[m] - peers[name][m]) for m in ours)
    print(f"| {name} ({how}) | {total:.0f} | {total / assay_1000:.0f}x | {diff:.1e} |")
PY
