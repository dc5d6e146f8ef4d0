"""Write tests/fixtures/release_0_1/: small artifacts of the 0.1 release and what it answered.

Run it with the PREVIOUS release's code first on the path (a worktree of the commit before the
package renames), e.g.::

    git worktree add /tmp/base 2d5b413
    PYTHONPATH=/tmp/base/src .venv/bin/python scripts/make_compat_fixture.py [--base /tmp/base]

tests/test_release_compat.py then loads every artifact with the current code and checks that
masks, predictions and translations equal, and logits and scores match (within 1e-6), what the
old release recorded in ``expected.json``. The classifiers are random-initialised tiny models
on tiny synthetic data; the translator gets 200 full-batch Adam steps (about 2 s) so that its
translations depend on the sentence and on the module. Seeds are fixed and torch runs one
thread: two runs write the same bytes (lock files and timings.json are left out).

Layout (NAME/run: a run directory; NAME/modules: its module set)::

    m1_lstm/      M:1 LSTM (2 layers), rolled, hidden-state masks
    m1_gru/       M:1 GRU, rolled, per-gate masks
    mn_gru/       M:N GRU tagger, unrolled (per-step masks, protected padding slot)
    1n_rnn/       1:N vanilla RNN, rolled, the ``paper`` preset (padding module)
    composed_m1/  1:c0, 2:c3, 1:c2 of m1_lstm and m1_gru (modules of two sources interleaved)
    translate/    run (2-language LSTM Seq2Seq, hidden 16) and modules (unrolled decoder masks)
    expected.json
"""

# ruff: noqa: I001 (this script imports the old release's module names, which ruff would sort
# against the current src/ where they no longer exist)
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

import rnnmod

if not (Path(rnnmod.__file__).parent / "decompose").is_dir():
    sys.exit(
        f"rnnmod comes from {Path(rnnmod.__file__).parent}, not the previous release: run with "
        "PYTHONPATH=/tmp/base/src (a checkout of the release)"
    )

from rnnmod.compose import compose_modulesets
from rnnmod.data.base import TaskData
from rnnmod.data.generic import Pair, TranslationPairs
from rnnmod.data.vocab import Vocab
from rnnmod.decompose import decompose, preset
from rnnmod.modules.store import load_moduleset, save_moduleset
from rnnmod.nn.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnmod.nn.zoo import build_classifier
from rnnmod.runs import load_run, save_run
from rnnmod.translate.data import SRC_LEN, TGT_LEN, build_translation_data
from rnnmod.translate.decode import translate_texts
from rnnmod.translate.decompose import decompose_translator
from rnnmod.translate.runs import save_translation_run
from rnnmod.translate.store import open_translator, save_translation_modules

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures" / "release_0_1"

# raw texts every classifier set is scored on: plain, short, an unknown word, upper case, and
# one longer than the models read (6 tokens: truncated)
TEXTS = [
    "w0 w1 w2 w3 w4 w5",
    "w9 w8 w7",
    "w2",
    "w5 w5 qqq w3",
    "W4 w6 W6 w1",
    "w1 w3 w5 w7 w9 w0 w2 w4",
]
# sentences every translator translates into each language (the last has an unknown word)
SENTENCES = ["I see the cat.", "You love a big red house", "the small dog sees zebras"]
WORDS = {
    "en": "i you see love the a cat dog house red big small".split(),
    "fr": "je tu vois aime le un chat chien maison rouge grand petit".split(),
    "de": "ich du sehe liebe der ein katze hund haus rot gross klein".split(),
}


