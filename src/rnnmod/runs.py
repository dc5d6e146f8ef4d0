"""Trained run directories: model.safetensors, config.json, vocab.json, metrics.json."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from . import FORMAT_VERSION, __version__
from .data.vocab import Vocab
from .errors import RnnmodError
from .nn.zoo import ClassifierConfig, SeqClassifier
from .storage import (
    fresh_dir,
    publish_dir,
    read_json,
    read_tensors,
    sha256_file,
    write_json,
    write_tensors,
)

RUN_FILES = ("model.safetensors", "config.json", "vocab.json", "metrics.json")


@dataclass
class Run:
    """A trained model plus everything needed to feed it raw text."""

    model: SeqClassifier
    config: dict
    vocab: Vocab
    label_names: list[str]
    metrics: dict = field(default_factory=dict)
    path: Path | None = None

    @property
    def task(self) -> str:
        return self.config["task"]

    @property
    def io_type(self) -> str:
        return self.model.cfg.io_type

    @property
    def pad_label(self) -> int | None:
        return self.config.get("pad_label")

    def model_sha256(self) -> str:
        assert self.path is not None
        return sha256_file(self.path / "model.safetensors")


def save_run(
    out: Path,
    model: nn.Module,
    config: dict,
    vocab: Vocab,
    label_names: list[str],
    metrics: dict,
    *,
    overwrite: bool = False,
) -> Path:
    """Write a run directory atomically: build it under a temp name, then rename into place."""
    out = Path(out)
    tmp = fresh_dir(out, overwrite=overwrite)
    cfg = dict(
        config, format_version=FORMAT_VERSION, rnnmod_version=__version__, model=model.config_dict()
    )
    write_tensors(tmp / "model.safetensors", model.state_dict())
    write_json(tmp / "config.json", cfg)
    write_json(tmp / "vocab.json", {"source": vocab.to_dict(), "labels": label_names})
    write_json(tmp / "metrics.json", metrics)
    return publish_dir(tmp, out)


def load_run(path: Path | str) -> Run:
    path = Path(path)
    if not path.is_dir():
        raise RnnmodError(f"run directory {path} does not exist")
    missing = [f for f in RUN_FILES if not (path / f).is_file()]
    if missing:
        raise RnnmodError(f"{path} is not a complete run directory (missing {', '.join(missing)})")
    config = read_json(path / "config.json")
    if config.get("format_version", 0) > FORMAT_VERSION:
        raise RnnmodError(
            f"{path} was written by a newer rnnmod (format {config['format_version']} > {FORMAT_VERSION}); upgrade rnnmod"
        )
    try:
        mcfg = ClassifierConfig(**config["model"])
        model = SeqClassifier(mcfg)
    except (KeyError, TypeError, ValueError) as e:
        raise RnnmodError(f"{path / 'config.json'}: invalid model config ({e})") from None
    state = read_tensors(path / "model.safetensors")
    own = model.state_dict()
    extra = sorted(set(state) - set(own))
    absent = sorted(set(own) - set(state))
    if extra or absent:
        raise RnnmodError(
            f"{path / 'model.safetensors'}: tensors do not match the config (missing {absent[:3]}, unexpected {extra[:3]})"
        )
    for k, v in own.items():
        if state[k].shape != v.shape:
            raise RnnmodError(
                f"{path / 'model.safetensors'}: tensor {k!r} has shape {tuple(state[k].shape)}, config needs {tuple(v.shape)}"
            )
    model.load_state_dict(state)
    model.eval()
    voc = read_json(path / "vocab.json")
    try:
        vocab = Vocab.from_dict(voc["source"])
        labels = list(voc["labels"])
    except (KeyError, TypeError) as e:
        raise RnnmodError(f"{path / 'vocab.json'}: invalid vocabulary ({e})") from None
    return Run(model, config, vocab, labels, read_json(path / "metrics.json"), path)
