"""The classifier kind: one module per class of a sequence classifier (1:1, M:1), a multi-label
or multi-step classifier (1:N) or a tagger (M:N). Decomposition is
:func:`rnnmod.decomposition.decompose` (concerns per class, per output step for many-output
models; heads channelled); composed models vote (:mod:`rnnmod.modules.module`); the metric is
accuracy (real tokens only for many-output models, the paper's count with ``legacy_accuracy``).
"""

from __future__ import annotations

from pathlib import Path

from ..composition.evaluate import evaluate_moduleset, load_data_for
from ..data import load_task
from ..data.base import TaskData
from ..decomposition import Decomposition, DecompositionConfig, decompose
from ..errors import RnnmodError
from ..modules.store import ModuleSet
from ..runs import Run
from ..training import TrainConfig, train_classifier
from .base import ModelKind, TrainSpec


class ClassifierKind(ModelKind):
    name = "classifier"

    def fit(self, spec: TrainSpec, *, init: str = "keras", **task_options: object) -> tuple:
        """``init``: the paper's Keras initialisation or PyTorch's; ``task_options`` go to the
        task's loader (``legacy_vocab``; ``file``, ``text_column``, ``label_column`` for the
        user-file tasks) and into the run's config."""
        opts = {
            k: str(v) if isinstance(v, Path) else v
            for k, v in task_options.items()
            if v not in (None, False)
        }
        data = load_task(spec.task, spec.data_dir, **opts)
        data.limit_train(spec.limit, seed=spec.seed)
        tc = TrainConfig(**spec.loop(), init=init)
        model, metrics = train_classifier(data, tc)
        config = {
            **spec.recorded(),
            "task": data.task,
            "io_type": data.io_type,
            "pad_label": data.pad_label,
            "data_options": opts,
            "limit": spec.limit,
        }
        return model, config, data.vocab, data.label_names, metrics, None

    def load_data(self, run: Run, data_dir: Path | str | None) -> TaskData:
        return load_data_for(run, data_dir)

    def decompose(
        self, run: Run, data: TaskData, cfg: DecompositionConfig, *, progress: bool = False
    ) -> Decomposition:
        return decompose(run.model, data, cfg, progress=progress)

    def evaluate(
        self,
        ms: ModuleSet,
        data_dir: Path | str | None,
        *,
        legacy_accuracy: bool = False,
        data: TaskData | None = None,
    ) -> dict:
        if len(ms.sources) > 1:
            raise RnnmodError(
                f"{ms.path} holds modules of several models: evaluate it on labelled texts of its "
                "problem (--labelled CSV with 'text' and 'label' columns, or 'text' and 'tags' for taggers)"
            )
        res = evaluate_moduleset(ms, data_dir, data=data)
        if legacy_accuracy:
            if "composed_legacy" not in res:
                raise RnnmodError("--legacy-accuracy applies to many-output models (1:N, M:N) only")
            res["accuracy"] = "legacy: padding positions counted (paper §7)"
            for k in ("monolithic", "composed", "delta_pp"):
                res[k], res[f"{k}_padding_excluded"] = res.pop(f"{k}_legacy"), res[k]
        elif "composed_legacy" in res:
            res["accuracy"] = "real tokens only (padding positions excluded)"
        return res

    def evaluation_lines(self, res: dict) -> list[str]:
        lines = [
            f"{res['task']} {res['cell']}-{res['depth']} {res['mode']} ({res['preset']}), "
            f"{res['n_modules']} modules, {res['n_test']} test examples",
            f"  monolithic accuracy  {res['monolithic']:.4f}",
            f"  composed accuracy    {res['composed']:.4f}   Δ {res['delta_pp']:+.2f} pp",
            f"  Jaccard (legacy)     {res['jaccard_legacy']:.4f}   Jaccard (mask) {res['jaccard_mask']:.4f}",
            f"  retained units       {res['retained_units']:.1%}   ({res['seconds']:.2f} s)",
        ]
        if "cost_relative" in res:
            layers = ", ".join(f"{x:.1%}" for x in res["retained_per_layer"])
            lines.append(
                f"  arithmetic cost      {res['cost_relative']:.1%} of {res['n_modules']} × monolithic "
                f"({res['cost_vs_monolithic']:.2f} × monolithic; retained per layer {layers})"
            )
        if "accuracy" in res:
            lines.append(f"  accuracy over        {res['accuracy']}")
        lines += [f"  note: {n}" for n in res["notes"]]
        return lines

    def check_composable(self, sets: list[ModuleSet], rule: str, calibrated: bool) -> None:
        """Voting rules and their checks are :func:`rnnmod.composition.compose_modulesets`'s."""


CLASSIFIER = ClassifierKind()
