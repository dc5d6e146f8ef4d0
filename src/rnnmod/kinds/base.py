"""What a model kind must say of itself: the hooks the one pipeline (load, decompose, save,
evaluate, compose, predict) calls where kinds differ. One handler per kind implements them and
is registered in :data:`rnnmod.kinds.KINDS`; nothing else asks "which kind?"."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path

from ..decomposition import Decomposition, DecompositionConfig, preset
from ..errors import RnnmodError
from ..modules.store import ModuleSet
from ..runs import Run, load_run, save_run


@dataclass(frozen=True)
class TrainSpec:
    """What training takes for every kind; the rest are the kind's own options."""

    task: str
    cell: str = "lstm"
    depth: int = 1
    epochs: int | None = None  # None: the kind's (the paper's) default
    batch_size: int | None = None
    seed: int = 0
    limit: int | None = None  # a seeded subset of this many training examples
    data_dir: Path | str | None = None
    progress: bool = False

    def loop(self) -> dict:
        """The fields the kinds' training loops take alike."""
        return {
            k: getattr(self, k)
            for k in ("cell", "depth", "epochs", "batch_size", "seed", "progress")
        }

    def recorded(self) -> dict:
        """The fields every run's ``config.json`` records."""
        return {"task": self.task, "cell": self.cell, "depth": self.depth, "seed": self.seed}


TRANSLATION_SCOPE = "translation (tatoeba)"
#: where each kind-specific training option applies (the error when it is given elsewhere)
OPTION_SCOPE = {
    "init": "classifier tasks",
    "skip_padding": "classifier tasks",
    "readout": "classifier tasks",
    "head_hidden": "classifier tasks",
    "seq_len": "classifier tasks",
    "legacy_vocab": "the paper's classifier tasks (brown, clinc, emotions, mathqa, toxic)",
    "file": "text-classification, tagging and ids",
    "train_file": "text-classification and tagging",
    "val_file": "text-classification and tagging",
    "test_file": "text-classification and tagging",
    "text_column": "text-classification and tagging",
    "label_column": "text-classification and tagging",
    "langs": TRANSLATION_SCOPE,
    "test_per_lang": TRANSLATION_SCOPE,
    "output_layer": TRANSLATION_SCOPE,
    "bucket": TRANSLATION_SCOPE,
    "attention": TRANSLATION_SCOPE,
    "patience": TRANSLATION_SCOPE,
    "split": TRANSLATION_SCOPE,
    "lr": TRANSLATION_SCOPE,
    "label_smoothing": TRANSLATION_SCOPE,
    "dropout": TRANSLATION_SCOPE,
    "time_limit": TRANSLATION_SCOPE,
    "punctuation": TRANSLATION_SCOPE,
    "clip_norm": TRANSLATION_SCOPE,
    "lr_decay": TRANSLATION_SCOPE,
    "precision": TRANSLATION_SCOPE,
}
#: training options of translators only (classifier tasks refuse them)
TRANSLATION_ONLY = tuple(k for k, v in OPTION_SCOPE.items() if v == TRANSLATION_SCOPE)


def refuse_option(task: str, option: str) -> None:
    """An option given for a task it does not apply to: one line naming it."""
    scope = OPTION_SCOPE.get(option)
    why = f": it is for {scope}" if scope else ""
    raise RnnmodError(f"--{option.replace('_', '-')} does not apply to --task {task}{why}")


def positive_option(name: str, value: object) -> int | None:
    """A size option (``hidden``, ``embed_dim``): None (the task's default) or a count ≥ 1."""
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise RnnmodError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")
    return value


