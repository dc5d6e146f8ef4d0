"""What every dataset loader returns, and the registry of named tasks."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from ..errors import RnnmodError
from .vocab import Vocab


@dataclass(frozen=True)
class TaskSpec:
    """Architecture and training defaults of a named task (paper-method §2.2)."""

    name: str
    io_type: str
    seq_len: int
    embed_dim: int
    epochs: int
    batch_size: int
    hidden: int = 100


TASKS: dict[str, TaskSpec] = {
    "mathqa": TaskSpec("mathqa", "1:1", 20, 50, 5, 32),
    "toxic": TaskSpec("toxic", "1:N", 20, 50, 5, 32),
    "emotions": TaskSpec("emotions", "1:N", 20, 50, 5, 32),
    "clinc": TaskSpec("clinc", "M:1", 15, 50, 15, 128),
    "brown": TaskSpec("brown", "M:N", 15, 100, 10, 128),
    "text-classification": TaskSpec("text-classification", "M:1", 15, 50, 15, 128),
    "tagging": TaskSpec("tagging", "M:N", 15, 100, 10, 128),
}


def seeded_subset(total: int, n: int, seed: int = 0) -> Tensor:
    """``n`` of ``total`` indices, drawn at random with ``seed``, in ascending order (the one
    rule for "a seeded subset" of a split: training/test limits, calibration samples, exports)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(total, generator=g)[:n].sort().values


@dataclass
class TaskData:
    """Id tensors of one task, ready for training and decomposition.

    ``y`` is [N] for one-output tasks and [N, T_out] for 1:N / M:N (0 = padding class there).
    ``notes`` says where the data differ from the paper's (partial splits, substitutes).
    ``extra["texts_train"]`` / ``extra["texts_test"]``: the raw texts, aligned with ``x_train`` /
    ``x_test`` (``vocab.encode_texts`` gives back the ids), for modules of other vocabularies.
    """

    task: str
    io_type: str
    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    vocab: Vocab
    label_names: list[str]
    out_steps: int = 1
    pad_label: int | None = None
    notes: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    # a held-out validation split when the dataset ships one (Clinc val.csv); None otherwise
    x_val: Tensor | None = None
    y_val: Tensor | None = None

    @classmethod
    def from_split(cls, x: Tensor, y: Tensor, train: Tensor, test: Tensor, **fields) -> TaskData:
        """Build from the whole id/label tensors and the train/test index split."""
        return cls(x_train=x[train], y_train=y[train], x_test=x[test], y_test=y[test], **fields)

    @property
    def n_classes(self) -> int:
        return len(self.label_names)

    def limit_train(self, n: int | None, seed: int = 0) -> TaskData:
        """Keep a seeded random subset of ``n`` training examples (files are often sorted by label).

        This limits data already encoded; to fit the vocabulary on the kept examples only,
        give the loader ``limit=n, limit_seed=seed`` (:func:`limited`, the same subset)."""
        if n is None or n >= len(self.x_train):
            return self
        keep = seeded_subset(len(self.x_train), n, seed)
        self.x_train, self.y_train = self.x_train[keep], self.y_train[keep]
        if "texts_train" in self.extra:
            self.extra["texts_train"] = [self.extra["texts_train"][i] for i in keep.tolist()]
        self.notes.append(_limit_note(n, seed))
        return self

    def hold_out_val(self, frac: float, seed: int = 0) -> TaskData:
        """Move a seeded (stratified for one-output tasks) ``frac`` of the training split into
        the validation split, for a dataset that ships none: a model trained without those rows
        is judged on data it never saw when a budget or calibration reads the validation split
        (a slice carved later from the training split was seen in training)."""
        if not 0 < frac < 1:
            raise RnnmodError(f"--hold-out must be in (0, 1), got {frac}")
        if self.x_val is not None:
            raise RnnmodError(
                f"{self.task} has its own validation split; --hold-out is for datasets without one"
            )
        strata = self.y_train if self.y_train.dim() == 1 else None
        train, val = seeded_split(len(self.x_train), frac, seed, strata)
        self.x_val, self.y_val = self.x_train[val], self.y_train[val]
        self.x_train, self.y_train = self.x_train[train], self.y_train[train]
        if "texts_train" in self.extra:
            texts = self.extra["texts_train"]
            self.extra["texts_val"] = [texts[i] for i in val.tolist()]
            self.extra["texts_train"] = [texts[i] for i in train.tolist()]
        self.notes.append(
            f"{self.task}: a seeded {frac:.0%} of the training split (seed {seed}, {len(val)} "
            "examples) held out as the validation split; the model never trained on it"
        )
        return self

    def limit_test(self, n: int | None, seed: int = 0) -> TaskData:
        """Keep a seeded random subset of ``n`` test examples (evaluating a large test split,
        e.g. Brown's, on a budget); the raw texts stay aligned."""
        if not n or n >= len(self.x_test):
            return self
        keep = seeded_subset(len(self.x_test), n, seed)
        n_all = len(self.x_test)
        self.x_test, self.y_test = self.x_test[keep], self.y_test[keep]
        for key in ("texts_test", "test_id_counts"):
            if key in self.extra:
                self.extra[key] = [self.extra[key][i] for i in keep.tolist()]
        self.notes.append(
            f"{self.task}: evaluated on a seeded random {n} of the {n_all} test examples"
        )
        return self

    def check(self) -> None:
        for name, t in (("train", self.x_train), ("test", self.x_test)):
            if len(t) == 0:
                raise RnnmodError(f"{self.task}: the {name} split is empty")
        present = set(torch.unique(self.y_train).tolist()) - {self.pad_label}
        if len(present) < 2:
            raise RnnmodError(f"{self.task}: the training split has fewer than two classes")
        for name, y in (("train", self.y_train), ("test", self.y_test)):
            if int(y.min()) < 0 or int(y.max()) >= self.n_classes:
                raise RnnmodError(
                    f"{self.task}: the {name} split has labels outside its {self.n_classes} classes"
                )


