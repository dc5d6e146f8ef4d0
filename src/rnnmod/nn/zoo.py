"""The four classification architectures of paper-method §2.2, for every cell kind and depth,
and the shapes users' models take (docs/interop.md has the table).

* ``1:1``  ids → Embedding → Flatten → repeat ×1 → RNN stack → Dense (MathQA)
* ``1:N``  ids → Embedding → Flatten → repeat ×T_out → RNN stack → per-step Dense (toxic/emotions)
* ``M:1``  ids → Embedding → RNN stack → Dense on the last state (Clinc)
* ``M:N``  ids → Embedding → RNN stack → per-step Dense (Brown tagging)

Training and plain inference use native ``nn.RNN/LSTM/GRU`` (one single-layer module per depth
so each layer's weights are addressable); :meth:`SeqClassifier.run_engine` runs the same
parameters through our cell engine to record states or apply module masks.

Beyond the paper's zoo, one description covers the recurrent classifiers people write:
bidirectional layers (``bidirectional``: a layer's units are both directions' units, forward
first), real lengths (``padding="skipped"``: each direction holds its state over padding, as a
packed sequence does), pooled readouts for M:1 (``readout`` last / mean / max, ``pool_steps``
real or all) and an MLP head (``head_hidden`` widths with ``head_activation``; the last Linear
is ``head``, the one modules channel).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

import torch
from torch import Tensor, nn

from ..choices import IO_TYPES  # noqa: E402
from .cells import (
    CELL_KINDS,
    BiLayerWeights,
    LayerWeights,
    StackOutput,
    layer_weights_of,
    run_stack,
)
from .packing import SkippedPadding

ONE_OUTPUT = ("1:1", "M:1")
PADDINGS = ("tokens", "skipped")
READOUTS = ("last", "mean", "max")
POOL_STEPS = ("real", "all")
ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "sigmoid": nn.Sigmoid,
    "silu": nn.SiLU,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
}


@dataclass(kw_only=True)
class UserShape:
    """What users' models add after the recurrent layers and around padding (rnnmod.from_torch;
    module doc): padding read as tokens (the zoo, Keras) or skipped (state held, packed-sequence
    semantics; ``pad_id``); the M:1 readout and the steps it pools; MLP layers before the head.
    A source model and the modules exported from it share these."""

    padding: str = "tokens"
    pad_id: int = 0
    readout: str = "last"
    pool_steps: str = "real"
    head_hidden: list[int] = field(default_factory=list)
    head_activation: str = "relu"

    def user_shape(self) -> dict:
        """These fields as keywords (a fresh list for ``head_hidden``)."""
        out = {f.name: getattr(self, f.name) for f in fields(UserShape)}
        out["head_hidden"] = list(out["head_hidden"])
        return out


@dataclass
class ClassifierConfig(UserShape):
    io_type: str
    cell: str
    depth: int
    vocab_size: int
    embed_dim: int
    hidden: int
    n_classes: int
    seq_len: int
    out_steps: int = 1
    dropout: float = 0.0
    # Imported models (rnnmod.interop): Keras 2.x hard_sigmoid gates and the reset_after=False
    # GRU, which native torch layers cannot compute; such a model always runs the cell engine.
    gate_activation: str = "sigmoid"
    gru_reset_after: bool = True
    # Users' models: both directions per layer (the rest of their shape: UserShape)
    bidirectional: bool = False

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def width(self) -> int:
        """Units per recurrent layer (both directions): a unit mask's width."""
        return self.hidden * self.directions

    def extensions(self) -> list[str]:
        """What this model has beyond the paper's shapes (unidirectional, padding read as
        tokens, last-step readout, one Linear head), in words; [] for a zoo model."""
        out = []
        if self.bidirectional:
            out.append("bidirectional layers")
        if self.padding != "tokens":
            out.append("padding skipped (real lengths)")
        if self.readout != "last":
            out.append(f"{self.readout} pooling")
        if self.head_hidden:
            out.append("an MLP head")
        return out

    def validate(self) -> None:
        if self.io_type not in IO_TYPES:
            raise ValueError(f"unknown I/O type {self.io_type!r}; expected one of {IO_TYPES}")
        if self.cell not in CELL_KINDS:
            raise ValueError(f"unknown cell {self.cell!r}; expected one of {CELL_KINDS}")
        if not 1 <= self.depth <= 4:
            raise ValueError(f"depth must be 1-4, got {self.depth}")
        if self.gate_activation not in ("sigmoid", "hard_sigmoid"):
            raise ValueError(f"unknown gate activation {self.gate_activation!r}")
        for name, allowed in (
            ("padding", PADDINGS),
            ("readout", READOUTS),
            ("pool_steps", POOL_STEPS),
            ("head_activation", tuple(ACTIVATIONS)),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"unknown {name} {getattr(self, name)!r}; expected one of {allowed}"
                )
        if self.readout != "last" and self.io_type != "M:1":
            raise ValueError(f"a {self.readout} readout needs an M:1 model, not {self.io_type}")
        if self.io_type in ("1:1", "1:N") and (self.bidirectional or self.padding != "tokens"):
            raise ValueError(
                f"{self.io_type} models read one flattened input: no directions or lengths"
            )
        if any(int(w) < 1 for w in self.head_hidden):
            raise ValueError(f"head_hidden widths must be positive, got {self.head_hidden}")

    def vocabulary_problem(self, source, target, labels: list[str]) -> str | None:
        """Why vocabularies (``source`` with ``size`` and ``seq_len``; no ``target``) and label
        names cannot feed this model, or None."""
        if len(labels) != self.n_classes:
            return f"{len(labels)} label names for a model with {self.n_classes} classes"
        if source.size > self.vocab_size:
            return (
                f"the vocabulary has {source.size} ids but the model embeds only {self.vocab_size}"
            )
        if source.seq_len != self.seq_len:
            return f"the vocabulary pads text to {source.seq_len} tokens but the model reads {self.seq_len}"
        return None


