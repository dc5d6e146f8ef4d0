#!/usr/bin/env bash
# Which time steps to observe: Δ (pp) of composed vs monolithic on Clinc LSTM-1 (docs/method.md).
set -euo pipefail
cd "$(dirname "$0")/.."
R=${1:-runs/clinc-lstm1}
T=$(mktemp -d)
[ -f "$R/metrics.json" ] || .venv/bin/rnnmod train --task clinc --cell lstm --depth 1 --out "$R" --quiet
printf "%-10s %-9s %-8s %s\n" observe mode preset delta_pp
for spec in "all rolled default" "tokens rolled default" "last rolled default" "all unrolled default" "tokens unrolled default" "last rolled paper" "all unrolled paper"; do
  set -- $spec
  .venv/bin/rnnmod decompose "$R" --out "$T/m" --overwrite --quiet --observe-steps "$1" --mode "$2" --preset "$3" >/dev/null
  d=$(.venv/bin/rnnmod evaluate "$T/m" --json | python3 -c "import json,sys; print('%+.2f' % json.load(sys.stdin)['delta_pp'])")
  printf "%-10s %-9s %-8s %s\n" "$1" "$2" "$3" "$d"
done
rm -rf "$T"
