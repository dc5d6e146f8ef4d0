"""Export one module as a plain ``torch.nn`` model, optionally physically smaller.

A module is its source model with units removed (dead: state and output exactly 0) and the head
channelled to (negative, positive[, padding]). Because a dead unit contributes nothing to any
other unit, the next layer or the head, removing it is *slicing*: its rows in every gate block of
its own layer, its column in that layer's recurrent matrix, in the next layer's input matrix and
in the head. The sliced model computes the kept units' states exactly as the masked module does.

Where slicing is impossible we say so instead of faking it:

* unrolled modules whose masks differ between time steps — one ``nn.LSTM`` has one set of units;
* per-gate modules — a masked gate column still produces σ(0) = 0.5, it is not absent;
* a layer with every unit removed; sources whose semantics native torch cannot run.

``compact=False`` exports the same-size model with the masks baked into zeroed weight rows
(exactly equal too, see :func:`export_module`), which also covers per-gate modules, and modules
run with the original tool's edits (``legacy-edits``, one mask for every step): their removed
units keep a state that the kept units read, so they cannot be sliced out, but the tool's edited
weights (removed units' input and bias rows, and the recurrent weights between two removed
units, at zero) are a plain model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from .. import FORMAT_VERSION, __version__
from ..data.vocab import Vocab
from ..errors import RnnmodError
from ..locking import output_lock
from ..nn.cells import N_GATES
from ..nn.packing import SkippedPadding
from ..nn.zoo import (
    ACTIVATIONS,
    UserShape,
    embed_for_stack,
    make_rnn,
    read_out,
    skipped_steps,
)
from ..storage import building, publish_dir, read_json, read_tensors, write_json, write_tensors
from .fill import module_weights
from .module import positive_probability
from .store import ModuleSet

KIND = "rnnmod.exported_module"


@dataclass
class ExportConfig(UserShape):
    io_type: str
    cell: str
    vocab_size: int
    embed_dim: int
    seq_len: int
    out_steps: int
    hidden_sizes: list[int]
    n_classes: int  # of the source model (the softmax module output needs it)
    head_rows: int
    module_output: str = "binary"
    label: str = ""
    compact: bool = True
    extra: dict = field(default_factory=dict)
    # the backward direction's widths per layer (bidirectional sources); padding, readout and
    # the MLP before the head (UserShape) as the source model has them
    reverse_sizes: list[int] = field(default_factory=list)


class ExportedModule(nn.Module):
    """Embedding → recurrent layers of per-layer (per-direction) widths → readout → MLP →
    channelled head, on native torch layers only. A bidirectional source's backward directions
    are their own layers (``rnns_reverse``): a module may keep different units in each."""

    def __init__(self, cfg: ExportConfig):
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embed_dim)
        flat = cfg.io_type in ("1:1", "1:N")
        widths = self.widths
        sizes = [cfg.embed_dim * cfg.seq_len if flat else cfg.embed_dim, *widths[:-1]]
        self.rnns = nn.ModuleList(
            make_rnn(cfg.cell, i, h) for i, h in zip(sizes, cfg.hidden_sizes, strict=True)
        )
        if cfg.reverse_sizes:
            self.rnns_reverse = nn.ModuleList(
                make_rnn(cfg.cell, i, h) for i, h in zip(sizes, cfg.reverse_sizes, strict=True)
            )
        body, width = [], widths[-1]
        for w in cfg.head_hidden:
            body += [nn.Linear(width, w), ACTIVATIONS[cfg.head_activation]()]
            width = w
        self.body = nn.Sequential(*body)
        self.head = nn.Linear(width, cfg.head_rows)

    @property
    def widths(self) -> list[int]:
        """Each layer's output width (both directions)."""
        rev = self.cfg.reverse_sizes or [0] * len(self.cfg.hidden_sizes)
        return [f + b for f, b in zip(self.cfg.hidden_sizes, rev, strict=True)]

    def _states(self, ids: Tensor) -> Tensor:
        """Last layer's states [B, T, W] at positions (held over padding when skipped)."""
        cfg = self.cfg
        h = embed_for_stack(self.embedding, ids, cfg.io_type, cfg.out_steps)
        reverse = list(self.rnns_reverse) if cfg.reverse_sizes else [None] * len(self.rnns)
        if cfg.padding != "skipped":
            for fwd, bwd in zip(self.rnns, reverse, strict=True):
                f, _ = fwd(h)
                h = f if bwd is None else torch.cat([f, bwd(h.flip(1))[0].flip(1)], -1)
            return h
        rows = SkippedPadding(skipped_steps(ids, cfg.pad_id))
        h = rows.compress(h)
        for fwd, bwd in zip(self.rnns, reverse, strict=True):
            f = rows.run(fwd, h)
            b = None if bwd is None else rows.reverse(rows.run(bwd, rows.reverse(h)))
            h = f if b is None else torch.cat([f, b], -1)
        return rows.to_positions(f, b)

    def forward(self, ids: Tensor) -> Tensor:
        """Head logits: [B, R] (one output) or [B, T, R] (many outputs)."""
        cfg = self.cfg
        h = self._states(ids)
        if cfg.io_type in ("1:1", "M:1"):
            split = cfg.hidden_sizes[-1] if cfg.reverse_sizes else None
            h = read_out(h, ids, cfg.readout, cfg.pool_steps, cfg.pad_id, split)
        return self.head(self.body(h))

    @torch.no_grad()
    def scores(self, ids: Tensor) -> Tensor:
        """The module's confidence in its class, as the fused bank computes it."""
        return positive_probability(self(ids), self.cfg.module_output, self.cfg.n_classes)

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def _rows(keep: Tensor, hidden: int, gates: int) -> Tensor:
    """Row indices of the kept units in every gate block of a [G*H, ·] matrix."""
    return torch.cat([g * hidden + keep for g in range(gates)])


