"""Trained run directories: model.safetensors, config.json, vocab.json, metrics.json."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from . import FORMAT_VERSION, __version__
from .data.vocab import Vocab
from .errors import RnnmodError
from .locking import output_lock
from .nn.families import ModelFamily, family_of, skipped_init
from .schemas import Metrics, RunConfig, VocabFile, validate
from .snapshot import MAX_JSON_BYTES, DirSnapshot, one_version, parse_json, parse_tensors
from .storage import (
    building,
    publish_dir,
    sha256_file,
    write_bytes_atomic,
    write_json,
    write_tensors,
)

RUN_FILES = ("model.safetensors", "config.json", "vocab.json", "metrics.json")


@dataclass
class Run:
    """A trained model plus everything needed to feed it raw text: a classifier or tagger
    (``vocab``, one label per class) or a translator (``vocab`` of the source language,
    ``target_vocab``, one label per target language)."""

    model: nn.Module
    config: dict
    vocab: Vocab
    label_names: list[str]
    metrics: dict = field(default_factory=dict)
    path: Path | None = None
    target_vocab: Vocab | None = None

    @property
    def task(self) -> str:
        return self.config["task"]

    @property
    def io_type(self) -> str:
        return self.model.cfg.io_type

    @property
    def kind(self) -> str:
        """The model kind (:data:`rnnmod.nn.families.FAMILIES`): classifier or translator."""
        return family_of(self.io_type).kind

    @property
    def pad_label(self) -> int | None:
        return self.config.get("pad_label")

    @property
    def langs(self) -> list[str]:
        """A translator's target languages (its labels)."""
        return self.label_names

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
    target_vocab: Vocab | None = None,
    overwrite: bool = False,
    extra_files: dict[str, bytes] | None = None,
) -> Path:
    """Write a run directory atomically: build it under a temp name, then rename into place
    (under the output's lock, so two writers of one run directory cannot interleave).
    ``extra_files``: more files of the run by name (e.g. the ids of data of its own)."""
    vocab_json = {"source": vocab.to_dict(), "labels": label_names}
    if target_vocab is not None:
        vocab_json = {
            "source": vocab.to_dict(),
            "target": target_vocab.to_dict(),
            "labels": label_names,
        }
        config = dict(config, io_type=model.cfg.io_type)
    out = Path(out)
    with (
        output_lock(out, "save run"),
        building(out, overwrite=overwrite, kind="run directory", marker="metrics.json") as tmp,
    ):
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
        for name, blob in (extra_files or {}).items():
            if name in RUN_FILES or Path(name).name != name:
                raise ValueError(f"not an extra run file name: {name!r}")
            write_bytes_atomic(tmp / name, blob)
        return publish_dir(tmp, out)


_MODEL_INTS = (
    "depth",
    "vocab_size",
    "embed_dim",
    "hidden",
    "n_classes",
    "seq_len",
    "out_steps",
    "src_vocab_size",
    "tgt_vocab_size",
    "src_len",
    "tgt_len",
)


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_count(v: object) -> bool:
    return _is_int(v) and v >= 1


def _model_config(config: object, where: Path) -> tuple[ModelFamily, object]:
    """The run's ``config.json``, checked: a dict from this or an older rnnmod, a valid model of
    one of the zoo's families."""
    if not isinstance(config, dict):
        raise RnnmodError(f"{where}: expected a JSON object")
    version = config.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise RnnmodError(f"{where}: format_version must be an integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise RnnmodError(
            f"{where.parent} was written by a newer rnnmod (format {version} > {FORMAT_VERSION}); upgrade rnnmod"
        )
    validate(config, where, RunConfig)
    try:
        family = family_of(config.get("io_type"))
    except ValueError as e:
        raise RnnmodError(f"{where}: {e}") from None
    m = config["model"]
    bad = [k for k in _MODEL_INTS if k in m and not _is_count(m[k])]
    if bad:
        raise RnnmodError(f"{where}: invalid model config ({bad[0]} must be a positive integer)")
    try:
        mcfg = family.config(**m)
        mcfg.validate()
    except (TypeError, ValueError) as e:
        raise RnnmodError(f"{where}: invalid model config ({e})") from None
    pad = config.get("pad_label")
    n_classes = getattr(mcfg, "n_classes", 0)
    if pad is not None and not (_is_int(pad) and 0 <= pad < n_classes):
        raise RnnmodError(f"{where}: 'pad_label' must be a class index of the model, got {pad!r}")
    return family, mcfg


