#!/usr/bin/env bash
# A/B analysis speed and memory: `assay ab analyze` against polars + GrowthBook's engine
# and pandas + GrowthBook's engine, on the same Parquet files (2 arms, 5 metrics: two
# conversions, revenue with CUPED on a pre-period covariate, a ratio, latency), in one run
# on one machine. Wall time and peak resident memory from GNU time, best of RUNS.
#
#   bench/ab.sh [ROWS...]        (default: 1000000 10000000)
#
# Installs gbstats 0.8.0, polars, pyarrow and pandas in a venv in ~/.cache/assay.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${*:-1000000 10000000}
RUNS=${RUNS:-3}
VENV=${VENV:-$HOME/.cache/assay/venvs/ab-bench}
WORK=${WORK:-/tmp/assay-ab-bench}
mkdir -p "$WORK"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q gbstats==0.8.0 polars "pyarrow<18" pandas numpy scipy  # gbstats 0.8.0 holds numpy < 2
fi
cargo build --release -q -p assay
PY="$VENV/bin/python"
echo "versions: $("$PY" -c 'import polars, pandas, pyarrow, importlib.metadata as m; print("polars", polars.__version__, "pandas", pandas.__version__, "pyarrow", pyarrow.__version__, "gbstats", m.version("gbstats"))')"

measure() { # label rows command...: prints "label rows seconds peak_kib" for the best run
  local label=$1 rows=$2; shift 2
  local best="" best_mem=""
  for _ in $(seq "$RUNS"); do
    # assay exits with the decision (0, 1, 3 or 4); only the time matters here.
    /usr/bin/time -f "%e %M" -o "$WORK/time.txt" "$@" > "$WORK/$label.out" || true
    read -r secs mem < "$WORK/time.txt"
    if [ -z "$best" ] || awk "BEGIN{exit !($secs < $best)}"; then best=$secs; best_mem=$mem; fi
  done
  echo "$label $rows $best $best_mem"
}

for n in $SIZES; do
  file="$WORK/units-$n.parquet"
  [ -f "$file" ] || "$PY" bench/ab_peers.py gen "$file" "$n"
  measure assay "$n" target/release/assay ab analyze "$file" --control control \
    --metrics converted,thumbs_up,revenue,messages_per_session --ratio messages_per_session=messages/sessions \
    --guardrails latency_ms --lower-is-better latency_ms --covariate revenue=pre_revenue \
    --format json
  measure polars_gbstats "$n" "$PY" bench/ab_peers.py polars "$file"
  measure pandas_gbstats "$n" "$PY" bench/ab_peers.py pandas "$file"
done | tee "$WORK/results.txt"
awk '{ t[$1" "$2]=$3; m[$1" "$2]=$4; rows[$2]=1 }
  END { printf "\n| rows | assay s | assay MiB | polars+gbstats s | MiB | pandas+gbstats s | MiB | speed-up vs polars | vs pandas |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
        for (r in rows) printf "| %d | %.2f | %.0f | %.2f | %.0f | %.2f | %.0f | %.1fx | %.1fx |\n", r,
          t["assay "r], m["assay "r]/1024, t["polars_gbstats "r], m["polars_gbstats "r]/1024,
          t["pandas_gbstats "r], m["pandas_gbstats "r]/1024,
          t["polars_gbstats "r]/t["assay "r], t["pandas_gbstats "r]/t["assay "r] }' "$WORK/results.txt"