def _layer_masks(masks: list[Tensor] | None, k: int, label: str) -> list[Tensor] | None:
    """Module k's per-layer masks [W]; unrolled masks collapse only when every step agrees."""
    if masks is None:
        return None
    out = []
    for layer, m in enumerate(masks):
        mk = m[k]  # [S, W]
        if not bool((mk == mk[:1]).all()):
            raise RnnmodError(
                f"module {label!r} is unrolled with different masks at different time steps "
                f"(layer {layer}); a plain torch.nn model has one set of units for all steps, so "
                "it cannot be exported — use the module set itself (fused bank)"
            )
        out.append(mk[0])
    return out


def export_module(ms: ModuleSet, label: str, *, compact: bool = True) -> ExportedModule:
    """Module ``label`` of a module set as a standalone model whose :meth:`ExportedModule.scores`
    equal the module's fused-bank scores (tests check 1e-5 for every cell kind, depth 1–4)."""
    sid, k = ms.locate(label)
    bank, run = ms.banks[sid], ms.sources[sid]
    model = run.model
    mcfg = model.cfg
    if not model.native:
        raise RnnmodError(
            f"module {label!r}: its source model computes gates as Keras did (hard_sigmoid or "
            "GRU reset_after=False), which native torch layers cannot run"
        )
    gates, hidden = N_GATES[mcfg.cell], mcfg.hidden
    unit = _layer_masks(bank.unit_masks, k, label)
    gate = _layer_masks(bank.gate_masks, k, label)
    legacy = bank.engine_semantics(model) == "legacy-edits"
    if compact and legacy:
        raise RnnmodError(
            f"module {label!r} runs removed units as the original tool's per-step edits "
            "(legacy-edits): they keep a state that the kept units read, so nothing can be sliced "
            "out; export it without --compact"
        )
    if compact and gate is not None:
        raise RnnmodError(
            f"module {label!r} masks gate columns (per-gate strategy): a masked gate still outputs "
            "σ(0) = 0.5, so nothing can be sliced out; export it without --compact"
        )
    dirs = mcfg.directions
    full = torch.ones(hidden * dirs, dtype=torch.bool)
    unit = unit or [full] * mcfg.depth
    # per layer and direction: the units kept (compact) or all of them (masks baked in)
    keeps = [
        [d.nonzero().flatten() if compact else torch.arange(hidden) for d in m.chunk(dirs)]
        for m in unit
    ]
    for layer, kept in enumerate(keeps):
        for d, k_d in enumerate(kept):
            if len(k_d) == 0:
                where = f" ({'forward' if d == 0 else 'backward'} direction)" if dirs > 1 else ""
                raise RnnmodError(f"module {label!r} removes every unit of layer {layer}{where}")
    cfg = ExportConfig(
        io_type=mcfg.io_type,
        cell=mcfg.cell,
        vocab_size=mcfg.vocab_size,
        embed_dim=mcfg.embed_dim,
        seq_len=mcfg.seq_len,
        out_steps=mcfg.out_steps,
        hidden_sizes=[len(x[0]) for x in keeps],
        n_classes=mcfg.n_classes,
        head_rows=bank.head_weight.shape[1],
        module_output=ms.module_output,
        label=label,
        compact=compact,
        extra={"source_model_sha256": ms.manifest["sources"][sid]["model_sha256"]},
        reverse_sizes=[len(x[1]) for x in keeps] if dirs > 1 else [],
        **mcfg.user_shape(),
    )
    out = ExportedModule(cfg)
    reverse = list(out.rnns_reverse) if dirs > 1 else []
    head_w, head_b = bank.head_weight[k], bank.head_bias[k]
    own = None  # a filled module's own weights (its fills folded in), unidirectional
    if bank.filled:
        pick = bank.select([k])
        own = module_weights(model, pick.unit_fills, pick.head_weight, pick.head_bias)
        head_w, head_b = own.head_w[0], own.head_b[0]

    def source(layer: int, sfx: str, name: str) -> Tensor:
        """The module's weight ``name`` of a layer's direction (``weight_ih``, ``bias_hh``…)."""
        if own is not None:
            return getattr(own, name.replace("weight", "w").replace("bias", "b"))[layer][0]
        return getattr(model.rnns[layer], f"{name}_l0{sfx}")

    with torch.no_grad():
        out.embedding.weight.copy_(model.embedding.weight)
        prev = None  # source columns of the previous layer's kept outputs (None: embedding)
        for layer in range(len(model.rnns)):
            dsts = [out.rnns[layer], *([reverse[layer]] if dirs > 1 else [])]
            cols = []
            for d, (sfx, dst) in enumerate(zip(("", "_reverse"), dsts)):
                kept = keeps[layer][d]
                u = unit[layer].chunk(dirs)[d]
                g_mask = None if gate is None else gate[layer].chunk(dirs)[d]
                rows = _rows(kept, hidden, gates)
                # baked masks (non-compact): a removed unit's or masked gate column's rows are
                # zero, which gives exactly the engine's dead unit / zero pre-activation
                row_keep = u.repeat(gates).float()[rows, None]
                if g_mask is not None:
                    row_keep = row_keep * g_mask.float()[rows, None]
                w_ih = source(layer, sfx, "weight_ih")[rows]
                w_ih = w_ih if prev is None else w_ih[:, prev]
                dst.weight_ih_l0.copy_(w_ih * row_keep)
                if legacy:  # kept rows whole; removed rows keep the weights from kept units
                    row_removed = ~u.repeat(gates)[rows, None]
                    hh_keep = (~(row_removed & ~u[None, kept])).float()
                else:
                    hh_keep = row_keep
                dst.weight_hh_l0.copy_(source(layer, sfx, "weight_hh")[rows][:, kept] * hh_keep)
                dst.bias_ih_l0.copy_(source(layer, sfx, "bias_ih")[rows] * row_keep[:, 0])
                dst.bias_hh_l0.copy_(source(layer, sfx, "bias_hh")[rows] * row_keep[:, 0])
                cols.append(d * hidden + kept)
            prev = torch.cat(cols)
        # what reads the last layer: the MLP's first layer, or the channelled head
        live = unit[-1].float()[prev]
        if mcfg.head_hidden:
            for i, (s_layer, d_layer) in enumerate(zip(model.body, out.body, strict=True)):
                if isinstance(s_layer, nn.Linear):  # the first reads the kept units only
                    w, b = s_layer.weight, s_layer.bias
                    if i == 0 and own is not None:  # the last layer's fill folded in
                        w, b = own.body_w[0], own.body_b[0]
                    d_layer.weight.copy_(w if i else w[:, prev] * live)
                    d_layer.bias.copy_(b)
            out.head.weight.copy_(head_w)
        else:
            out.head.weight.copy_(head_w[:, prev] * live)
        out.head.bias.copy_(head_b)
    return out.eval()