def tiny_data(io_type: str, n: int, n_classes: int, seq_len: int, vocab: int, seed: int):
    """tests/helpers.py's tiny_data: random ids (a third pre-padded), cyclic or random labels."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(1, vocab, (n, seq_len), generator=g)
    x[: n // 3, :2] = 0
    y = torch.arange(n) % n_classes
    pad_label, out_steps = None, 1
    if io_type in ("1:N", "M:N"):  # label 0 = padding
        y = 1 + torch.randint(0, n_classes - 1, (n, seq_len), generator=g)
        if io_type == "M:N":
            y[x == 0] = 0
        else:
            y[: n // 2, :3] = 0
        pad_label, out_steps = 0, seq_len
    voc = Vocab(
        tokens=["<pad>", "<unk>"] + [f"w{i}" for i in range(vocab - 2)],
        tokenizer="whitespace",
        seq_len=seq_len,
    )
    names = [f"c{i}" for i in range(n_classes)]
    return TaskData("tiny", io_type, x, y, x.clone(), y.clone(), voc, names, out_steps, pad_label)


def tiny_classifier(io_type: str, cell: str, depth: int, data: TaskData, hidden: int, seed: int):
    torch.manual_seed(seed)
    return build_classifier(
        out_steps=data.out_steps,
        io_type=io_type,
        cell=cell,
        depth=depth,
        vocab_size=data.vocab.size,
        embed_dim=5,
        hidden=hidden,
        n_classes=data.n_classes,
        seq_len=data.vocab.seq_len,
    ).eval()


def classifier_set(name: str, io_type: str, cell: str, depth: int, seed: int, cfg) -> dict:
    """NAME/run and NAME/modules; returns the in-memory decomposition's masks for cross-checks."""
    data = tiny_data(io_type, n=96, n_classes=4, seq_len=6, vocab=12, seed=seed)
    model = tiny_classifier(io_type, cell, depth, data, hidden=8, seed=seed)
    config = {"task": "tiny", "io_type": io_type, "cell": cell, "depth": depth}
    if data.pad_label is not None:
        config["pad_label"] = data.pad_label
    run_dir = save_run(Path(name) / "run", model, config, data.vocab, data.label_names, {})
    run = load_run(run_dir)
    dec = decompose(run.model, data, cfg, progress=False)
    extra = {"task": "tiny", "mode": cfg.mode, "config": dec.config.to_dict()}
    save_moduleset(Path(name) / "modules", [(run, dec.bank)], extra)
    bank = dec.bank
    return {
        run.label_names[c]: {
            kind: None if ms is None else [m[k] for m in ms]
            for kind, ms in (("unit_mask", bank.unit_masks), ("gate_mask", bank.gate_masks))
        }
        for k, c in enumerate(bank.class_index)
    }


def bits(t: torch.Tensor) -> list:
    return t.to(torch.uint8).tolist()


def record_set(path: str, fresh: dict | None) -> dict:
    """What the old release answers for a module set (loaded back from disk, as a user would)."""
    ms = load_moduleset(path)
    masks = {}
    for label in ms.labels:
        sid, pos = ms.locate(label)
        bank = ms.banks[sid]
        per = {
            kind: None if m is None else [bits(layer[pos]) for layer in m]
            for kind, m in (("unit_mask", bank.unit_masks), ("gate_mask", bank.gate_masks))
        }
        if fresh is not None:  # what was decomposed is what was written and read back
            for kind, layers in fresh[label].items():
                assert (layers is None) == (per[kind] is None), (path, label, kind)
                for a, b in zip(layers or [], per[kind] or [], strict=True):
                    assert bits(a) == b, (path, label, kind)
        masks[label] = per
    retained = {e["label"]: e["retained_units"] for e in ms.entries}
    scores = ms.scores_texts(TEXTS)
    assert scores.dtype == torch.float32 and torch.isfinite(scores).all(), path
    if ms.per_position:
        kind, predictions = "tags", ms.predict_tags(TEXTS)
    else:
        kind, predictions = "labels", ms.predict_texts(TEXTS)
    return {
        "labels": ms.labels,
        "retained_units": retained,
        "masks": masks,
        "scores_shape": list(scores.shape),
        "scores": scores.tolist(),
        "prediction_kind": kind,
        "predictions": predictions,
    }


def record_run(path: str) -> dict:
    run = load_run(path)
    with torch.no_grad():
        logits = run.model(run.vocab.encode_texts(TEXTS))
    return {
        "io_type": run.io_type,
        "labels": run.label_names,
        "logits_shape": list(logits.shape),
        "logits": logits.tolist(),
    }


def translation_pairs(n: int = 48) -> TranslationPairs:
    g = torch.Generator().manual_seed(3)
    pairs = []
    for i in range(n):
        length = int(torch.randint(2, 6, (1,), generator=g))
        idx = torch.randint(0, len(WORDS["en"]), (length,), generator=g).tolist()
        lang = ("fr", "de")[i % 2]
        src = " ".join(WORDS["en"][j] for j in idx).capitalize() + "."
        tgt = " ".join(WORDS[lang][j] for j in idx).capitalize() + "."
        pairs.append(Pair(src, tgt, lang))
    return TranslationPairs(pairs, pairs[:4], pairs[:4], ["fr", "de"], [])