class ModelKind:
    """The base handler: every hook a kind must fill raises, so a missing one is loud."""

    name = "kind"
    #: whether the kind's modules vote for a label (a translator's route by language instead)
    votes = True
    #: decomposition options (DecompositionConfig fields) that make no sense for this kind
    refused_options: dict[str, str] = {}
    #: the kind's own defaults for decomposition options the user left unset
    option_defaults: dict[str, object] = {}

    def check_options(self, **options: object) -> None:
        """Refuse the options given (not None) that this kind cannot take."""
        for opt, why in self.refused_options.items():
            if options.get(opt) is not None:
                raise RnnmodError(f"--{opt.replace('_', '-')} {why}")

    def decomposition_config(self, preset_name: str, **overrides: object) -> DecompositionConfig:
        """The preset with the user's overrides (None = unset); refuses options of other kinds."""
        self.check_options(**overrides)
        given = {k: v for k, v in overrides.items() if v is not None}
        return preset(preset_name, **{**self.option_defaults, **given})

    def train(
        self,
        task: str,
        *,
        out: Path | str | None = None,
        overwrite: bool = False,
        cell: str = "lstm",
        depth: int = 1,
        epochs: int | None = None,
        batch_size: int | None = None,
        seed: int = 0,
        limit: int | None = None,
        data_dir: Path | str | None = None,
        progress: bool = False,
        **options: object,
    ) -> Run:
        """Train a model of this kind on ``task``; with ``out``, write and read back its run
        directory. ``options`` are the kind's own (:meth:`fit`)."""
        spec = TrainSpec(task, cell, depth, epochs, batch_size, seed, limit, data_dir, progress)
        self.check_train_options(task, options)
        model, config, vocab, labels, metrics, target = self.fit(spec, **options)
        return self.trained_run(out, overwrite, model, config, vocab, labels, metrics, target)

    def check_train_options(self, task: str, options: dict) -> None:
        """Refuse options that do not apply to ``task`` (given: not None/False). By default the
        kind takes the keyword parameters of its :meth:`fit`."""
        params = inspect.signature(self.fit).parameters
        for name, value in options.items():
            if value is not None and value is not False and name not in params:
                refuse_option(task, name)

    def fit(self, spec: TrainSpec, **options: object) -> tuple:
        """(model, config, vocab, labels, metrics, target vocab or None) of a trained model."""
        raise NotImplementedError

    def load_data(self, run: Run, data_dir: Path | str | None):
        raise NotImplementedError

    @staticmethod
    def trained_run(
        out, overwrite: bool, model, config: dict, vocab, labels, metrics, target=None
    ) -> Run:
        """A freshly trained model as a :class:`Run`: written to ``out`` and read back, or kept
        in memory when ``out`` is None."""
        if out is None:
            config = dict(config, io_type=model.cfg.io_type)
            return Run(model, config, vocab, labels, metrics, None, target)
        save_run(
            Path(out),
            model,
            config,
            vocab,
            labels,
            metrics,
            target_vocab=target,
            overwrite=overwrite,
        )
        return load_run(out)

    def router(self, source: Run | ModuleSet):
        """A function language → route (model, vocabularies, masks) of a translation model."""
        raise RnnmodError(f"{source.path} holds a {self.name}, not a translation model")

    def decompose(
        self, run: Run, data, cfg: DecompositionConfig, *, progress: bool
    ) -> Decomposition:
        raise NotImplementedError

    #: the kind's objective for learned masks (None: classifiers', rnnmod.decomposition.learned)
    mask_objective = None

    def learn_masks(self, run: Run, data, bank, **options: object) -> tuple:
        """Learned masks for the default decomposition's ``bank`` (docs/budget.md): the shared
        learner with this kind's objective; ``options`` are :func:`learned_masks`'s keywords."""
        from ..decomposition.learned import learned_masks

        return learned_masks(run.model, data, bank, objective=self.mask_objective, **options)

    def evaluate(self, ms: ModuleSet, data_dir: Path | str | None, **options: object) -> dict:
        raise NotImplementedError

    def evaluation_lines(self, res: dict) -> list[str]:
        """The human-readable report of :meth:`evaluate`'s result."""
        raise NotImplementedError

    def check_composable(self, sets: list[ModuleSet], rule: str, calibrated: bool) -> None:
        """Refuse module sets this kind cannot compose under ``rule``."""
        raise NotImplementedError

    def compose_extra(self, sets: list[ModuleSet], parts: list) -> dict:
        """Manifest fields of a composed set beyond those every kind writes."""
        return {}