def _build(family: ModelFamily, mcfg: object, where: Path) -> nn.Module:
    """The config's model with uninitialised weights. Uninitialised memory is never touched, so
    a hand-edited config with huge sizes costs no RAM: an impossible allocation is refused, a
    possible one fails the shape check against the file."""
    try:
        with skipped_init():
            return family.model(mcfg)
    except (RuntimeError, MemoryError) as e:
        if "allocate" not in str(e) and not isinstance(e, MemoryError):
            raise RnnmodError(
                f"{where.parent / 'config.json'}: invalid model config ({e})"
            ) from None
        raise RnnmodError(
            f"{where}: tensors do not match the config (its model would need more memory than "
            "this machine has; was config.json edited?)"
        ) from None
    except (TypeError, ValueError) as e:
        raise RnnmodError(f"{where.parent / 'config.json'}: invalid model config ({e})") from None


def _check_state(state: dict, model: nn.Module, where: Path) -> None:
    """Tensor names, shapes and dtypes of the file against the config's model."""
    own = model.state_dict()
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


def _vocabularies(
    voc: object, family: ModelFamily, mcfg, where: Path
) -> tuple[Vocab, Vocab | None, list[str]]:
    validate(voc, where, VocabFile)
    if family.target_vocab and not isinstance(voc.get("target"), dict):
        raise RnnmodError(f"{where}: a translator's vocab.json needs a 'target' vocabulary")
    try:
        vocab = Vocab.from_dict(voc["source"])
        target = Vocab.from_dict(voc["target"]) if family.target_vocab else None
    except RnnmodError as e:
        raise RnnmodError(f"{where}: {e}") from None
    labels = voc["labels"]
    if len(set(labels)) != len(labels):
        raise RnnmodError(f"{where}: label names must be distinct")
    problem = mcfg.vocabulary_problem(vocab, target, labels)
    if problem:
        raise RnnmodError(f"{where}: {problem}")
    return vocab, target, list(labels)


def load_run(path: Path | str) -> Run:
    """Load and check a run directory of any model family; every inconsistency is a one-line
    :class:`RnnmodError`. One published version is read, even while another process replaces
    the directory (:mod:`rnnmod.snapshot`)."""
    path = Path(path)
    if not path.is_dir():
        raise RnnmodError(f"run directory {path} does not exist")
    if (path / "manifest.json").is_file() and not (path / "config.json").exists():
        raise RnnmodError(
            f"{path} is a module set, not a run directory (its source runs are in {path / 'sources'})"
        )
    return one_version(path, read_run)


def read_run(snap: DirSnapshot, verified: dict[str, bytes] | None = None) -> Run:
    """A run from an opened directory; ``verified``: file bytes already read and checked
    against a manifest (a module set's source)."""
    path = snap.path
    verified = verified or {}
    missing = [f for f in RUN_FILES if f not in verified and not snap.is_file(f)]
    if missing:
        raise RnnmodError(f"{path} is not a complete run directory (missing {', '.join(missing)})")

    def raw(name: str, **limits: int) -> bytes:
        return verified[name] if name in verified else snap.read(name, **limits)

    config = parse_json(raw("config.json", max_bytes=MAX_JSON_BYTES), path / "config.json")
    family, mcfg = _model_config(config, path / "config.json")
    where = path / "model.safetensors"
    model = _build(family, mcfg, where)
    weights = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    # the file holds the weights plus a header of names, shapes and metadata
    state = parse_tensors(raw("model.safetensors", max_bytes=weights + (16 << 20)), where)
    state = family.current_names(state)
    _check_state(state, model, where)
    vocab, target, labels = _vocabularies(
        parse_json(raw("vocab.json", max_bytes=MAX_JSON_BYTES), path / "vocab.json"),
        family,
        mcfg,
        path / "vocab.json",
    )
    metrics = parse_json(raw("metrics.json", max_bytes=MAX_JSON_BYTES), path / "metrics.json")
    validate(metrics, path / "metrics.json", Metrics)
    model.load_state_dict(state)
    model.eval()
    return Run(model, config, vocab, labels, metrics, path, target)
