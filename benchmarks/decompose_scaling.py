"""How decomposition grows: peak memory on Brown LSTM-4 unrolled, time vs samples and vs classes.

* ``memory``  — Brown M:N LSTM-4 (``runs/rq1/brown-lstm4``), unrolled, default preset, in a fresh
                subprocess: resident memory after loading the model and data, and the peak during
                ``decompose`` (Linux VmHWM, reset through /proc/self/clear_refs after loading).
* ``samples`` — the trained Clinc LSTM-1 (``runs/rq1/clinc-lstm1``), 1×, 4×, 16× positives per
                class (90, 360, 1440; negatives follow the default ⌈M/(C−1)⌉ rule), rolled and
                unrolled; fastest of ``--repeat``.
* ``classes`` — random-weight models of Clinc's shape (embedding 50, LSTM-1 of 100 units, 15
                tokens, 5,000 words) on synthetic data with C = 2 … 40 classes, two series: a fixed
                number of positives per class (samples grow with C) and a fixed total of samples
                (positives per class = 2,400 / C). Accuracy is irrelevant for timing.

    .venv/bin/python benchmarks/decompose_scaling.py --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, clinc_run, result_header, write_result  # noqa: E402
from decompose_speed import best_of  # noqa: E402

from rnnmod.data import load_task  # noqa: E402
from rnnmod.data.base import TaskData  # noqa: E402
from rnnmod.data.vocab import Vocab  # noqa: E402
from rnnmod.decomposition import decompose, preset  # noqa: E402
from rnnmod.nn.zoo import build_classifier  # noqa: E402
from rnnmod.runs import load_run  # noqa: E402

MEMORY_CHILD = r"""
import json, sys, time, torch
torch.set_num_threads(int(sys.argv[3]))
from rnnmod.data import load_task
from rnnmod.decomposition import decompose, preset
from rnnmod.runs import load_run

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
run = load_run(sys.argv[1])
data = load_task(run.task, sys.argv[2])
loaded = status("VmRSS")
try:
    open("/proc/self/clear_refs", "w").write("5")  # reset the high-water mark
    reset = True
except OSError:
    reset = False
t0 = time.perf_counter()
dec = decompose(run.model, data, preset("default", mode="unrolled"), progress=False)
print(json.dumps({"rss_after_load": loaded, "peak_during_decompose": status("VmHWM"),
                  "hwm_reset": reset, "seconds": time.perf_counter() - t0,
                  "n_observed_examples": len(dec.samples.union), "modules": len(dec.bank),
                  "timings": dec.timings}))
"""


def memory_case(run: Path, data_dir: str, threads: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD, str(run), data_dir, str(threads)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["extra_over_loaded"] = res["peak_during_decompose"] - res["rss_after_load"]
    return res


def samples_case(run: Path, data_dir: str, repeat: int) -> list[dict]:
    r = load_run(run)
    data = load_task(r.task, data_dir)
    rows = []
    for mode in ("rolled", "unrolled"):
        for mult in (1, 4, 16):
            cfg = preset("default", mode=mode, n_positive=90 * mult)
            dec, secs = best_of(
                repeat, lambda cfg=cfg: decompose(r.model, data, cfg, progress=False)
            )
            rows.append(
                {
                    "mode": mode,
                    "multiplier": mult,
                    "n_positive": 90 * mult,
                    "n_observed_examples": len(dec.samples.union),
                    "seconds": secs,
                    "timings": dec.timings,
                }
            )
            print(f"samples {mode:8s} {mult:2d}×: {secs:.3f} s ({len(dec.samples.union)} examples)")
    return rows


def synthetic(n_classes: int, per_class: int, seed: int = 0) -> tuple:
    g = torch.Generator().manual_seed(seed)
    n = n_classes * per_class
    x = torch.randint(2, 5000, (n, 15), generator=g)
    y = torch.arange(n) % n_classes
    voc = Vocab(tokens=["<pad>", "<unk>"] + [f"w{i}" for i in range(4998)], seq_len=15)
    data = TaskData(
        "synthetic", "M:1", x, y, x[:10], y[:10], voc, [f"c{i}" for i in range(n_classes)]
    )
    torch.manual_seed(seed)
    model = build_classifier(
        io_type="M:1",
        cell="lstm",
        depth=1,
        vocab_size=5000,
        embed_dim=50,
        hidden=100,
        n_classes=n_classes,
        seq_len=15,
    ).eval()
    return model, data


def classes_case(repeat: int) -> list[dict]:
    rows = []
    for series, positives in (
        ("fixed_per_class", lambda c: 240),
        ("fixed_total", lambda c: 2400 // c),
    ):
        for c in (2, 5, 10, 20, 40):
            m = positives(c)
            model, data = synthetic(c, max(m, 2400 // c) + 50)
            cfg = preset("default", n_positive=m)
            dec, secs = best_of(
                repeat, lambda m=model, d=data, k=cfg: decompose(m, d, k, progress=False)
            )
            rows.append(
                {
                    "series": series,
                    "classes": c,
                    "n_positive": m,
                    "n_observed_examples": len(dec.samples.union),
                    "seconds": secs,
                    "timings": dec.timings,
                }
            )
            print(
                f"classes {series:15s} C={c:2d}: {secs:.3f} s ({len(dec.samples.union)} examples)"
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--parts", default="memory,samples,classes")
    p.add_argument("--brown-run", type=Path, default=ROOT / "runs" / "rq1" / "brown-lstm4")
    p.add_argument("--clinc-run", type=Path, default=None, help="default: as composed_inference")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    p.add_argument(
        "--data-dir", default=os.environ.get("RNNMOD_DATA") or str(ROOT.parent / "shared" / "data")
    )
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    parts = set(args.parts.split(","))
    result = result_header("decompose_scaling", argv)
    if "memory" in parts:
        if args.brown_run.is_dir():
            result["memory"] = memory_case(args.brown_run, args.data_dir, args.threads)
            m = result["memory"]
            print(
                f"memory: {m['rss_after_load'] / 2**20:.0f} MiB after loading, peak "
                f"{m['peak_during_decompose'] / 2**20:.0f} MiB during decompose ({m['seconds']:.1f} s)"
            )
        else:
            result["memory"] = f"skipped: {args.brown_run} not found"
    if "samples" in parts:
        clinc = clinc_run(args.clinc_run, args.data_dir)
        result["samples_run"] = str(clinc)
        result["samples"] = samples_case(clinc, args.data_dir, args.repeat)
    if "classes" in parts:
        result["classes"] = classes_case(args.repeat)
    print(f"→ {write_result(args.out, 'decompose_scaling', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