def translation_set() -> dict:
    data = build_translation_data(translation_pairs(), task="tiny-tatoeba")
    torch.manual_seed(11)
    model = Seq2Seq(
        Seq2SeqConfig(
            "lstm",
            1,
            data.src_vocab.size,
            data.tgt_vocab.size,
            embed_dim=8,
            hidden=16,
            src_len=SRC_LEN,
            tgt_len=TGT_LEN,
        )
    )
    # a random translator emits one word over and over whatever the sentence, and its modules
    # the same: 200 full-batch Adam steps (about 2 s) make translations depend on the sentence
    # and on the module's masks
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    model.train()
    for _ in range(200):
        loss = model.loss(data.src_train, data.tgt_in, data.tgt_out)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    config = {"task": "tiny-tatoeba", "cell": "lstm", "depth": 1, "data_options": {"source": "en"}}
    run_dir = save_translation_run(
        Path("translate/run"), model, config, data.src_vocab, data.tgt_vocab, data.langs, {}
    )
    run = load_run(run_dir)
    cfg = preset("default", mode="unrolled", max_remove=0.25, min_observations=1)
    dec = decompose_translator(run, data, cfg)
    extra = {"task": "tiny-tatoeba", "mode": cfg.mode, "config": cfg.to_dict()}
    save_translation_modules(Path("translate/modules"), dec.modules, extra)
    fresh = {m.lang: m.masks for m in dec.modules}

    def translations(path: str) -> dict:
        tr = open_translator(Path(path))
        return {
            lang: [t.text for t in translate_texts(tr.route, SENTENCES, [lang] * len(SENTENCES))]
            for lang in tr.langs
        }

    mods = open_translator(Path("translate/modules"))
    masks = {}
    for lang, mod in mods.modules.items():
        masks[lang] = [bits(m) for m in mod.masks]
        assert masks[lang] == [bits(m) for m in fresh[lang]], lang
    return {
        "langs": mods.langs,
        "sentences": SENTENCES,
        "retained_units": {e["label"]: e["retained_units"] for e in mods.manifest["modules"]},
        "masks": masks,
        "module_translations": translations("translate/modules"),
        "run_translations": translations("translate/run"),
    }


def classifier_specs() -> dict:
    """name → (I/O type, cell, depth, seed, decomposition config); caps raised to 25 % (2 of 8
    units) and thin groups allowed so that tiny data still removes units."""
    loose = {"max_remove": 0.25, "min_observations": 1}
    return {
        "m1_lstm": ("M:1", "lstm", 2, 1, preset("default", mode="rolled", **loose)),
        "m1_gru": (
            "M:1",
            "gru",
            1,
            2,
            preset("default", mode="rolled", gate_strategy="per-gate", **loose),
        ),
        "mn_gru": ("M:N", "gru", 1, 3, preset("default", mode="unrolled", **loose)),
        "1n_rnn": ("1:N", "rnn", 1, 4, preset("paper", mode="rolled", max_remove=0.25)),
    }


def build(base: Path) -> dict:
    fresh = {name: classifier_set(name, *spec) for name, spec in classifier_specs().items()}
    sets = [load_moduleset("m1_lstm/modules"), load_moduleset("m1_gru/modules")]
    compose_modulesets(sets, ["1:c0", "2:c3", "1:c2"], Path("composed_m1/modules"))
    commit = subprocess.run(
        ["git", "-C", str(base), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    expected = {
        "about": "written by scripts/make_compat_fixture.py with the release below; "
        "checked by tests/test_release_compat.py",
        "commit": commit,
        "rnnmod_version": rnnmod.__version__,
        "format_version": rnnmod.FORMAT_VERSION,
        "torch_version": torch.__version__.split("+")[0],
        "texts": TEXTS,
        "runs": {name: record_run(f"{name}/run") for name in fresh},
        "modulesets": {
            **{name: record_set(f"{name}/modules", masks) for name, masks in fresh.items()},
            "composed_m1": record_set("composed_m1/modules", None),
        },
        "translation": translation_set(),
    }
    removed = [
        n for n, s in expected["modulesets"].items() if min(s["retained_units"].values()) < 1
    ]
    assert removed, "no module removed a unit: the fixture would not exercise the masks"
    assert min(expected["translation"]["retained_units"].values()) < 1
    return expected


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--base", type=Path, default=Path("/tmp/base"), help="the old release's checkout"
    )
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # relative paths: nothing of this machine ends up in a manifest
        try:
            expected = build(args.base.resolve())
        finally:
            os.chdir(here)
        out = args.out.resolve()
        if out.exists():
            shutil.rmtree(out)
        # the runs and module sets, without lock files (.NAME.lock) or timings
        shutil.copytree(tmp, out, ignore=shutil.ignore_patterns(".*", "timings.json"))
    out.chmod(0o755)  # not the temporary directory's 0700
    (out / "expected.json").write_text(json.dumps(expected, indent=1) + "\n", encoding="utf-8")
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"wrote {out} ({size / 1024:.0f} KB, commit {expected['commit'][:12]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
