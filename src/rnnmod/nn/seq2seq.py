"""The encoder–decoder translator of paper-method §2.2/§8, for every cell kind and depth.

English ids [B, S] (post-padded) → embedding → ``depth`` stacked recurrent layers → the last
layer's final state (h, and c for LSTM) → initial state of the decoder's **first** recurrent
layer (the others start at zero, as in the authors' models) → ``depth`` stacked decoder layers
fed with the target ids [B, T] that begin with the language's start token (``[startfr]`` …) →
one Dense layer over the target vocabulary at every step (``output_layer="softmax"``, the paper's), or an
adaptive softmax (``output_layer="adaptive"``: frequent words in a full head, rarer ones in smaller
tail clusters; training computes only the clusters a batch needs, inference the exact
log-probabilities of every word). ``attention="luong"`` (the "general" score) or ``"bahdanau"``
(the additive score) adds global attention (:mod:`.attention`, no input feeding) on top of the
last decoder layer: h̃_t = tanh(W_c [c_t; h_t]) with c_t the attention-weighted sum of the
encoder's last-layer outputs (padding masked), and the output layer reads h̃_t. The recurrent
layers are unchanged, so module masks act on the same decoder units; the attention is part of
the output side, kept whole in every module. ``bidirectional=True`` makes the encoder's layers
read both directions (half the units each, concatenated): the decoder, the only part that is
decomposed, is unchanged.

Choices the paper leaves open (docs/translation.md): encoder and decoder have the same depth,
cell and width; both embeddings are 128-d; post-padding, and a padded step carries the state
forward (Keras ``mask_zero``). Training and plain inference run torch's native layers on
packed sequences (``pack_padded_sequence``), which is exactly "padded steps carry the state":
a packed layer stops each sequence at its last real step. Decomposition and modules run the
same parameters through our cell engine (:mod:`.cells`) with ``step_valid`` and unit masks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from ..choices import ATTENTIONS
from .attention import ATTENTION, Memory
from .cells import CELL_KINDS, LayerWeights, canonical_mask, run_stack
from .zoo import make_rnn

IO_TYPE = "enc-dec"
OUTPUTS = ("softmax", "adaptive")
#: adaptive softmax: the target ids (sorted by frequency after the specials) below the first
#: cutoff form the head cluster, the next ones the tails (each 4× narrower than the last)
ADAPTIVE_CUTOFFS = (1000, 4000)
#: beam search's length normalisation exponent (GNMT's α; 0 = raw log-probabilities). On the
#: attention translator's validation pairs α from 0 to 1.2 scores within 0.25 BLEU
#: (docs/translation.md, "Decoding")
LENGTH_PENALTY = 0.6


def adaptive_cutoffs(vocab_size: int) -> list[int]:
    """The cutoffs of an adaptive softmax over ``vocab_size`` words (those below it)."""
    cuts = [c for c in ADAPTIVE_CUTOFFS if c < vocab_size - 1]
    if not cuts:
        raise ValueError(
            f"an adaptive softmax needs more than {ADAPTIVE_CUTOFFS[0] + 1} target words, the "
            f"vocabulary has {vocab_size}; use the full softmax"
        )
    return cuts


State = tuple[list[Tensor], list[Tensor | None]]  # per decoder layer: h [B,H], c [B,H] or None


@dataclass
class Seq2SeqConfig:
    cell: str
    depth: int
    src_vocab_size: int
    tgt_vocab_size: int
    embed_dim: int = 128
    hidden: int = 256
    src_len: int = 20
    tgt_len: int = 20  # decoder steps: target ids [:T] in, [1:T+1] out
    io_type: str = IO_TYPE
    output_layer: str = "softmax"  # or "adaptive" (see the module docstring)
    attention: str = "none"  # or "luong", "bahdanau" (see the module docstring)
    # training only: dropout on both embeddings' outputs and on the output layer's input
    dropout: float = 0.0
    # the encoder's layers read both directions, hidden // 2 units each, outputs and final
    # states concatenated (so the decoder still starts from, and attends to, `hidden` units)
    bidirectional: bool = False

    def validate(self) -> None:
        if self.cell not in CELL_KINDS:
            raise ValueError(f"unknown cell {self.cell!r}; expected one of {CELL_KINDS}")
        if not 1 <= self.depth <= 4:
            raise ValueError(f"depth must be 1-4, got {self.depth}")
        if self.io_type != IO_TYPE:
            raise ValueError(f"a Seq2SeqConfig has io_type {IO_TYPE!r}, got {self.io_type!r}")
        for name in ("src_vocab_size", "tgt_vocab_size", "embed_dim", "hidden"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive")
        if self.output_layer not in OUTPUTS:
            raise ValueError(
                f"unknown output layer {self.output_layer!r}; expected one of {OUTPUTS}"
            )
        if self.output_layer == "adaptive":
            adaptive_cutoffs(self.tgt_vocab_size)
        if self.attention not in ATTENTIONS:
            raise ValueError(f"unknown attention {self.attention!r}; expected one of {ATTENTIONS}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.bidirectional and self.hidden % 2:
            raise ValueError(
                f"a bidirectional encoder splits the {self.hidden} units between its two "
                "directions: hidden must be even"
            )

    def vocabulary_problem(self, source, target, labels: list[str]) -> str | None:
        """Why source/target vocabularies and target languages cannot feed this model, or None."""
        if not labels:
            return "'labels' must list the target languages"
        if target is None:
            return "a translator needs a 'target' vocabulary"
        if source.size > self.src_vocab_size or target.size > self.tgt_vocab_size:
            return "vocabulary larger than the model's embeddings"
        return None


def _final(state: Tensor) -> Tensor:
    """A layer's final state [directions, B, W] → [B, directions · W] (forward first)."""
    return state[0] if len(state) == 1 else torch.cat(list(state), dim=-1)


