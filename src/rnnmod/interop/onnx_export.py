"""ONNX export of a composed model (every module, fused into one graph) or of a source model.

A module set (decomposed or composed) becomes one graph ``ids [B, L] int64 → scores, label``:
``scores`` [B, K] (or [B, T, K] for many-output models) is every module's positive-class
probability, exactly what :meth:`ModuleBank.scores` computes, and ``label`` the index of the
winning module (the composed prediction, ``vote``). A run directory becomes
``ids → logits, label``. Labels, I/O type and input length are stored as ONNX metadata
(``rnnmod.labels`` …). Export uses the torch.export-based exporter (``dynamo=True``, the default
since torch 2.9) with a dynamic batch axis, and is checked with onnxruntime when installed.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from .. import __version__
from ..errors import RnnmodError
from ..modules.module import ModuleBank, legacy_head_step, positive_probability
from ..nn.cells import legacy_head_features
from ..nn.zoo import SeqClassifier

VERIFY_TOL = 1e-4


class BankScorer(nn.Module):
    """K modules of one source model as one traceable module: ids [B, L] → scores [B, (T,) K].

    Masks are expanded to one row per (module, example) so that the cell engine needs no
    data-dependent repeat, which keeps the batch axis dynamic in the exported graph.
    """

    def __init__(self, model: SeqClassifier, bank: ModuleBank, output: str = "binary"):
        super().__init__()
        self.model = model
        self.output = output
        self.unit_semantics = bank.engine_semantics(model)
        self.head_step = legacy_head_step(model.one_output)
        self.register_buffer("head_weight", bank.head_weight.float())
        self.register_buffer("head_bias", bank.head_bias.float())
        self.n_unit = len(bank.unit_masks or [])
        self.n_gate = len(bank.gate_masks or [])
        for i, m in enumerate(bank.unit_masks or []):
            self.register_buffer(f"unit_mask_{i}", m.float())
        for i, m in enumerate(bank.gate_masks or []):
            self.register_buffer(f"gate_mask_{i}", m.float())
        self.filled = [f is not None for f in bank.unit_fills or []]
        for i, fill in enumerate(bank.unit_fills or []):
            if fill is not None:  # removed units rebuilt from kept ones (rnnmod.modules.fill)
                self.register_buffer(f"fill_map_{i}", fill[0].float())
                self.register_buffer(f"fill_bias_{i}", fill[1].float())

    def forward(self, ids: Tensor) -> Tensor:
        k, b = self.head_weight.shape[0], ids.shape[0]

        def rows(m: Tensor) -> Tensor:  # [K, S, W] → [K*B, S, W], block k = module k
            return m[:, None].expand(k, b, *m.shape[1:]).reshape(k * b, *m.shape[1:])

        unit = [rows(getattr(self, f"unit_mask_{i}")) for i in range(self.n_unit)] or None
        gate = [rows(getattr(self, f"gate_mask_{i}")) for i in range(self.n_gate)] or None
        fills = [  # one per module: the engine applies map k to row block k (a reshape)
            (getattr(self, f"fill_map_{i}"), getattr(self, f"fill_bias_{i}")) if on else None
            for i, on in enumerate(self.filled)
        ] or None
        run = self.model.run_engine(
            ids,
            unit_masks=unit,
            gate_masks=gate,
            batch_groups=k,
            unit_semantics=self.unit_semantics,
            unit_fills=fills,
        )
        feats = self.model.head_features(run.output, ids)
        if self.unit_semantics == "legacy-edits":
            feats = legacy_head_features(feats, unit[-1], self.head_step)
        feats = feats.reshape(k, b, *feats.shape[1:])
        if feats.dim() == 3:
            z = torch.einsum("kbh,kch->kbc", feats, self.head_weight) + self.head_bias[:, None]
        else:
            z = (
                torch.einsum("kbth,kch->kbtc", feats, self.head_weight)
                + self.head_bias[:, None, None]
            )
        return positive_probability(z, self.output, self.model.cfg.n_classes).movedim(0, -1)


class ComposedModel(nn.Module):
    """Every module of a module set: ids → (scores [B, (T,) K], winning module index)."""

    def __init__(self, parts: list[BankScorer]):
        super().__init__()
        self.parts = nn.ModuleList(parts)

    def forward(self, ids: Tensor) -> tuple[Tensor, Tensor]:
        scores = torch.cat([p(ids) for p in self.parts], dim=-1)
        return scores, scores.argmax(-1)


class SourceModel(nn.Module):
    """A run's model: ids → (logits, predicted class)."""

    def __init__(self, model: SeqClassifier):
        super().__init__()
        self.model = model

    def forward(self, ids: Tensor) -> tuple[Tensor, Tensor]:
        logits = self.model(ids)
        return logits, logits.argmax(-1)