def make_rnn(cell: str, inp: int, hidden: int, bidirectional: bool = False) -> nn.RNNBase:
    kw = {"batch_first": True, "bidirectional": bidirectional}
    if cell == "lstm":
        return nn.LSTM(inp, hidden, **kw)
    if cell == "gru":
        return nn.GRU(inp, hidden, **kw)
    return nn.RNN(inp, hidden, nonlinearity="tanh" if cell == "rnn" else "relu", **kw)


INITS = ("keras", "torch")


def keras_initialise(model: nn.Module) -> None:
    """Re-initialise a zoo model as Keras initialises the paper's models (paper-method §2.2: the
    layers use Keras' default initialisers): embedding U(−0.05, 0.05); recurrent kernels
    Glorot-uniform over the whole [in, G·H] kernel, recurrent kernels orthogonal over [H, G·H];
    zero biases with the LSTM forget bias at 1 (``unit_forget_bias``); Dense Glorot-uniform with
    a zero bias. PyTorch's own defaults (uniform ±1/√H everywhere) train the paper's vanilla RNNs
    markedly worse (Clinc RNN-1: 0.88 vs 0.94 test accuracy), so this is the training default."""
    gates = {"lstm": 4, "gru": 3}
    with torch.no_grad():
        nn.init.uniform_(model.embedding.weight, -0.05, 0.05)
        for rnn in model.rnns:
            for sfx in ("", "_reverse") if rnn.bidirectional else ("",):
                h = rnn.hidden_size
                g = gates.get(model.cfg.cell, 1)
                w_ih, w_hh = getattr(rnn, f"weight_ih_l0{sfx}"), getattr(rnn, f"weight_hh_l0{sfx}")
                kernel = torch.empty(w_ih.shape[1], g * h)  # Keras layout [in, G·H]
                nn.init.xavier_uniform_(kernel)
                w_ih.copy_(kernel.t())
                recurrent = torch.empty(h, g * h)
                nn.init.orthogonal_(recurrent)
                w_hh.copy_(recurrent.t())
                b_ih, b_hh = getattr(rnn, f"bias_ih_l0{sfx}"), getattr(rnn, f"bias_hh_l0{sfx}")
                b_ih.zero_()
                b_hh.zero_()
                if model.cfg.cell == "lstm":  # torch gate order i, f, g, o
                    b_ih[h : 2 * h] = 1.0
        for layer in model.body:
            if isinstance(layer, nn.Linear):
                keras_dense_(layer)
        keras_dense_(model.head)