def export_module_to(
    ms: ModuleSet, label: str, out: Path, *, compact: bool = True, overwrite: bool = False
) -> dict:
    """Export module ``label`` to a directory after a self-check: on 256 seeded random inputs the
    exported model must score as the fused bank does (1e-4). Returns what was written."""
    mod = export_module(ms, label, compact=compact)
    sid, k = ms.locate(label)
    run, bank = ms.sources[sid], ms.banks[sid]
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, run.model.cfg.vocab_size, (256, run.model.cfg.seq_len), generator=g)
    diff = float((mod.scores(ids) - bank.select([k]).scores(run.model, ids)[0]).abs().max())
    if diff > 1e-4:
        raise RnnmodError(f"exported module differs from the masked module by {diff:.2e}")
    mod.cfg.extra["self_check_max_abs_diff"] = diff
    path = save_exported(Path(out), mod, run.vocab, overwrite=overwrite)
    return {
        "out": str(path),
        "label": label,
        "compact": compact,
        "hidden_sizes": mod.cfg.hidden_sizes,
        **({"reverse_sizes": mod.cfg.reverse_sizes} if mod.cfg.reverse_sizes else {}),
        "source_hidden": run.model.cfg.hidden,
        "parameters": mod.n_parameters(),
        "source_parameters": sum(p.numel() for p in run.model.parameters()),
        "bytes": (path / "model.safetensors").stat().st_size,
        "source_bytes": (run.path / "model.safetensors").stat().st_size,
        "self_check_max_abs_diff": diff,
    }