def build_exportable(path: Path | str, labels: list[str] | None = None) -> tuple[nn.Module, dict]:
    """The module to export from a module set or run directory, and its ONNX metadata."""
    path = Path(path)
    if (path / "manifest.json").is_file():
        from ..modules.store import load_moduleset

        ms = load_moduleset(path)
        if not all(isinstance(r.model, SeqClassifier) for r in ms.sources.values()):
            raise RnnmodError(
                f"{path} holds translation modules; ONNX/TorchScript export covers classifiers only"
            )
        if labels is None and ms.rule != "probability":
            raise RnnmodError(
                f"{path} decides by the {ms.rule} rule, which an exported graph does not "
                "carry: export its modules one by one (--labels) or use the set"
            )
        chosen = labels or ms.labels
        unknown = [x for x in chosen if x not in ms.labels]
        if unknown:
            raise RnnmodError(
                f"no module labelled {', '.join(map(repr, unknown))}; available: {', '.join(ms.labels)}"
            )
        parts, names, vocabs = [], [], []
        for sid, bank in ms.banks.items():
            entries = [e for e in ms.entries if e["source"] == sid]
            pos = [i for i, e in enumerate(entries) if e["label"] in chosen]
            if not pos:
                continue
            run = ms.sources[sid]
            parts.append(BankScorer(run.model, bank.select(pos), ms.module_output))
            names += [entries[i]["label"] for i in pos]
            vocabs.append(run.vocab)
        first = vocabs[0]
        if any(v.to_dict() != first.to_dict() for v in vocabs[1:]):
            raise RnnmodError(
                "the chosen modules come from source models with different vocabularies, which "
                "need different id inputs; export the modules of each source separately (--labels)"
            )
        runs = [ms.sources[sid] for sid in ms.banks]
        meta = {
            "rnnmod.kind": "composed",
            "rnnmod.labels": json.dumps(names),
            "rnnmod.module_output": ms.module_output,
            "rnnmod.io_type": runs[0].io_type,
            "rnnmod.seq_len": str(runs[0].model.cfg.seq_len),
            "rnnmod.outputs": "scores: positive-class probability per module; label: index into rnnmod.labels",
        }
        return ComposedModel(parts).eval(), meta
    if (path / "config.json").is_file() and (path / "model.safetensors").is_file():
        from ..runs import load_run

        if labels:
            raise RnnmodError("--labels chooses modules of a module set; a run exports whole")
        run = load_run(path)
        if not isinstance(run.model, SeqClassifier):
            raise RnnmodError(
                f"{path} is a translation model; ONNX/TorchScript export covers classifiers only"
            )
        meta = {
            "rnnmod.kind": "model",
            "rnnmod.labels": json.dumps(run.label_names),
            "rnnmod.io_type": run.io_type,
            "rnnmod.seq_len": str(run.model.cfg.seq_len),
            "rnnmod.semantics": str(run.config.get("semantics", "torch")),
            "rnnmod.outputs": "logits per class; label: index into rnnmod.labels",
        }
        return SourceModel(run.model).eval(), meta
    raise RnnmodError(f"{path} is neither a module set (manifest.json) nor a run directory")


def _inner_model(module: nn.Module) -> SeqClassifier:
    return module.model if isinstance(module, SourceModel) else module.parts[0].model


def sample_ids(module: nn.Module, n: int, seed: int = 0) -> Tensor:
    cfg = _inner_model(module).cfg
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, cfg.vocab_size, (n, cfg.seq_len), generator=g)


def export_onnx(
    path: Path | str,
    out: Path | str,
    *,
    labels: list[str] | None = None,
    opset: int | None = None,
    verify: bool = True,
    overwrite: bool = False,
) -> dict:
    """Export a module set or run to ``out`` (one self-contained .onnx file); with ``verify``,
    run it with onnxruntime on 64 random inputs and compare with PyTorch."""
    try:
        import onnx
        import onnxscript  # noqa: F401  (needed by torch's exporter)
    except ImportError:
        raise RnnmodError(
            "ONNX export needs onnx and onnxscript: pip install 'rnnmod[onnx]'"
        ) from None
    out = Path(out)
    if out.exists() and not overwrite:
        raise RnnmodError(f"{out} already exists; pass --overwrite to replace it")
    module, meta = build_exportable(path, labels)
    example = sample_ids(module, 2)
    is_composed = isinstance(module, ComposedModel)
    names = ["scores", "label"] if is_composed else ["logits", "label"]
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with (
            torch.no_grad(),
            contextlib.redirect_stdout(io.StringIO()),
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore")
            prog = torch.onnx.export(
                module,
                (example,),
                dynamo=True,
                input_names=["ids"],
                output_names=names,
                dynamic_shapes={"ids": {0: torch.export.Dim("batch")}},
                opset_version=opset,
                external_data=False,
                verbose=False,
            )
    except Exception as e:  # noqa: BLE001 — exporter failures become one line
        raise RnnmodError(
            f"ONNX export failed: {type(e).__name__}: {str(e).splitlines()[0]}"
        ) from None
    finally:
        quiet.setLevel(level)
    proto = prog.model_proto
    onnx.helper.set_model_props(proto, {**meta, "rnnmod.version": __version__})
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    onnx.save(proto, str(tmp))
    os.replace(tmp, out)
    info = {
        "out": str(out),
        "kind": meta["rnnmod.kind"],
        "labels": json.loads(meta["rnnmod.labels"]),
        "inputs": {"ids": ["batch", _inner_model(module).cfg.seq_len]},
        "outputs": names,
        "opset": next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None),
        "bytes": out.stat().st_size,
    }
    if verify:
        info["max_abs_diff"] = verify_onnx(out, module)
    return info


def verify_onnx(path: Path | str, module: nn.Module, n: int = 64) -> float | None:
    """Largest |ONNX − PyTorch| over the first output on ``n`` random inputs (also checks the
    label output agrees); None when onnxruntime is not installed."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    ids = sample_ids(module, n, seed=1)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got, got_label = sess.run(None, {"ids": ids.numpy()})
    with torch.no_grad():
        ref, ref_label = module(ids)
    diff = float(abs(got - ref.numpy()).max())
    if diff > VERIFY_TOL:
        raise RnnmodError(f"the ONNX model differs from PyTorch by {diff:.2e} (> {VERIFY_TOL})")
    if (got_label != ref_label.numpy()).mean() > 0.01:  # ties may flip on float noise
        raise RnnmodError("the ONNX model's predicted labels differ from PyTorch's")
    return diff
