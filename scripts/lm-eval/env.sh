# Sourced by the scripts that run lm-evaluation-harness next to assay: the shared
# settings, a work directory that is removed on exit (kept with KEEP_WORK=1), and
# lm-eval 0.4.13 in a virtual environment in assay's cache directory.
DATA=${ASSAY_DATA_DIR:-../shared/data}
CACHE=${ASSAY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/assay}
VENV=$CACHE/venvs/lm-eval-0.4.13
WORK=$(mktemp -d)
SERVER=
trap 'kill $SERVER 2>/dev/null || true; [ -n "${KEEP_WORK:-}" ] && echo "outputs kept in $WORK" || rm -rf "$WORK"' EXIT
if [ ! -x "$VENV/bin/lm_eval" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "lm-eval[api]==0.4.13"
fi

# Writes the HellaSwag items an assay run asked (its samples file) as an lm-eval task:
# $WORK/items.jsonl and $WORK/hellaswag_assay.yaml pointing at it.
export_items() {
  python3 - "$1" "$WORK/items.jsonl" <<'PY'
import json, sys
with open(sys.argv[2], "w") as out:
    for line in open(sys.argv[1]):
        r = json.loads(line)
        out.write(json.dumps({"context": r["prompt"], "choices": r["requests"], "gold": r["target"]["index"]}) + "\n")
PY
  sed "s#ITEMS_JSONL#$WORK/items.jsonl#" scripts/lm-eval/hellaswag_assay.yaml > "$WORK/hellaswag_assay.yaml"
}