def save_exported(
    out: Path, module: ExportedModule, vocab: Vocab, *, overwrite: bool = False
) -> Path:
    """A directory with model.safetensors, config.json and vocab.json (no pickle)."""
    out = Path(out)
    with (
        output_lock(out, "export module"),
        building(
            out,
            overwrite=overwrite,
            kind="exported module",
            marker="vocab.json",
            unlike="metrics.json",
        ) as tmp,
    ):
        return _save_exported(tmp, out, module, vocab)


def _save_exported(tmp: Path, out: Path, module: ExportedModule, vocab: Vocab) -> Path:
    write_tensors(tmp / "model.safetensors", module.state_dict())
    write_json(
        tmp / "config.json",
        {
            "kind": KIND,
            "format_version": FORMAT_VERSION,
            "rnnmod_version": __version__,
            "module": asdict(module.cfg),
            "parameters": module.n_parameters(),
        },
    )
    write_json(tmp / "vocab.json", vocab.to_dict())
    return publish_dir(tmp, out)


def load_exported(path: Path | str) -> tuple[ExportedModule, Vocab]:
    path = Path(path)
    cfg = read_json(path / "config.json")
    if not isinstance(cfg, dict) or cfg.get("kind") != KIND:
        raise RnnmodError(f"{path / 'config.json'} is not an exported rnnmod module")
    if cfg.get("format_version", 0) > FORMAT_VERSION:
        raise RnnmodError(f"{path} was written by a newer rnnmod; upgrade rnnmod")
    try:
        module = ExportedModule(ExportConfig(**cfg["module"]))
    except (KeyError, TypeError, ValueError) as e:
        raise RnnmodError(f"{path / 'config.json'}: invalid module config ({e})") from None
    state = read_tensors(path / "model.safetensors")
    own = module.state_dict()
    if set(state) != set(own) or any(state[n].shape != v.shape for n, v in own.items()):
        raise RnnmodError(f"{path / 'model.safetensors'}: tensors do not match config.json")
    module.load_state_dict(state)
    return module.eval(), Vocab.from_dict(read_json(path / "vocab.json"))