def _limit_note(n: int, seed: int) -> str:
    return f"training set limited to {n} examples (seeded random subset, seed {seed})"


def limited(train: Tensor, limit: object, seed: object = 0) -> tuple[Tensor, list[str]]:
    """The training indices a loader keeps under its ``limit`` option, and the note saying so:
    the seeded subset of :meth:`TaskData.limit_train` (same examples, same order), taken
    *before* the vocabulary is fitted so that it holds only words of the kept examples."""
    if limit is None:
        return train, []
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise RnnmodError(f"--limit must be a positive number of examples, got {limit!r}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise RnnmodError(f"the limit's seed must be an integer, got {seed!r}")
    if limit >= len(train):
        return train, []
    return train[seeded_subset(len(train), limit, seed)], [_limit_note(limit, seed)]


def check_max_vocab(max_vocab: object) -> int | None:
    """A vocabulary cap as the loaders take it: None (the task's) or at least 3 ids (padding,
    unknown and one word)."""
    if max_vocab is None:
        return None
    if not isinstance(max_vocab, int) or isinstance(max_vocab, bool) or max_vocab < 3:
        raise RnnmodError(
            f"--max-vocab must be at least 3 (padding, unknown and one word), got {max_vocab!r}"
        )
    return max_vocab


def require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise RnnmodError(f"missing data file {path}: {what}")
    return path


def seeded_split(
    n: int, test_frac: float, seed: int, strata: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Deterministic (stratified when ``strata`` is given) train/test index split."""
    g = torch.Generator().manual_seed(seed)
    if strata is None:
        perm = torch.randperm(n, generator=g)
        k = int(round(n * test_frac))
        return perm[k:].sort().values, perm[:k].sort().values
    train, test = [], []
    for c in torch.unique(strata):
        idx = torch.nonzero(strata == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        k = int(round(len(idx) * test_frac))
        test.append(idx[:k])
        train.append(idx[k:])
    return torch.cat(train).sort().values, torch.cat(test).sort().values
