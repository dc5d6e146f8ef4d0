"""What a model kind must say of itself: the hooks the one pipeline (load, decompose, save,
evaluate, compose, predict) calls where kinds differ. One handler per kind implements them and
is registered in :data:`rnnmod.kinds.KINDS`; nothing else asks "which kind?"."""

from __future__ import annotations

from pathlib import Path

from ..decomposition import Decomposition, DecompositionConfig, preset
from ..errors import RnnmodError
from ..modules.store import ModuleSet
from ..runs import Run, load_run, save_run


class ModelKind:
    """The base handler: every hook a kind must fill raises, so a missing one is loud."""

    name = "kind"
    #: decomposition options (DecompositionConfig fields) that make no sense for this kind
    refused_options: dict[str, str] = {}
    #: the kind's own defaults for decomposition options the user left unset
    option_defaults: dict[str, object] = {}

    def decomposition_config(self, preset_name: str, **overrides: object) -> DecompositionConfig:
        """The preset with the user's overrides (None = unset); refuses options of other kinds."""
        for opt, why in self.refused_options.items():
            if overrides.get(opt) is not None:
                raise RnnmodError(f"--{opt.replace('_', '-')} {why}")
        given = {k: v for k, v in overrides.items() if v is not None}
        return preset(preset_name, **{**self.option_defaults, **given})

    def train(self, task: str, *, out: Path | str | None, overwrite: bool, **options) -> Run:
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
        raise RnnmodError(
            f"{source.path} is a {source.io_type} {self.name}, not a translation model"
        )

    def decompose(
        self, run: Run, data, cfg: DecompositionConfig, *, progress: bool
    ) -> Decomposition:
        raise NotImplementedError

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