def keras_dense_(layer: nn.Linear) -> nn.Linear:
    """A Dense layer's Keras default initialisation, in place: Glorot-uniform kernel (over
    Keras' [in, out] layout), zero bias."""
    with torch.no_grad():
        kernel = torch.empty(layer.weight.shape[1], layer.weight.shape[0])
        nn.init.xavier_uniform_(kernel)
        layer.weight.copy_(kernel.t())
        layer.bias.zero_()
    return layer


def embed_for_stack(embedding: nn.Embedding, ids: Tensor, io_type: str, out_steps: int) -> Tensor:
    """Embed ids [B,L] into a recurrent stack's input [B,T,in]: 1:1/1:N flatten the sequence
    and repeat it ``out_steps`` times (Keras Flatten + RepeatVector); M:1/M:N feed tokens."""
    e = embedding(ids)
    if io_type in ("1:1", "1:N"):
        e = e.flatten(1).unsqueeze(1).expand(-1, out_steps, -1)
    return e


class SeqClassifier(nn.Module):
    """Embedding → stacked recurrent layers → Dense, for one of the four I/O shapes."""

    def __init__(self, cfg: ClassifierConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embed_dim)
        first_in = cfg.embed_dim * cfg.seq_len if self.flattens else cfg.embed_dim
        sizes = [first_in] + [cfg.width] * (cfg.depth - 1)
        self.rnns = nn.ModuleList(
            make_rnn(cfg.cell, s, cfg.hidden, cfg.bidirectional) for s in sizes
        )
        self.dropout = nn.Dropout(cfg.dropout)
        body, width = [], cfg.width
        for w in cfg.head_hidden:
            body += [nn.Linear(width, int(w)), ACTIVATIONS[cfg.head_activation]()]
            width = int(w)
        self.body = nn.Sequential(*body)
        self.head = nn.Linear(width, cfg.n_classes)

    @property
    def flattens(self) -> bool:
        return self.cfg.io_type in ("1:1", "1:N")

    @property
    def native(self) -> bool:
        """Whether the native torch layers compute this model (else only the cell engine does)."""
        c = self.cfg
        return c.gate_activation == "sigmoid" and (c.cell != "gru" or c.gru_reset_after)

    @property
    def one_output(self) -> bool:
        return self.cfg.io_type in ONE_OUTPUT

    @property
    def steps(self) -> int:
        """Recurrent time steps T."""
        return self.cfg.out_steps if self.flattens else self.cfg.seq_len

    def recurrent_input(self, ids: Tensor) -> Tensor:
        """Embed ids [B,L] into the recurrent stack's input [B,T,in]."""
        return embed_for_stack(self.embedding, ids, self.cfg.io_type, self.cfg.out_steps)

    def step_valid(self, ids: Tensor) -> Tensor | None:
        """Real (non-padding) steps [B, T] when the model skips padding, else None."""
        if self.cfg.padding != "skipped" or self.flattens:
            return None
        return skipped_steps(ids, self.cfg.pad_id)

    def readout(self, states: Tensor, ids: Tensor) -> Tensor:
        """Last layer's states [N,T,W] → what the head reads (:func:`read_out`)."""
        if not self.one_output:
            return states
        c = self.cfg
        split = c.hidden if c.bidirectional else None
        return read_out(states, ids, c.readout, c.pool_steps, c.pad_id, split)

    def head_features(self, last_hidden: Tensor, ids: Tensor) -> Tensor:
        """Last layer's states [N,T,W] → the head's input: the readout, then the MLP layers
        before the head ([N,F] for one output, [N,T,F] otherwise)."""
        return self.body(self.readout(last_hidden, ids))

    def recurrent_states(self, ids: Tensor) -> list[Tensor]:
        """Every layer's states [B,T,W], on torch's native kernels when they compute the model
        (a padding-skipping model runs packed, :mod:`.packing`), else on the cell engine."""
        if not self.native:
            return self.run_engine(ids).hidden
        valid = self.step_valid(ids)
        h, out = self.recurrent_input(ids), []
        if valid is None:
            for rnn in self.rnns:
                h, _ = rnn(h)
                out.append(h)
            return out
        rows = SkippedPadding(valid)
        h, hid = rows.compress(h), self.cfg.hidden
        for rnn in self.rnns:
            h = rows.run(rnn, h)
            bwd = h[..., hid:] if self.cfg.bidirectional else None
            out.append(rows.to_positions(h[..., :hid], bwd))
        return out

    def forward(self, ids: Tensor) -> Tensor:
        """Logits: [B,C] for 1:1/M:1, [B,T,C] for 1:N/M:N."""
        h = self.recurrent_states(ids)[-1]
        return self.head(self.dropout(self.head_features(h, ids)))

    def layer_weights(self) -> list[LayerWeights | BiLayerWeights]:
        return [layer_weights_of(r) for r in self.rnns]

    def run_engine(
        self,
        ids: Tensor,
        *,
        unit_masks: list[Tensor | None] | None = None,
        gate_masks: list[Tensor | None] | None = None,
        record_gates: bool = False,
        batch_groups: int = 1,
        unit_semantics: str = "dead",
        unit_fills: list | None = None,
    ) -> StackOutput:
        """Run the recurrent stack through the cell engine (masks in canonical form).

        ``batch_groups`` > 1 repeats the inputs that many times so that mask group g runs on
        block g: one pass evaluates a whole bank of modules. ``unit_semantics``: what a masked
        unit is (``dead`` or ``legacy-edits``, :mod:`rnnmod.nn.cells`).
        """
        x = self.recurrent_input(ids)
        valid = self.step_valid(ids)
        return run_stack(
            x,
            self.layer_weights(),
            self.cfg.cell,
            unit_masks=unit_masks,
            gate_masks=gate_masks,
            step_valid=None if valid is None else valid.repeat(batch_groups, 1),
            record_gates=record_gates,
            input_groups=batch_groups,
            gate_activation=self.cfg.gate_activation,
            gru_reset_after=self.cfg.gru_reset_after,
            unit_semantics=unit_semantics,
            unit_fills=unit_fills,
        )

    def config_dict(self) -> dict:
        return asdict(self.cfg)


