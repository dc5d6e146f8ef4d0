"""The options a task's loader takes — ``load_task(task, data_dir, **options)`` and a run's
``data_options`` — declared once: an option no loader knows is an error, never ignored."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from ..errors import RnnmodError


@dataclass(frozen=True)
class TaskOptions:
    seq_len: int | str | None = None  # tokens read per text: a number, "auto", None = the task's
    legacy_vocab: bool = False  # the paper's preprocessing (docs/data.md)
    max_vocab: int | None = None  # cap on the fitted vocabulary (None: the task's)
    limit: int | None = None  # a seeded subset of the training split, before the vocabulary
    limit_seed: int = 0
    split_seed: int | None = None  # None: the dataset's own
    test_frac: float | None = None  # None: the dataset's own
    file: str | None = None  # user tasks: the data file (split with a seed)
    train_file: str | None = None  # user tasks: the dataset's own splits instead of ``file``
    val_file: str | None = None  # optional
    test_file: str | None = None
    tokenizer: str | None = None  # user text: "words-and-symbols" or "keras" (None: keras)
    text_column: str | int | None = None
    label_column: str | int | None = None

    @classmethod
    def of(cls, options: dict, **dataset_defaults: object) -> TaskOptions:
        """The options given, with the dataset's own defaults where they were left unset."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise RnnmodError(
                f"unknown data option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        opts = cls(**options)
        unset = {k: v for k, v in dataset_defaults.items() if getattr(opts, k) is None}
        return replace(opts, **unset)

    def vocabulary(self) -> tuple:
        """(seq_len, legacy_vocab, max_vocab, limit, limit_seed, split_seed), as loaders unpack."""
        return (
            self.seq_len,
            self.legacy_vocab,
            self.max_vocab,
            self.limit,
            self.limit_seed,
            self.split_seed,
        )
