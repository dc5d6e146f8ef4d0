"""Trained run directories: model.safetensors, config.json, vocab.json, metrics.json."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from . import FORMAT_VERSION, __version__
from .data.vocab import Vocab
from .errors import RnnmodError
from .locking import output_lock
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


class RunDirectory:
    """What every run (classifier or translator) says of itself: its task and its weights' hash."""

    config: dict
    path: Path | None

    @property
    def task(self) -> str:
        return self.config["task"]

    def model_sha256(self) -> str:
        assert self.path is not None
        return sha256_file(self.path / "model.safetensors")


@dataclass
class Run(RunDirectory):
    """A trained model plus everything needed to feed it raw text."""

    model: SeqClassifier
    config: dict
    vocab: Vocab
    label_names: list[str]
    metrics: dict = field(default_factory=dict)
    path: Path | None = None

    @property
    def io_type(self) -> str:
        return self.model.cfg.io_type

    @property
    def pad_label(self) -> int | None:
        return self.config.get("pad_label")


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
    """Write a run directory atomically: build it under a temp name, then rename into place
    (under the output's lock, so two writers of one run directory cannot interleave)."""
    vocab_json = {"source": vocab.to_dict(), "labels": label_names}
    return write_run_dir(out, model, config, vocab_json, metrics, overwrite=overwrite)


def write_run_dir(
    out: Path, model: nn.Module, config: dict, vocab_json: dict, metrics: dict, *, overwrite: bool
) -> Path:
    """The four files of any run directory (classifier or translator), built under a temporary
    name and renamed into place under the output's lock."""
    out = Path(out)
    with output_lock(out, "save run"):
        tmp = fresh_dir(out, overwrite=overwrite)
        cfg = dict(
            config,
            format_version=FORMAT_VERSION,
            rnnmod_version=__version__,
            model=model.config_dict(),
        )
        write_tensors(tmp / "model.safetensors", model.state_dict())
        write_json(tmp / "config.json", cfg)
        write_json(tmp / "vocab.json", vocab_json)
        write_json(tmp / "metrics.json", metrics)
        return publish_dir(tmp, out)


_MODEL_INTS = ("depth", "vocab_size", "embed_dim", "hidden", "n_classes", "seq_len", "out_steps")


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_count(v: object) -> bool:
    return _is_int(v) and v >= 1


def _model_config(config: object, where: Path) -> ClassifierConfig:
    """The run's ``config.json``, checked: a dict from this or an older rnnmod, a valid model."""
    if not isinstance(config, dict):
        raise RnnmodError(f"{where}: expected a JSON object")
    version = config.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise RnnmodError(f"{where}: format_version must be an integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise RnnmodError(
            f"{where.parent} was written by a newer rnnmod (format {version} > {FORMAT_VERSION}); upgrade rnnmod"
        )
    if not isinstance(config.get("task"), str):
        raise RnnmodError(f"{where}: missing or invalid 'task'")
    m = config.get("model")
    if not isinstance(m, dict):
        raise RnnmodError(f"{where}: missing or invalid model config 'model'")
    bad = [k for k in _MODEL_INTS if k in m and not _is_count(m[k])]
    if bad:
        raise RnnmodError(f"{where}: invalid model config ({bad[0]} must be a positive integer)")
    try:
        mcfg = ClassifierConfig(**m)
        mcfg.validate()
    except (TypeError, ValueError) as e:
        raise RnnmodError(f"{where}: invalid model config ({e})") from None
    if not isinstance(config.get("data_options", {}), dict):
        raise RnnmodError(f"{where}: 'data_options' must be an object")
    pad = config.get("pad_label")
    if pad is not None and not (_is_int(pad) and 0 <= pad < mcfg.n_classes):
        raise RnnmodError(f"{where}: 'pad_label' must be a class index of the model, got {pad!r}")
    return mcfg


def _check_state(state: dict, mcfg: ClassifierConfig, where: Path) -> None:
    """Tensor names and shapes against the config, on the meta device: nothing is allocated,
    so a hand-edited config with huge sizes is refused instead of exhausting memory."""
    try:
        with torch.device("meta"):
            own = SeqClassifier(mcfg).state_dict()
    except (TypeError, ValueError, RuntimeError) as e:
        raise RnnmodError(f"{where.parent / 'config.json'}: invalid model config ({e})") from None
    extra = sorted(set(state) - set(own))
    absent = sorted(set(own) - set(state))
    if extra or absent:
        parts = [
            f"{name} {', '.join(names[:3])}"
            for name, names in (("missing", absent), ("unexpected", extra))
            if names
        ]
        raise RnnmodError(f"{where}: tensors do not match the config ({'; '.join(parts)})")
    for k, v in own.items():
        if state[k].shape != v.shape:
            raise RnnmodError(
                f"{where}: tensor {k!r} has shape {tuple(state[k].shape)}, config needs {tuple(v.shape)}"
            )
        if state[k].dtype != v.dtype:
            raise RnnmodError(
                f"{where}: tensor {k!r} is {state[k].dtype}, the model needs {v.dtype}"
            )


def _vocab_and_labels(voc: object, mcfg: ClassifierConfig, where: Path) -> tuple[Vocab, list[str]]:
    if not isinstance(voc, dict) or "source" not in voc or "labels" not in voc:
        raise RnnmodError(f"{where}: expected a JSON object with 'source' and 'labels'")
    try:
        vocab = Vocab.from_dict(voc["source"])
    except RnnmodError as e:
        raise RnnmodError(f"{where}: {e}") from None
    labels = voc["labels"]
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise RnnmodError(f"{where}: 'labels' must be a list of strings")
    if len(labels) != mcfg.n_classes:
        raise RnnmodError(
            f"{where}: {len(labels)} label names for a model with {mcfg.n_classes} classes"
        )
    if len(set(labels)) != len(labels):
        raise RnnmodError(f"{where}: label names must be distinct")
    if vocab.size > mcfg.vocab_size:
        raise RnnmodError(
            f"{where}: the vocabulary has {vocab.size} ids but the model embeds only {mcfg.vocab_size}"
        )
    if vocab.seq_len != mcfg.seq_len:
        raise RnnmodError(
            f"{where}: the vocabulary pads text to {vocab.seq_len} tokens but the model reads {mcfg.seq_len}"
        )
    return vocab, list(labels)


def load_run(path: Path | str) -> Run:
    """Load and check a run directory; every inconsistency is a one-line :class:`RnnmodError`."""
    path = Path(path)
    if not path.is_dir():
        raise RnnmodError(f"run directory {path} does not exist")
    missing = [f for f in RUN_FILES if not (path / f).is_file()]
    if missing:
        raise RnnmodError(f"{path} is not a complete run directory (missing {', '.join(missing)})")
    config = read_json(path / "config.json")
    if isinstance(config, dict) and config.get("io_type") == "enc-dec":
        from .translate.runs import load_translation_run

        return load_translation_run(path, config)  # type: ignore[return-value]
    mcfg = _model_config(config, path / "config.json")
    state = read_tensors(path / "model.safetensors")
    _check_state(state, mcfg, path / "model.safetensors")
    vocab, labels = _vocab_and_labels(read_json(path / "vocab.json"), mcfg, path / "vocab.json")
    metrics = read_json(path / "metrics.json")
    if not isinstance(metrics, dict):
        raise RnnmodError(f"{path / 'metrics.json'}: expected a JSON object")
    model = SeqClassifier(mcfg)
    model.load_state_dict(state)
    model.eval()
    return Run(model, config, vocab, labels, metrics, path)
