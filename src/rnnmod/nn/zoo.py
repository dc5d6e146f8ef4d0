"""The four classification architectures of paper-method §2.2, for every cell kind and depth.

* ``1:1``  ids → Embedding → Flatten → repeat ×1 → RNN stack → Dense (MathQA)
* ``1:N``  ids → Embedding → Flatten → repeat ×T_out → RNN stack → per-step Dense (toxic/emotions)
* ``M:1``  ids → Embedding → RNN stack → Dense on the last state (Clinc)
* ``M:N``  ids → Embedding → RNN stack → per-step Dense (Brown tagging)

Training and plain inference use native ``nn.RNN/LSTM/GRU`` (one single-layer module per depth
so each layer's weights are addressable); :meth:`SeqClassifier.run_engine` runs the same
parameters through our cell engine to record states or apply module masks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from ..choices import IO_TYPES  # noqa: E402
from .cells import CELL_KINDS, LayerWeights, StackOutput, run_stack

ONE_OUTPUT = ("1:1", "M:1")


@dataclass
class ClassifierConfig:
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

    def validate(self) -> None:
        if self.io_type not in IO_TYPES:
            raise ValueError(f"unknown I/O type {self.io_type!r}; expected one of {IO_TYPES}")
        if self.cell not in CELL_KINDS:
            raise ValueError(f"unknown cell {self.cell!r}; expected one of {CELL_KINDS}")
        if not 1 <= self.depth <= 4:
            raise ValueError(f"depth must be 1-4, got {self.depth}")
        if self.gate_activation not in ("sigmoid", "hard_sigmoid"):
            raise ValueError(f"unknown gate activation {self.gate_activation!r}")

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


def make_rnn(cell: str, inp: int, hidden: int) -> nn.RNNBase:
    if cell == "lstm":
        return nn.LSTM(inp, hidden, batch_first=True)
    if cell == "gru":
        return nn.GRU(inp, hidden, batch_first=True)
    return nn.RNN(inp, hidden, batch_first=True, nonlinearity="tanh" if cell == "rnn" else "relu")


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
            h = rnn.hidden_size
            g = gates.get(model.cfg.cell, 1)
            kernel = torch.empty(rnn.weight_ih_l0.shape[1], g * h)  # Keras layout [in, G·H]
            nn.init.xavier_uniform_(kernel)
            rnn.weight_ih_l0.copy_(kernel.t())
            recurrent = torch.empty(h, g * h)
            nn.init.orthogonal_(recurrent)
            rnn.weight_hh_l0.copy_(recurrent.t())
            rnn.bias_ih_l0.zero_()
            rnn.bias_hh_l0.zero_()
            if model.cfg.cell == "lstm":  # torch gate order i, f, g, o
                rnn.bias_ih_l0[h : 2 * h] = 1.0
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
        sizes = [first_in] + [cfg.hidden] * (cfg.depth - 1)
        self.rnns = nn.ModuleList(make_rnn(cfg.cell, s, cfg.hidden) for s in sizes)
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden, cfg.n_classes)

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

    def head_features(self, last_hidden: Tensor) -> Tensor:
        """Last layer's states [B,T,H] → head input ([B,H] for one output, [B,T,H] otherwise)."""
        return last_hidden[:, -1] if self.one_output else last_hidden

    def forward(self, ids: Tensor) -> Tensor:
        """Logits: [B,C] for 1:1/M:1, [B,T,C] for 1:N/M:N."""
        if not self.native:
            return self.head(self.dropout(self.head_features(self.run_engine(ids).output)))
        h = self.recurrent_input(ids)
        for rnn in self.rnns:
            h, _ = rnn(h)
        return self.head(self.dropout(self.head_features(h)))

    def layer_weights(self) -> list[LayerWeights]:
        return [LayerWeights.from_module(r) for r in self.rnns]

    def run_engine(
        self,
        ids: Tensor,
        *,
        unit_masks: list[Tensor | None] | None = None,
        gate_masks: list[Tensor | None] | None = None,
        record_gates: bool = False,
        batch_groups: int = 1,
        unit_semantics: str = "dead",
    ) -> StackOutput:
        """Run the recurrent stack through the cell engine (masks in canonical form).

        ``batch_groups`` > 1 repeats the inputs that many times so that mask group g runs on
        block g: one pass evaluates a whole bank of modules. ``unit_semantics``: what a masked
        unit is (``dead`` or ``legacy-edits``, :mod:`rnnmod.nn.cells`).
        """
        x = self.recurrent_input(ids)
        return run_stack(
            x,
            self.layer_weights(),
            self.cfg.cell,
            unit_masks=unit_masks,
            gate_masks=gate_masks,
            record_gates=record_gates,
            input_groups=batch_groups,
            gate_activation=self.cfg.gate_activation,
            gru_reset_after=self.cfg.gru_reset_after,
            unit_semantics=unit_semantics,
        )

    def config_dict(self) -> dict:
        return asdict(self.cfg)


def build_classifier(**kwargs) -> SeqClassifier:
    return SeqClassifier(ClassifierConfig(**kwargs))


@torch.no_grad()
def predict_logits(model: SeqClassifier, ids: Tensor, batch_size: int = 2048) -> Tensor:
    """Batched native forward pass in eval mode."""
    model.eval()
    return torch.cat([model(ids[i : i + batch_size]) for i in range(0, len(ids), batch_size)])
