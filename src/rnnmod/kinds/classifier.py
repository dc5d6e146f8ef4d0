"""The classifier kind: one module per class of a sequence classifier (1:1, M:1), a multi-label
or multi-step classifier (1:N) or a tagger (M:N). Decomposition is
:func:`rnnmod.decomposition.decompose` (concerns per class, per output step for many-output
models; heads channelled); composed models vote (:mod:`rnnmod.modules.module`); the metric is
accuracy (real tokens only for many-output models, the paper's count with ``legacy_accuracy``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..composition.evaluate import evaluate_moduleset, load_data_for
from ..data import PRE_TOKENISED_TASKS, USER_FILE_TASKS, load_task
from ..data.base import TaskData, check_max_vocab
from ..data.userfiles import FILE_OPTIONS
from ..data.vocab import AUTO, check_seq_len
from ..decomposition import Decomposition, DecompositionConfig, decompose
from ..errors import RnnmodError
from ..modules.store import ModuleSet
from ..runs import Run
from ..training import TrainConfig, train_classifier
from .base import TRANSLATION_ONLY, ModelKind, TrainSpec, positive_option, refuse_option


def file_record(path: Path) -> dict:
    """A data file as a run records it: its absolute path and the sha256 of its bytes."""
    return {"path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


class ClassifierKind(ModelKind):
    name = "classifier"
    refused_options = {
        "beam": "is for translation models (classifiers decode nothing)",
        "no_unk": "is for translation models (classifiers decode nothing)",
        "test_per_lang": "is for translation models (a classifier is tested on its whole test split)",
    }

    def check_train_options(self, task: str, options: dict) -> None:
        """Translation options are refused; the user-file options (``file``, ``train_file``,
        ``val_file``, ``test_file``, ``text_column``, ``label_column``) apply to the user-file
        tasks only, ``legacy_vocab`` to the paper's, ``tokenizer`` to text-classification (a
        tagging file is tokenised already)."""
        user = task in USER_FILE_TASKS
        for name, value in options.items():
            if value is None or value is False:
                continue
            if name in TRANSLATION_ONLY:
                refuse_option(task, name)
            if name in (*FILE_OPTIONS, "text_column", "label_column") and not user:
                refuse_option(task, name)
            if name == "legacy_vocab" and user:
                refuse_option(task, name)
            if name == "tokenizer" and task != "text-classification":
                refuse_option(task, name)
        if options.get("legacy_vocab") and options.get("max_vocab") is not None:
            raise RnnmodError(
                "--max-vocab cannot be combined with --legacy-vocab: the paper's preprocessing "
                "fixes its vocabulary"
            )

    def fit(
        self,
        spec: TrainSpec,
        *,
        init: str | None = None,
        hidden: int | None = None,
        embed_dim: int | None = None,
        max_vocab: int | None = None,
        seq_len: int | str | None = None,
        bidirectional: bool = False,
        skip_padding: bool = False,
        readout: str | None = None,
        head_hidden: list[int] | None = None,
        **task_options: object,
    ) -> tuple:
        """``init``: the paper's Keras initialisation (default) or PyTorch's; ``hidden`` and
        ``embed_dim``: the model's sizes (None: the task's, :data:`~rnnmod.data.TASKS`);
        ``max_vocab``: cap on the vocabulary fitted on the training split (None: the task's);
        ``seq_len``: tokens per text, a number or ``"auto"`` (None: the paper's length for the
        paper's tasks, ``"auto"`` for the user-file tasks). ``spec.limit`` keeps a seeded subset
        of the training split before the vocabulary is fitted. These and ``task_options``
        (``legacy_vocab``; ``hold_out``, a fraction of the training split kept out of training
        as the validation split; ``file`` or ``train_file``/``val_file``/``test_file``,
        ``text_column``, ``label_column`` for the user-file tasks) go to the task's loader and
        into the run's ``data_options``; each user file is recorded with its absolute path and
        sha256 (``data_files``). ``bidirectional``, ``skip_padding`` (hold the state over
        padding, packed-sequence semantics), ``readout`` (``last``/``mean``/``max`` over real
        steps, M:1) and ``head_hidden`` (MLP widths, ReLU) shape the model beyond the paper's
        (:class:`~rnnmod.nn.zoo.ClassifierConfig`)."""
        hidden = positive_option("hidden", hidden)
        embed_dim = positive_option("embed_dim", embed_dim)
        user = spec.task in USER_FILE_TASKS
        seq_len = check_seq_len(seq_len)
        if seq_len is None and user and spec.task not in PRE_TOKENISED_TASKS:
            seq_len = AUTO  # an ids file has its length already
        opts = {
            k: str(v) if isinstance(v, Path) else v
            for k, v in task_options.items()
            if v not in (None, False)
        }
        if seq_len is not None:
            opts["seq_len"] = seq_len
        if spec.task == "text-classification":  # users' text keeps punctuation and emoticons
            opts.setdefault("tokenizer", "words-and-symbols")
        if max_vocab is not None:
            opts["max_vocab"] = check_max_vocab(max_vocab)
        if spec.limit is not None:
            opts |= {"limit": spec.limit, "limit_seed": spec.seed}
        if "hold_out" in opts:  # the run reloads the same held-out rows (load_task)
            opts["hold_out_seed"] = spec.seed
        data = load_task(spec.task, spec.data_dir, **opts)
        if seq_len is not None:  # "auto" resolved: the run reloads its data at that length
            opts["seq_len"] = data.vocab.seq_len
        files = {}
        if user:  # absolute paths: found from any working directory
            given = {k: data.extra[k] for k in FILE_OPTIONS if k in data.extra}
            opts |= given
            files["data_files"] = [file_record(Path(p)) for p in given.values()]
        shape = {
            "bidirectional": bool(bidirectional),
            "padding": "skipped" if skip_padding else "tokens",
            "readout": readout or "last",
            "head_hidden": [positive_option("head_hidden", w) for w in head_hidden or []],
        }
        tc = TrainConfig(
            **spec.loop(), init=init or "keras", hidden=hidden, embed_dim=embed_dim, shape=shape
        )
        model, metrics = train_classifier(data, tc)
        config = {
            **spec.recorded(),
            "task": spec.task,
            **({"task_name": data.task} if data.task != spec.task else {}),
            "io_type": data.io_type,
            "pad_label": data.pad_label,
            "data_options": opts,
            "limit": spec.limit,
            **files,
        }
        if seq_len is not None:
            config |= {"seq_len": data.vocab.seq_len, "seq_len_option": seq_len}
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
        progress: bool = False,
    ) -> dict:
        if len(ms.sources) > 1:
            raise RnnmodError(
                f"{ms.path} holds modules of several models: evaluate it on labelled texts of its "
                "problem (--labelled CSV with 'text' and 'label' columns, or 'text' and 'tags' for taggers)"
            )
        res = evaluate_moduleset(ms, data_dir, data=data, progress=progress)
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
            f"{res.get('task_name', res['task'])} {res['cell']}-{res['depth']} {res['mode']} ({res['preset']}), "
            f"{res['n_modules']} modules, {res['n_test']} test examples",
            *(
                [f"  structure            {', '.join(res['structure'])}"]
                if "structure" in res
                else []
            ),
            f"  monolithic accuracy  {res['monolithic']:.4f}",
            f"  composed accuracy    {res['composed']:.4f}   Δ {res['delta_pp']:+.2f} pp",
            f"  Jaccard (legacy)     {res['jaccard_legacy']:.4f}   Jaccard (mask) {res['jaccard_mask']:.4f}",
            f"  retained units       {res['retained_units']:.1%}   ({res['seconds']:.2f} s)"
            + {
                "linear": "; removed units rebuilt from kept ones (linear fill)",
                "learned": "; removed units rebuilt from kept ones (learned linear fill)",
            }.get(res.get("removed_units"), ""),
        ]
        if "cost_relative" in res:
            layers = ", ".join(f"{x:.1%}" for x in res["retained_per_layer"])
            lines.append(
                f"  arithmetic cost      {res['cost_relative']:.1%} of {res['n_modules']} × monolithic "
                f"({res['cost_vs_monolithic']:.2f} × monolithic; retained per layer {layers})"
            )
        if "kernel" in res:
            lines.append(f"  scored on            {res['kernel']}")
        if "learned_budget" in res:
            b = res["learned_budget"]
            judged = f", the {b['confidence']:.0%} lower bound" if b.get("confidence") else ""
            lines.append(
                f"  learned budget       {b['tolerance_pp']:g} pp on validation{judged}: "
                f"{b['val_chosen']:.4f} vs monolithic {b['val_monolithic']:.4f} "
                f"({b['validation'].split('; judged on')[0]})"  # the bound is named before
            )
        if "macro_f1_composed" in res:
            lines.append(
                f"  macro-F1             monolithic {res['macro_f1_monolithic']:.4f}   "
                f"composed {res['macro_f1_composed']:.4f}"
            )
        if "entity_composed" in res:
            m, c = res["entity_monolithic"], res["entity_composed"]
            lines.append(
                f"  entities (seqeval)   monolithic P {m['precision']:.4f} R {m['recall']:.4f} "
                f"F1 {m['f1']:.4f}   composed P {c['precision']:.4f} R {c['recall']:.4f} "
                f"F1 {c['f1']:.4f}"
            )
        if "accuracy" in res:
            lines.append(f"  accuracy over        {res['accuracy']}")
        lines += [f"  note: {n}" for n in res["notes"]]
        return lines

    def check_composable(self, sets: list[ModuleSet], rule: str, calibrated: bool) -> None:
        """Voting rules and their checks are :func:`rnnmod.composition.compose_modulesets`'s."""


CLASSIFIER = ClassifierKind()
