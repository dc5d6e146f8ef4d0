"""How much does fitting the calibrated rule on the source models' training texts cost? Compare,
per inter combo, the calibration fitted on the new problem's training examples (what
``reproduce … --inter`` does) with an oracle fitted on the test examples themselves, and the
paper's raw odds rule. Needs the trained depth-1 runs and ``results/inter_scores`` (written by
``reproduce rq2|rq3 --inter``).

    python scripts/inter_calibration_oracle.py CELL PROBLEM reuse|replace [MAX_COMBOS]
    python scripts/inter_calibration_oracle.py lstm 1:1-1:N reuse
"""

import statistics
import sys
from pathlib import Path

import torch

from rnnmod.modules.calibrate import fit_calibration
from rnnmod_repro import inter_problems as P
from rnnmod_repro import inter_scores as S

cell, prob, rq = sys.argv[1], sys.argv[2], sys.argv[3]
opts = P.InterOptions(
    problems=[prob],
    cells=[cell],
    depths=[1],
    runs_dir=Path("runs/rq1"),
    results_dir=Path("results"),
    progress=False,
    max_combos=int(sys.argv[4]) if len(sys.argv) > 4 else None,
)
ot, mt = P.PROBLEMS[prob]
one, many = S.load_side(ot, cell, 1, opts), S.load_side(mt, cell, 1, opts)
te = S.pooled_scores(one, many, Path("results/inter_scores"), opts)
tr = S.pooled_scores(one, many, Path("results/inter_scores"), opts, split="train")
o, m = one.data, many.data
ys = ((o.y_train, o.y_test), (m.y_train, m.y_test))
grid = P.combos(list(range(o.n_classes)), [c for c in range(m.n_classes) if c != m.pad_label], opts)
res = {"train": [], "oracle": [], "odds": []}
for a, b in grid:
    parts = (P.reuse_parts if rq == "reuse" else P.replace_parts)(*ys, a, b, cap=1000, seed=0)
    train, test = parts
    for name, (pp, part) in (("train", (tr, train)), ("oracle", (te, test))):
        s, labels = S.module_stack(pp, part, "odds", rq, a, b)
        pos = torch.full((max(labels) + 1,), -1)
        pos[torch.tensor(labels)] = torch.arange(len(labels))
        cal = fit_calibration(s, pos[part.y.long()])
        st_, _ = S.module_stack(te, test, "odds", rq, a, b)
        res[name].append((torch.tensor(labels)[cal.predict(st_)] == test.y).float().mean().item())
    st_, labels = S.module_stack(te, test, "odds", rq, a, b)
    pred = (
        P.reuse_decide(st_[0], st_[1])
        if rq == "reuse"
        else P.replace_decide(st_[0], st_[1:], labels[1:], a)
    )
    res["odds"].append((pred == test.y).float().mean().item())
print(cell, prob, rq, len(grid), {k: round(statistics.fmean(v), 4) for k, v in res.items()})
