#!/usr/bin/env bash
# The main job end to end on Clinc (M:1, LSTM-1): train → decompose → evaluate → compose → predict.
set -euo pipefail
cd "$(dirname "$0")/.."
RNNMOD=.venv/bin/rnnmod
OUT=${DEMO_OUT:-demo-out}
DATA=${RNNMOD_DATA:-}
if [ -z "$DATA" ] || [ ! -f "$DATA/clinc_oos/train.csv" ]; then
  DATA=${DATA:-$HOME/.cache/rnnmod/data}
  echo "== no local datasets: fetching Clinc into $DATA"
  $RNNMOD data fetch clinc --data-dir "$DATA"
fi
export RNNMOD_DATA="$DATA"
mkdir -p "$OUT"
echo "== 1/5 train an LSTM-1 on Clinc domains (15 epochs, about half a minute on 2 cores)"
$RNNMOD train --task clinc --cell lstm --depth 1 --out "$OUT/run" --overwrite
echo "== 2/5 decompose it into one module per domain (rolled, default preset)"
$RNNMOD decompose "$OUT/run" --out "$OUT/mods" --overwrite
echo "== 3/5 evaluate: monolithic vs composed test accuracy"
$RNNMOD evaluate "$OUT/mods" | tee "$OUT/report.txt"
echo "== 4/5 reuse: compose a 2-class model (banking vs travel) from two modules"
$RNNMOD compose "$OUT/mods" --labels banking,travel --out "$OUT/banking-travel" --overwrite
$RNNMOD evaluate "$OUT/banking-travel" | tee -a "$OUT/report.txt"
echo "== 5/5 predict raw text with the composed model"
$RNNMOD predict "$OUT/banking-travel" "what is the balance of my checking account" "book a hotel in rome for two nights"
echo "== report written to $OUT/report.txt"