def _lengths(ids: Tensor) -> Tensor:
    """Real tokens per row of post-padded ids; an empty row reads one padding step."""
    return (ids != 0).sum(1).clamp(min=1).cpu()


class Seq2Seq(nn.Module):
    """Encoder–decoder with a language start token; see the module docstring."""

    def __init__(self, cfg: Seq2SeqConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        sizes = [cfg.embed_dim] + [cfg.hidden] * (cfg.depth - 1)
        self.enc_embedding = nn.Embedding(cfg.src_vocab_size, cfg.embed_dim)
        enc_width = cfg.hidden // 2 if cfg.bidirectional else cfg.hidden
        self.enc_rnns = nn.ModuleList(
            make_rnn(cfg.cell, s, enc_width, cfg.bidirectional) for s in sizes
        )
        self.dec_embedding = nn.Embedding(cfg.tgt_vocab_size, cfg.embed_dim)
        self.drop = nn.Dropout(cfg.dropout)  # training only (identity in eval mode)
        self.dec_rnns = nn.ModuleList(make_rnn(cfg.cell, s, cfg.hidden) for s in sizes)
        if cfg.output_layer == "adaptive":
            self.head = nn.AdaptiveLogSoftmaxWithLoss(
                cfg.hidden, cfg.tgt_vocab_size, adaptive_cutoffs(cfg.tgt_vocab_size), div_value=4.0
            )
        else:
            self.head = nn.Linear(cfg.hidden, cfg.tgt_vocab_size)
        self.attention = None if cfg.attention == "none" else ATTENTION[cfg.attention](cfg.hidden)

    def dense_output_weight(self) -> Tensor | None:
        """The output layer's [V, H] weight when it reads the decoder's units directly (the
        paper's model); None when attention or an adaptive softmax stands between them."""
        if self.cfg.attention != "none" or self.cfg.output_layer != "softmax":
            return None
        return self.head.weight.detach()

    def attend(self, h: Tensor, memory: Memory | None) -> Tensor:
        """The output side's input for decoder states h [B, T, H]: h itself, or with attention
        h̃ = tanh(W_c [c; h]) over the encoder outputs of ``memory`` (padding never attended)."""
        if memory is None or self.attention is None:
            return h
        return self.attention(h, memory)

    def output_scores(self, h: Tensor) -> Tensor:
        """Scores over the target vocabulary [..., V] whose log_softmax is the model's
        log-probabilities: the Dense layer's logits, or the adaptive softmax's exact
        log-probabilities."""
        if isinstance(self.head, nn.AdaptiveLogSoftmaxWithLoss):
            return self.head.log_prob(h.reshape(-1, h.shape[-1])).view(*h.shape[:-1], -1)
        return self.head(h)

    def token_nll(self, feats: Tensor, labels: Tensor) -> Tensor:
        """Mean negative log-likelihood of ``labels`` [N] given output-side inputs ``feats``
        [N, H] (the adaptive layer computes only the clusters the labels fall in)."""
        if isinstance(self.head, nn.AdaptiveLogSoftmaxWithLoss):
            return self.head(feats, labels).loss
        return nn.functional.cross_entropy(self.head(feats), labels)

    @torch.no_grad()
    def predict_tokens(self, feats: Tensor, chunk: int = 2048) -> Tensor:
        """The most probable word for each row of ``feats`` [N, H] → [N] (chunked: the whole
        vocabulary's scores for every row at once would not fit)."""
        if isinstance(self.head, nn.AdaptiveLogSoftmaxWithLoss):
            parts = [self.head.predict(feats[i : i + chunk]) for i in range(0, len(feats), chunk)]
        else:
            parts = [
                self.head(feats[i : i + chunk]).argmax(-1) for i in range(0, len(feats), chunk)
            ]
        return torch.cat(parts) if parts else feats.new_zeros(0, dtype=torch.long)

    # -- what the decomposition pipeline and the module store read
    @property
    def steps(self) -> int:
        """Decoder time steps T (an unrolled module has one mask per decoder layer and step)."""
        return self.cfg.tgt_len

    @property
    def io_type(self) -> str:
        return IO_TYPE

    @property
    def one_output(self) -> bool:
        return False

    def config_dict(self) -> dict:
        return asdict(self.cfg)

    def decoder_weights(self) -> list[LayerWeights]:
        return [LayerWeights.from_module(r) for r in self.dec_rnns]

    # -- native path (training, monolithic inference, observation)
    def _encoder(self, src: Tensor) -> tuple[PackedSequence, tuple[Tensor, Tensor | None], Tensor]:
        """The encoder on packed input: the last layer's packed outputs, its final (h, c) at each
        row's last real token, and the rows' lengths."""
        lengths = _lengths(src)
        x = pack_padded_sequence(
            self.drop(self.enc_embedding(src)), lengths, batch_first=True, enforce_sorted=False
        )
        h_n = c_n = None
        for rnn in self.enc_rnns:
            x, state = rnn(x)
            h_n, c_n = state if isinstance(state, tuple) else (state, None)
        return x, (_final(h_n), None if c_n is None else _final(c_n)), lengths

    def encode(self, src: Tensor) -> tuple[Tensor, Tensor | None]:
        """Final (h, c) of the last encoder layer at each row's last real token."""
        return self._encoder(src)[1]

    def encode_memory(self, src: Tensor) -> tuple[tuple[Tensor, Tensor | None], Memory | None]:
        """:meth:`encode`'s final state and, with attention, the encoder's last-layer outputs
        at every source step with their real-step mask (None without attention)."""
        if self.cfg.attention == "none":
            return self.encode(src), None
        x, final, lengths = self._encoder(src)
        outs, _ = pad_packed_sequence(x, batch_first=True)
        valid = torch.arange(outs.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)
        return final, (outs, valid)

    def decoder_states(
        self, enc: tuple[Tensor, Tensor | None], tgt_in: Tensor
    ) -> tuple[list, Tensor]:
        """Teacher-forced decoder on packed sequences: per layer the packed output, and lengths."""
        lengths = _lengths(tgt_in)
        x = pack_padded_sequence(
            self.drop(self.dec_embedding(tgt_in)), lengths, batch_first=True, enforce_sorted=False
        )
        outs = []
        for li, rnn in enumerate(self.dec_rnns):
            if li == 0:
                h0 = enc[0].unsqueeze(0)
                init = (h0, enc[1].unsqueeze(0)) if self.cfg.cell == "lstm" else h0
                x, _ = rnn(x, init)
            else:
                x, _ = rnn(x)
            outs.append(x)
        return outs, lengths

    def forward(self, src: Tensor, tgt_in: Tensor) -> Tensor:
        """Logits [B, T, V] (positions past a row's length are zero-state logits: ignore them)."""
        enc, memory = self.encode_memory(src)
        outs, _ = self.decoder_states(enc, tgt_in)
        h, _ = pad_packed_sequence(outs[-1], batch_first=True, total_length=tgt_in.shape[1])
        return self.output_scores(self.attend(h, memory))

    def loss(
        self, src: Tensor, tgt_in: Tensor, tgt_out: Tensor, label_smoothing: float = 0.0
    ) -> Tensor:
        """Cross-entropy over real decoder steps only; the head runs on those steps alone.
        ``label_smoothing`` ε: (1 − ε)·NLL + ε·(mean −log p over the outputs); with the adaptive
        output layer the mean runs over its head's outputs (the shortlist of frequent words and
        the cluster entries) — the full vocabulary's log-probabilities would cost what the
        adaptive layer saves."""
        enc, memory = self.encode_memory(src)
        outs, lengths = self.decoder_states(enc, tgt_in)
        packed = outs[-1]
        if memory is not None:  # attention reads whole rows; the loss still only real steps
            h, _ = pad_packed_sequence(packed, batch_first=True)
            packed = pack_padded_sequence(
                self.attend(h, memory), lengths, batch_first=True, enforce_sorted=False
            )
        labels = pack_padded_sequence(tgt_out, lengths, batch_first=True, enforce_sorted=False)
        feats = self.drop(packed.data)  # identity in eval mode
        if isinstance(self.head, nn.AdaptiveLogSoftmaxWithLoss):  # only the clusters needed
            nll = self.head(feats, labels.data).loss
            if not label_smoothing:
                return nll
            uniform = -torch.log_softmax(self.head.head(feats), -1).mean()
            return (1 - label_smoothing) * nll + label_smoothing * uniform
        return nn.functional.cross_entropy(
            self.head(feats), labels.data, label_smoothing=label_smoothing
        )

    @torch.no_grad()
    def record_decoder(self, src: Tensor, tgt_in: Tensor, chunk: int = 4096) -> list[Tensor]:
        """Teacher-forced decoder hidden states of every layer: list of [N, T, H]. A padded step
        holds the state of the row's last real step (the state is carried, as in the engine)."""
        self.eval()
        parts = []
        for i in range(0, len(src), chunk):
            s, t = src[i : i + chunk], tgt_in[i : i + chunk]
            outs, lengths = self.decoder_states(self.encode(s), t)
            steps = t.shape[1]
            last = torch.minimum(torch.arange(steps).unsqueeze(0), (lengths - 1).unsqueeze(1))
            layers = []
            for o in outs:
                h = pad_packed_sequence(o, batch_first=True, total_length=steps)[0]
                layers.append(h.gather(1, last.unsqueeze(-1).expand(-1, -1, h.shape[-1])))
            parts.append(layers)
        return [torch.cat([p[layer] for p in parts]) for layer in range(self.cfg.depth)]

    # -- engine path (masked modules, step-by-step decoding)
    def initial_state(
        self, enc: tuple[Tensor, Tensor | None], unit_masks: list[Tensor | None] | None = None
    ) -> State:
        """Decoder state before step 0: layer 0 holds the encoder state, the others zeros. A
        removed unit of layer 0 is dead from the start: its slot of the encoder state is zeroed
        (as if its weights were zeroed, it feeds nothing)."""
        h_enc, c_enc = enc
        b, hid = h_enc.shape
        hs: list[Tensor] = [h_enc] + [h_enc.new_zeros(b, hid) for _ in range(self.cfg.depth - 1)]
        cs: list[Tensor | None] = (
            [c_enc] + [h_enc.new_zeros(b, hid) for _ in range(self.cfg.depth - 1)]
            if self.cfg.cell == "lstm"
            else [None] * self.cfg.depth
        )
        m = _step_mask(unit_masks[0] if unit_masks else None, 0, b)
        if m is not None:
            hs[0] = hs[0] * m
            if cs[0] is not None:
                cs[0] = cs[0] * m
        return hs, cs

    def run_decoder_engine(
        self,
        state: State,
        tgt_in: Tensor,
        *,
        unit_masks: list[Tensor | None] | None = None,
        start_step: int = 0,
    ):
        """Decoder steps ``start_step`` … through the cell engine from ``state`` with masks in
        canonical form [groups, steps, H] (steps = 1 rolled, T unrolled); padded steps carry
        the state. Returns the engine's :class:`StackOutput`."""
        steps = tgt_in.shape[1]
        masks = None
        if unit_masks is not None:
            masks = [
                m if m is None or m.shape[1] == 1 else m[:, start_step : start_step + steps]
                for m in (canonical_mask(x, per_step=False) for x in unit_masks)
            ]
        return run_stack(
            self.dec_embedding(tgt_in),
            self.decoder_weights(),
            self.cfg.cell,
            unit_masks=masks,
            h0=list(state[0]),
            c0=list(state[1]),
            step_valid=tgt_in != 0,
        )

    @torch.no_grad()
    def greedy(
        self,
        src: Tensor,
        start_ids: Tensor,
        end_ids: Tensor,
        *,
        unit_masks: list[Tensor | None] | None = None,
        max_steps: int | None = None,
        banned: Sequence[int] = (),
    ) -> Tensor:
        """Batched greedy decoding: the encoder runs once, then the decoder advances one step
        at a time from its cached state (never re-running the prefix). Returns emitted ids
        [B, ≤ max_steps], 0 after a row's end token. ``unit_masks``: the decoder masks of a
        module (canonical form), or None for the monolithic model; ``banned``: ids never
        emitted."""
        return self.beam(
            src,
            start_ids,
            end_ids,
            width=1,
            unit_masks=unit_masks,
            max_steps=max_steps,
            banned=banned,
        )

    @torch.no_grad()
    def beam(
        self,
        src: Tensor,
        start_ids: Tensor,
        end_ids: Tensor,
        *,
        width: int,
        unit_masks: list[Tensor | None] | None = None,
        max_steps: int | None = None,
        length_penalty: float = LENGTH_PENALTY,
        banned: Sequence[int] = (),
    ) -> Tensor:
        """Batched beam search: ``width`` hypotheses per row advance together as B·width rows
        of one decoder step (the encoder runs once; the states of the kept hypotheses are
        gathered, never recomputed). A finished hypothesis keeps its score and emits padding.
        The best hypothesis of each row maximises log p / ((5 + length) / 6) ** length_penalty
        (GNMT's normalisation; 0 = the raw log-probability). A ``banned`` id (``<unk>`` when
        asked) is never emitted: the hypotheses continue with their best other words. Same
        output as :meth:`greedy`: ids [B, ≤ max_steps], 0 after a row's end token; ``width=1``
        is greedy decoding."""
        if width < 1:
            raise ValueError(f"beam width must be at least 1, got {width}")
        self.eval()
        max_steps = max_steps or self.cfg.tgt_len
        masks = None
        if unit_masks is not None:
            masks = [
                None if m is None else canonical_mask(m.float(), per_step=True) for m in unit_masks
            ]
        b, n = len(src), width
        enc, memory = self.encode_memory(src)
        if memory is not None:  # every hypothesis of a row attends to that row's source
            memory = (memory[0].repeat_interleave(n, 0), memory[1].repeat_interleave(n, 0))
        hs, cs = self.initial_state(enc, masks)
        hs = [h.repeat_interleave(n, dim=0) for h in hs]
        cs = [None if c is None else c.repeat_interleave(n, dim=0) for c in cs]
        tok = start_ids.repeat_interleave(n)
        ends = end_ids.view(b, 1)
        score = torch.full((b, n), float("-inf"))
        score[:, 0] = 0.0  # one live hypothesis per row at first
        done = torch.zeros(b, n, dtype=torch.bool)
        length = torch.zeros(b, n)
        history = src.new_zeros(b, n, 0)
        rows = torch.arange(b).unsqueeze(1) * n
        vocab = self.cfg.tgt_vocab_size
        pad_only = torch.full((vocab,), float("-inf"))  # a finished hypothesis continues only
        pad_only[0] = 0.0  # with padding, at no cost
        banned_ids = torch.tensor(sorted(set(banned)), dtype=torch.long)
        for t in range(max_steps):
            step_masks = None if masks is None else [_mask_slice(m, t) for m in masks]
            run = run_stack(
                self.dec_embedding(tok).unsqueeze(1),
                self.decoder_weights(),
                self.cfg.cell,
                unit_masks=step_masks,
                h0=hs,
                c0=cs,
            )
            top = self.attend(run.output, memory)[:, 0]
            scores = self.output_scores(top)
            if len(banned_ids):  # renormalised over the words it may emit
                scores[..., banned_ids] = float("-inf")
            logp = torch.log_softmax(scores, dim=-1).view(b, n, -1)
            logp = torch.where(done.unsqueeze(-1), pad_only, logp)
            total = (score.unsqueeze(-1) + logp).view(b, n * vocab)
            score, flat = total.topk(n, dim=1)
            origin, tok2 = flat // vocab, flat % vocab  # [B, n] each
            pick = (rows + origin).view(-1)
            hs = [h[pick] for h in run.final_h]
            cs = [None if c is None else c[pick] for c in run.final_c]
            was_done = done.gather(1, origin)
            length = length.gather(1, origin) + (~was_done).float()
            done = was_done | (tok2 == ends)
            history = torch.cat(
                [history.gather(1, origin.unsqueeze(-1).expand(-1, -1, t)), tok2.unsqueeze(-1)], 2
            )
            tok = tok2.view(-1)
            if bool(done.all()):
                break
        norm = ((5.0 + length) / 6.0) ** length_penalty
        best = (score / norm).argmax(dim=1)
        return history[torch.arange(b), best]


def _mask_slice(mask: Tensor | None, t: int) -> Tensor | None:
    """Canonical mask [G, S, W] → the mask of decoder step t as [G, 1, W] (rolled: itself;
    past the last unrolled step: the last step's mask)."""
    if mask is None or mask.shape[1] == 1:
        return mask
    t = min(t, mask.shape[1] - 1)
    return mask[:, t : t + 1]


def _step_mask(mask: Tensor | None, t: int, batch: int) -> Tensor | None:
    if mask is None:
        return None
    m = canonical_mask(mask)
    m = m[:, min(t, m.shape[1] - 1)]
    if m.shape[0] not in (1, batch):
        m = m.repeat_interleave(batch // m.shape[0], dim=0)
    return m