def read_out(
    states: Tensor, ids: Tensor, readout: str, pool_steps: str, pad_id: int, split: int | None
) -> Tensor:
    """A one-output model's readout of its last layer's states [N,T,W]: the last step (with
    ``split``, the forward direction's first ``split`` units at the last position and the
    backward direction's at position 0, where it ends), or the mean or max over the real (or
    all) steps. ``ids`` [B, L] with N a multiple of B (row block k of a module bank reads the
    same ids). A removed (dead) unit is 0 at every step, so its mean and its max are 0: it
    contributes nothing to the head, pooled or not."""
    if readout == "last":
        if split is None:
            return states[:, -1]
        return torch.cat([states[:, -1, :split], states[:, 0, split:]], dim=-1)
    real = ids != pad_id if pool_steps == "real" else torch.ones_like(ids, dtype=torch.bool)
    real = real.repeat(states.shape[0] // ids.shape[0], 1).unsqueeze(-1)  # [N, T, 1]
    if readout == "mean":
        return (states * real).sum(1) / real.sum(1).clamp(min=1)
    pooled = states.masked_fill(~real, float("-inf")).amax(1)
    return torch.where(real.any(1), pooled, torch.zeros_like(pooled))  # no real step: 0


def skipped_steps(ids: Tensor, pad_id: int) -> Tensor:
    """Real steps [B, T] of a padding-skipping model; a row without a real id is read as one
    step at position 0, as a packed batch with lengths clamped to 1 (pack_padded_sequence
    refuses 0) reads it."""
    valid = ids != pad_id
    valid[:, 0] |= ~valid.any(1)
    return valid


def build_classifier(**kwargs) -> SeqClassifier:
    return SeqClassifier(ClassifierConfig(**kwargs))


@torch.no_grad()
def predict_logits(model: SeqClassifier, ids: Tensor, batch_size: int = 2048) -> Tensor:
    """Batched native forward pass in eval mode."""
    model.eval()
    return torch.cat([model(ids[i : i + batch_size]) for i in range(0, len(ids), batch_size)])
