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
