"""Bring your own PyTorch model: adapt a recurrent classifier or tagger to a
:class:`SeqClassifier`, which every part of rnnmod accepts.

The adapter reads the model's structure from what its ``forward`` does (forward hooks,
:mod:`.torch_trace`), not from its module tree: the embedding it calls, its recurrent layers
in call order (uni- or bidirectional, any ``num_layers``, ``batch_first`` either way, no bias,
packed sequences), the linear layers called after them (the last is the head, the ones before
an MLP whose activations are identified from the values they pass on), and the readout the head
reads (the last step, both directions' final states, or mean/max pooling over the real or all
steps). ``forward(ids)`` and ``forward(ids, lengths)`` are both accepted. The weights are then
copied, and the adapted model is *checked* against the user's on batches as users' look — full
rows and rows of real lengths padded with the pad id, plus the user's own ids when given —
compared after ``log_softmax`` (a model returning log-probabilities is the same model as its
logits). A model that disagrees is refused with the part that differs; it is never adapted
wrongly.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..data.vocab import Vocab
from ..errors import RnnmodError
from ..nn.zoo import ACTIVATIONS, IO_TYPES, ClassifierConfig, SeqClassifier
from .torch_trace import Call, Trace, call_forward, takes_lengths, trace

_TOL = 1e-4
SHAPE = (
    "rnnmod supports embedding → recurrent layers → readout (every step, the last step, mean or "
    "max pooling) → optional MLP → linear head"
)
READOUT_WORDS = {
    ("last", "real"): "the last step",
    ("mean", "real"): "the mean over real steps",
    ("max", "real"): "the max over real steps",
    ("mean", "all"): "the mean over all steps",
    ("max", "all"): "the max over all steps",
}


def _cell_of(rnn: nn.RNNBase) -> str:
    if isinstance(rnn, nn.LSTM):
        if getattr(rnn, "proj_size", 0):
            raise RnnmodError("LSTM with proj_size > 0 is not supported")
        return "lstm"
    if isinstance(rnn, nn.GRU):
        return "gru"
    if isinstance(rnn, nn.RNN):
        return "rnn" if rnn.nonlinearity == "tanh" else "rnn-relu"
    raise RnnmodError(f"unsupported recurrent module {type(rnn).__name__}")


def _layers(rnns: list[nn.RNNBase]) -> list[dict[str, Tensor]]:
    """Every layer of every recurrent module as a single-layer module's state (``_l0`` and,
    bidirectional, ``_l0_reverse``), biases filled with zeros."""
    out = []
    for rnn in rnns:
        sfxs = ("", "_reverse") if rnn.bidirectional else ("",)
        for i in range(rnn.num_layers):
            state = {}
            for sfx in sfxs:
                w_ih = getattr(rnn, f"weight_ih_l{i}{sfx}").detach()
                zeros = torch.zeros(w_ih.shape[0], dtype=w_ih.dtype)
                state[f"weight_ih_l0{sfx}"] = w_ih
                state[f"weight_hh_l0{sfx}"] = getattr(rnn, f"weight_hh_l{i}{sfx}").detach()
                for b in ("ih", "hh"):
                    state[f"bias_{b}_l0{sfx}"] = (
                        getattr(rnn, f"bias_{b}_l{i}{sfx}").detach() if rnn.bias else zeros
                    )
            out.append(state)
    return out


def _recurrent_layers(rnns: list[nn.RNNBase]) -> tuple[str, list[dict[str, Tensor]]]:
    """The cell kind and every layer of the user's recurrent modules, refused unless they are
    of one kind, one direction count and one width, 1-4 layers in all."""
    cells = {_cell_of(r) for r in rnns}
    if len(cells) != 1:
        raise RnnmodError(f"recurrent modules of different kinds ({', '.join(sorted(cells))})")
    if len({r.bidirectional for r in rnns}) != 1:
        raise RnnmodError("a mix of bidirectional and unidirectional recurrent layers")
    layers = _layers(rnns)
    if not 1 <= len(layers) <= 4:
        raise RnnmodError(f"{len(layers)} recurrent layers; rnnmod supports 1-4")
    if len({la["weight_hh_l0"].shape[1] for la in layers}) > 1:
        raise RnnmodError("recurrent layers of different widths are not supported yet")
    return cells.pop(), layers


def check_batch(seq_len: int, vocab_size: int, pad_id: int, sides: tuple[str, ...]) -> Tensor:
    """Ids as users' batches look: full rows, and rows of real lengths (1 to L) padded with
    ``pad_id`` after (``post``) and/or before (``pre``) the text."""
    g = torch.Generator().manual_seed(0)
    n = 6
    rows = []
    for side in ("full", *sides):
        ids = torch.randint(0, vocab_size - 1, (n, seq_len), generator=g)
        ids = ids + (ids >= pad_id).long()  # every id but the pad id
        real = torch.randint(1, seq_len + 1, (n,), generator=g)
        steps = torch.arange(seq_len)
        if side == "post":
            ids[steps >= real[:, None]] = pad_id
        elif side == "pre":
            ids[steps < (seq_len - real)[:, None]] = pad_id
        rows.append(ids)
    return torch.cat(rows)


def _close(a: Tensor | None, b: Tensor, where: Tensor | None = None) -> bool:
    if a is None or a.shape != b.shape:
        return False
    if where is not None:
        a, b = a[where], b[where]
    return bool(torch.allclose(a, b, atol=_TOL, rtol=_TOL))


def _unique(calls: list[Call]) -> list[nn.Module]:
    seen: list[nn.Module] = []
    for c in calls:
        if not any(c.module is m for m in seen):
            seen.append(c.module)
    return seen


def _head_chain(tr: Trace, last_rnn: Call, head: nn.Linear | None) -> list[Call]:
    """The linear layers the forward calls after its last recurrent layer, up to the head."""
    chain = tr.after(last_rnn, nn.Linear)
    if not chain:
        raise RnnmodError(
            "your model calls no nn.Linear after its recurrent layers: rnnmod needs a linear head "
            "(or an MLP ending in one) on the recurrent states"
        )
    if head is not None:
        at = [i for i, c in enumerate(chain) if c.module is head]
        if not at:
            raise RnnmodError("head= is not called after the recurrent layers in your forward")
        chain = chain[: at[0] + 1]
    modules = [c.module for c in chain]
    if len(_unique(chain)) != len(modules):
        raise RnnmodError(
            "a linear layer after the recurrent layers is called several times in one forward "
            "(a loop over steps or a decoder): the head does not read the states in one pass"
        )
    return chain


def _activation(a: Call, b: Call) -> str:
    """The activation between two linear layers of an MLP head, from the values they pass on."""
    for name, cls in ACTIVATIONS.items():
        if a.out is not None and _close(cls()(a.out), b.inp):
            return name
    raise RnnmodError(
        "the head does not read the recurrent states through an MLP rnnmod knows: between two "
        f"linear layers your model applies something other than one of {', '.join(ACTIVATIONS)} "
        "(attention or gating over the steps, a normalisation, a residual); name the last linear "
        f"layer with head= if the others are not part of the head; {SHAPE}"
    )


@torch.no_grad()
def from_torch(
    model: nn.Module,
    *,
    io_type: str | None = None,
    seq_len: int | None = None,
    vocab: Vocab | None = None,
    out_steps: int | None = None,
    embedding: nn.Embedding | None = None,
    rnns: list[nn.RNNBase] | None = None,
    head: nn.Linear | None = None,
    sample: Tensor | None = None,
    pad_id: int = 0,
    check: bool = True,
) -> SeqClassifier:
    """Adapt a user's recurrent classifier or tagger to a :class:`SeqClassifier` (same weights,
    same outputs after ``log_softmax``).

    ``io_type``: ``M:1`` (one output per text), ``M:N`` (one per step); None infers it from
    what the head reads; ``1:1``/``1:N`` (embeddings flattened and repeated ``out_steps``
    times, Keras-style) must be named. ``seq_len``: ids per example (default
    ``vocab.seq_len``). ``embedding``/``rnns``/``head`` name the layers when the forward calls
    several candidates. ``sample``: ids of your own data [N, L] to check on besides the
    generated batch (e.g. the test split). ``pad_id``: the padding id (lengths are the counts
    of other ids). ``check=False`` skips the final comparison (the structure is still read from
    one traced forward).
    """
    if io_type is not None and io_type not in IO_TYPES:
        raise RnnmodError(f"unknown io_type {io_type!r}; expected one of {', '.join(IO_TYPES)}")
    seq_len = seq_len or (vocab.seq_len if vocab is not None else None)
    flattens = io_type in ("1:1", "1:N")
    embs = [m for m in model.modules() if isinstance(m, nn.Embedding)]
    if embedding is None and len(embs) != 1:
        raise RnnmodError(
            f"your model has {len(embs)} nn.Embedding modules: pass the one that embeds the ids "
            "as embedding="
        )
    emb = embedding or embs[0]
    if emb.max_norm is not None:
        raise RnnmodError("nn.Embedding with max_norm is not supported (it rewrites its weights)")
    if flattens:
        return _from_torch_flat(model, io_type, seq_len, vocab, out_steps, emb, rnns, head, check)
    if seq_len is None:
        raise RnnmodError("pass seq_len (ids per example) or a vocab")
    if vocab is not None and vocab.size > emb.num_embeddings:
        raise RnnmodError(
            f"the vocabulary has {vocab.size} ids but the embedding only {emb.num_embeddings} rows"
        )
    lengths = takes_lengths(model)
    if not [m for m in model.modules() if isinstance(m, nn.RNNBase)]:
        raise RnnmodError("your model has no nn.RNN, nn.LSTM or nn.GRU")

    # the structure, from one traced forward on full rows (any model reads those)
    probe = check_batch(seq_len, emb.num_embeddings, pad_id, ())
    tr = trace(model, probe, pad_id, lengths)
    rnn_calls = [c for c in tr.of(nn.RNNBase) if rnns is None or any(c.module is r for r in rnns)]
    if not rnn_calls:
        raise RnnmodError("your forward calls no nn.RNN, nn.LSTM or nn.GRU")
    order = _unique(rnn_calls)
    if len(order) != len(rnn_calls):
        raise RnnmodError(
            "a recurrent layer is called several times in one forward (a loop over steps, a "
            "decoder): rnnmod adapts models that run each layer once over the sequence"
        )
    rnns = rnns or order
    cell, layers = _recurrent_layers(rnns)
    if layers[0]["weight_ih_l0"].shape[1] != emb.embedding_dim:
        raise RnnmodError(
            f"the first recurrent layer takes {layers[0]['weight_ih_l0'].shape[1]} inputs but "
            f"the embedding gives {emb.embedding_dim}"
        )
    chain = _head_chain(tr, rnn_calls[-1], head)
    acts = {_activation(a, b) for a, b in zip(chain, chain[1:])}
    if len(acts) > 1:
        raise RnnmodError(f"an MLP head with different activations ({', '.join(sorted(acts))})")
    if io_type is None:
        io_type = "M:N" if chain[0].inp is not None and chain[0].inp.dim() == 3 else "M:1"
    packed = rnn_calls[0].packed
    head_lin = chain[-1].module
    cfg = _config(
        io_type,
        cell,
        emb,
        layers,
        head_lin.out_features,
        seq_len,
        seq_len if io_type == "M:N" else 1,
        bidirectional=rnns[0].bidirectional,
        padding="skipped" if packed else "tokens",
        pad_id=pad_id,
        head_hidden=[c.module.out_features for c in chain[:-1]],
        head_activation=acts.pop() if acts else "relu",
    )
    adapted = _build(cfg, emb, layers, [c.module for c in chain])

    # the padding side users' rows have: a model that packs or takes lengths reads post-padded
    # rows; otherwise the vocabulary's side, or both when none is given
    sides = ("post",) if packed or lengths else ((vocab.padding,) if vocab else ("post", "pre"))
    ids = check_batch(seq_len, emb.num_embeddings, pad_id, sides)
    tr = trace(model, ids, pad_id, lengths)
    _choose_readout(adapted, ids, tr, chain, packed)
    if check:
        _check_same(model, adapted, head_lin, ids, tr, sample, lengths)
    return adapted


def _config(
    io_type: str,
    cell: str,
    emb: nn.Embedding,
    layers: list[dict],
    n_classes: int,
    seq_len: int,
    out_steps: int,
    **shape,
) -> ClassifierConfig:
    """The adapted model's description from the user's layers (``shape``: the structure
    fields beyond the zoo's)."""
    return ClassifierConfig(
        io_type=io_type,
        cell=cell,
        depth=len(layers),
        vocab_size=emb.num_embeddings,
        embed_dim=emb.embedding_dim,
        hidden=layers[0]["weight_hh_l0"].shape[1],
        n_classes=n_classes,
        seq_len=seq_len,
        out_steps=out_steps,
        **shape,
    )


def _build(
    cfg: ClassifierConfig, emb: nn.Embedding, layers: list[dict], linears: list[nn.Linear]
) -> SeqClassifier:
    out = SeqClassifier(cfg)
    state = {"embedding.weight": emb.weight.detach()}
    for i, la in enumerate(layers):
        state.update({f"rnns.{i}.{k}": v for k, v in la.items()})
    for i, lin in enumerate(linears):
        prefix = "head" if i == len(linears) - 1 else f"body.{2 * i}"
        state[f"{prefix}.weight"] = lin.weight.detach()
        state[f"{prefix}.bias"] = (
            lin.bias.detach() if lin.bias is not None else torch.zeros(lin.out_features)
        )
    out.load_state_dict({k: v.float().cpu() for k, v in state.items()})
    return out.eval()


def _choose_readout(
    adapted: SeqClassifier, ids: Tensor, tr: Trace, chain: list[Call], packed: bool
) -> None:
    """Set the adapted model's padding semantics and readout to the ones whose head input is
    the user's (first linear of the head, as traced); refuse when none is."""
    theirs = tr.of(nn.Linear)
    first = next((c for c in theirs if c.module is chain[0].module), None)
    want = None if first is None else first.inp
    cfg = adapted.cfg
    real = ids != cfg.pad_id
    paddings = ("skipped",) if packed else ("tokens", "skipped")
    readouts = list(READOUT_WORDS) if adapted.one_output else [("last", "real")]
    for padding in paddings:
        cfg.padding = padding
        states = adapted.recurrent_states(ids)[-1]
        for readout, pool in readouts:
            cfg.readout, cfg.pool_steps = readout, pool
            got = adapted.readout(states, ids)
            # many-output models: positions the user's packed layers never computed are not compared
            where = real if not adapted.one_output and padding == "skipped" else None
            if want is not None and want.dim() == 3 and got.shape != want.shape:
                want = want.transpose(0, 1) if want.transpose(0, 1).shape == got.shape else want
            if _close(want, got, where):
                cfg.validate()
                return
    cfg.padding, cfg.readout, cfg.pool_steps = paddings[0], "last", "real"
    part = _input_differs(adapted, ids, tr)
    tried = ", ".join(READOUT_WORDS.values()) if adapted.one_output else "every step"
    raise RnnmodError(
        part
        or (
            f"the head does not read the last recurrent layer's states as rnnmod knows (tried "
            f"{tried}, both directions' final states when bidirectional): attention pooling, a "
            f"concatenation with other features, or another layer in between; {SHAPE}"
        )
    )


def _input_differs(adapted: SeqClassifier, ids: Tensor, tr: Trace) -> str:
    """'' when the first recurrent layer reads the embedding of the ids as they are, else why."""
    first = tr.of(nn.RNNBase)[0]
    if first.packed or first.inp is None:
        return ""
    x, want = first.inp, adapted.recurrent_input(ids)
    if x.dim() == 3 and x.shape != want.shape and x.transpose(0, 1).shape == want.shape:
        x = x.transpose(0, 1)  # a time-major layer
    if _close(x, want):
        return ""
    return (
        "the first recurrent layer does not read the embedding of the ids as they are "
        "(something between them: a reversed or shifted sequence, dropout kept on, extra "
        f"features); {SHAPE}"
    )


def _check_same(
    model: nn.Module,
    adapted: SeqClassifier,
    head: nn.Module,
    ids: Tensor,
    tr: Trace,
    sample: Tensor | None,
    lengths: bool,
) -> None:
    """The adapted model must give the user's outputs, compared after ``log_softmax`` (on real
    positions only for a packed tagger), on the check batch and the user's own ids."""
    batches = [(ids, tr.output)]
    if sample is not None:
        for i in range(0, len(sample), 1024):
            part = sample[i : i + 1024]
            batches.append((part, call_forward(model, part, adapted.cfg.pad_id, lengths)))
    worst, full_rows_agree = 0.0, True
    for x, theirs in batches:
        ours = adapted(x)
        if theirs.shape != ours.shape:
            raise RnnmodError(
                f"your model returns shape {tuple(theirs.shape)} but the adapted "
                f"{adapted.cfg.io_type} model returns {tuple(ours.shape)}: check io_type (and "
                "out_steps)"
            )
        diff = (torch.log_softmax(theirs, -1) - torch.log_softmax(ours, -1)).abs()
        if not adapted.one_output and adapted.cfg.padding == "skipped":
            diff = diff * (x != adapted.cfg.pad_id).unsqueeze(-1)
        worst = max(worst, float(diff.max()))
        full = (x != adapted.cfg.pad_id).all(1)
        full_rows_agree &= not bool((diff[full] > _TOL * 10).any())
    if worst <= _TOL * 10:
        return
    head_out = next(c.out for c in reversed(tr.calls) if c.module is head)
    if full_rows_agree:
        part = (
            "it agrees on full rows but not on padded ones: your model treats padding in a way "
            "rnnmod does not know (rnnmod reads padding as tokens, or skips it as a packed "
            "sequence does, holding each direction's state; pass your padding id as pad_id=)"
        )
    elif head_out is not None and not _close(
        torch.log_softmax(head_out, -1), torch.log_softmax(tr.output, -1)
    ):
        part = (
            "your model changes the head's output before returning it (a CRF or transition "
            "layer, a scaling, another layer after the head)"
        )
    else:
        part = _input_differs(adapted, ids, tr) or "the recurrent layers or the readout"
    raise RnnmodError(
        f"the adapted model differs from yours by up to {worst:.2e} (after log_softmax): {part}; "
        f"{SHAPE} (check io_type, or name the layers with embedding=/rnns=/head=)"
    )


def _from_torch_flat(model, io_type, seq_len, vocab, out_steps, emb, rnns, head, check):
    """1:1 / 1:N: the Keras Flatten + RepeatVector shape (unidirectional, tokens, Linear head),
    checked like the others."""
    lengths = takes_lengths(model)
    if rnns is None:
        rnns = [m for m in model.modules() if isinstance(m, nn.RNNBase)]
    if not rnns:
        raise RnnmodError("your model has no nn.RNN, nn.LSTM or nn.GRU")
    if any(r.bidirectional for r in rnns):
        raise RnnmodError(f"{io_type} models read one flattened input: no bidirectional layers")
    cell, layers = _recurrent_layers(rnns)
    first_in = layers[0]["weight_ih_l0"].shape[1]
    if first_in % emb.embedding_dim:
        raise RnnmodError(
            f"{io_type}: the first recurrent layer takes {first_in} inputs, not a multiple of "
            f"the embedding size {emb.embedding_dim}"
        )
    implied = first_in // emb.embedding_dim
    if seq_len is not None and seq_len != implied:
        raise RnnmodError(f"seq_len {seq_len} but the first recurrent layer implies {implied}")
    if io_type == "1:N" and not out_steps:
        raise RnnmodError("1:N models need out_steps (how many labels each example gets)")
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    lin = head or (linears[0] if len(linears) == 1 else None)
    if lin is None:
        raise RnnmodError(
            f"your model has {len(linears)} nn.Linear modules: pass the head as head="
        )
    cfg = _config(
        io_type,
        cell,
        emb,
        layers,
        lin.out_features,
        implied,
        1 if io_type == "1:1" else out_steps,
    )
    adapted = _build(cfg, emb, layers, [lin])
    if check:
        ids = check_batch(implied, emb.num_embeddings, 0, ("post", "pre"))
        _check_same(model, adapted, lin, ids, trace(model, ids, 0, lengths), None, lengths)
    return adapted
