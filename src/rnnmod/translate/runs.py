"""Translation run directories: the same four files as a classifier's run
(``model.safetensors``, ``config.json``, ``vocab.json``, ``metrics.json``); ``config.json`` has
``io_type: "enc-dec"`` and ``vocab.json`` holds the source and target vocabularies and the
target languages (``labels``: one module per language)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from .. import FORMAT_VERSION
from ..data.vocab import Vocab
from ..errors import RnnmodError
from ..nn.seq2seq import IO_TYPE, Seq2Seq, Seq2SeqConfig
from ..runs import RunDirectory, write_run_dir
from ..storage import (
    read_json,
    read_tensors,
)


@dataclass
class TranslationRun(RunDirectory):
    """A trained translator plus its vocabularies; ``label_names`` are the target languages."""

    model: Seq2Seq
    config: dict
    vocab: Vocab
    target_vocab: Vocab
    label_names: list[str]
    metrics: dict = field(default_factory=dict)
    path: Path | None = None

    @property
    def io_type(self) -> str:
        return IO_TYPE

    @property
    def pad_label(self) -> None:
        return None

    @property
    def langs(self) -> list[str]:
        return self.label_names


def save_translation_run(
    out: Path,
    model: Seq2Seq,
    config: dict,
    src_vocab: Vocab,
    tgt_vocab: Vocab,
    langs: list[str],
    metrics: dict,
    *,
    overwrite: bool = False,
) -> Path:
    vocab_json = {"source": src_vocab.to_dict(), "target": tgt_vocab.to_dict(), "labels": langs}
    return write_run_dir(
        out, model, dict(config, io_type=IO_TYPE), vocab_json, metrics, overwrite=overwrite
    )


def load_translation_run(path: Path, config: dict) -> TranslationRun:
    """Called by :func:`rnnmod.runs.load_run` for a config with ``io_type: "enc-dec"``."""
    where = path / "config.json"
    if config.get("format_version", 0) > FORMAT_VERSION:
        raise RnnmodError(f"{path} was written by a newer rnnmod; upgrade rnnmod")
    m = config.get("model")
    if not isinstance(m, dict) or not isinstance(config.get("task"), str):
        raise RnnmodError(f"{where}: missing or invalid 'task' or model config 'model'")
    try:
        mcfg = Seq2SeqConfig(**m)
        mcfg.validate()
    except (TypeError, ValueError) as e:
        raise RnnmodError(f"{where}: invalid translation model config ({e})") from None
    voc = read_json(path / "vocab.json")
    if not isinstance(voc, dict) or not {"source", "target", "labels"} <= set(voc):
        raise RnnmodError(f"{path / 'vocab.json'}: expected 'source', 'target' and 'labels'")
    try:
        src, tgt = Vocab.from_dict(voc["source"]), Vocab.from_dict(voc["target"])
    except RnnmodError as e:
        raise RnnmodError(f"{path / 'vocab.json'}: {e}") from None
    langs = voc["labels"]
    if not isinstance(langs, list) or not langs or not all(isinstance(x, str) for x in langs):
        raise RnnmodError(f"{path / 'vocab.json'}: 'labels' must be a list of languages")
    if src.size > mcfg.src_vocab_size or tgt.size > mcfg.tgt_vocab_size:
        raise RnnmodError(f"{path / 'vocab.json'}: vocabulary larger than the model's embeddings")
    state = read_tensors(path / "model.safetensors")
    with torch.device("meta"):
        own = Seq2Seq(mcfg).state_dict()
    bad = sorted(set(own) ^ set(state)) or [k for k in own if own[k].shape != state[k].shape]
    if bad:
        raise RnnmodError(
            f"{path / 'model.safetensors'}: tensors do not match the config ({bad[0]})"
        )
    model = Seq2Seq(mcfg)
    model.load_state_dict(state)
    model.eval()
    metrics = read_json(path / "metrics.json")
    return TranslationRun(model, config, src, tgt, list(langs), metrics, path)
