"""Bring your own PyTorch model: adapt an ``nn.Embedding`` + ``nn.RNN/LSTM/GRU`` + ``nn.Linear``
classifier to a :class:`SeqClassifier`, which every part of rnnmod accepts.

The user's layers may be nested anywhere in their module, use ``batch_first`` either way, stack
layers inside one ``nn.LSTM(num_layers=k)`` or as several modules, and have no biases. The
adapter copies the weights (one single-layer torch module per layer, same parameters) and then
*checks* on random ids that the adapted model reproduces the user's ``forward`` — that is what
makes the structural guess (embedding → recurrent stack → head on the last step or every step)
safe.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..data.vocab import Vocab
from ..errors import RnnmodError
from ..nn.zoo import IO_TYPES, ClassifierConfig, SeqClassifier

_TOL = 1e-4


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


def _only(model: nn.Module, kind: type, what: str, arg: str) -> nn.Module:
    found = [m for m in model.modules() if isinstance(m, kind)]
    if len(found) != 1:
        hint = (
            "; an MLP head (Linear → activation → Linear) is not supported yet"
            if kind is nn.Linear and len(found) > 1
            else ""
        )
        raise RnnmodError(
            f"your model has {len(found)} {what} modules: rnnmod adapts embedding → recurrent "
            f"layers → one linear head; if only one of them is on that path, pass it as "
            f"{arg}={hint}"
        )
    return found[0]


def _layers(rnns: list[nn.RNNBase]) -> list[dict[str, Tensor]]:
    """Every layer of every recurrent module, in torch layout, biases filled with zeros."""
    out = []
    for rnn in rnns:
        if rnn.bidirectional:
            raise RnnmodError(
                "bidirectional recurrent layers are not supported yet (rnnmod's modules mask the "
                "units of one direction per layer); adapt a unidirectional model"
            )
        for i in range(rnn.num_layers):
            w_ih = getattr(rnn, f"weight_ih_l{i}").detach()
            w_hh = getattr(rnn, f"weight_hh_l{i}").detach()
            zeros = torch.zeros(w_ih.shape[0], dtype=w_ih.dtype)
            b_ih = getattr(rnn, f"bias_ih_l{i}").detach() if rnn.bias else zeros
            b_hh = getattr(rnn, f"bias_hh_l{i}").detach() if rnn.bias else zeros
            out.append(
                {"weight_ih_l0": w_ih, "weight_hh_l0": w_hh, "bias_ih_l0": b_ih, "bias_hh_l0": b_hh}
            )
    return out


def _first_output(y) -> Tensor:
    if isinstance(y, tuple | list):
        y = y[0]
    if not isinstance(y, Tensor):
        raise RnnmodError(f"your model's forward returned {type(y).__name__}, not a tensor")
    return y


@torch.no_grad()
def from_torch(
    model: nn.Module,
    *,
    io_type: str,
    seq_len: int | None = None,
    vocab: Vocab | None = None,
    out_steps: int | None = None,
    embedding: nn.Embedding | None = None,
    rnns: list[nn.RNNBase] | None = None,
    head: nn.Linear | None = None,
    check: bool = True,
) -> SeqClassifier:
    """Adapt a user's classifier to a :class:`SeqClassifier` (same weights, same outputs).

    ``io_type``: ``M:1`` (head on the last step's state), ``M:N`` (head on every step), ``1:1``/
    ``1:N`` (embeddings flattened and repeated ``out_steps`` times, Keras-style). ``seq_len``:
    ids per example (default ``vocab.seq_len``). ``embedding``/``rnns``/``head`` name the layers
    when the model has several candidates. ``check`` runs both models on random ids and raises
    when they disagree (the model's ``forward`` is then not embedding → RNN → linear).
    """
    if io_type not in IO_TYPES:
        raise RnnmodError(f"unknown io_type {io_type!r}; expected one of {', '.join(IO_TYPES)}")
    emb = embedding or _only(model, nn.Embedding, "nn.Embedding", "embedding")
    lin = head or _only(model, nn.Linear, "nn.Linear", "head")
    if rnns is None:
        rnns = [m for m in model.modules() if isinstance(m, nn.RNNBase)]
    if not rnns:
        raise RnnmodError("your model has no nn.RNN, nn.LSTM or nn.GRU")
    if emb.max_norm is not None:
        raise RnnmodError("nn.Embedding with max_norm is not supported (it rewrites its weights)")
    cells = {_cell_of(r) for r in rnns}
    if len(cells) != 1:
        raise RnnmodError(f"recurrent modules of different kinds ({', '.join(sorted(cells))})")
    cell = cells.pop()
    layers = _layers(rnns)
    if not 1 <= len(layers) <= 4:
        raise RnnmodError(f"{len(layers)} recurrent layers; rnnmod supports 1-4")
    hidden = layers[0]["weight_hh_l0"].shape[1]
    if any(la["weight_hh_l0"].shape[1] != hidden for la in layers):
        raise RnnmodError("recurrent layers of different widths are not supported")
    if lin.in_features != hidden:
        raise RnnmodError(
            f"the head takes {lin.in_features} features but the recurrent layers have {hidden} units"
        )
    seq_len = seq_len or (vocab.seq_len if vocab is not None else None)
    first_in = layers[0]["weight_ih_l0"].shape[1]
    flattens = io_type in ("1:1", "1:N")
    if flattens:
        if first_in % emb.embedding_dim:
            raise RnnmodError(
                f"{io_type}: the first recurrent layer takes {first_in} inputs, not a multiple of "
                f"the embedding size {emb.embedding_dim}"
            )
        implied = first_in // emb.embedding_dim
        if seq_len is not None and seq_len != implied:
            raise RnnmodError(f"seq_len {seq_len} but the first recurrent layer implies {implied}")
        seq_len = implied
    elif first_in != emb.embedding_dim:
        raise RnnmodError(
            f"the first recurrent layer takes {first_in} inputs but the embedding gives {emb.embedding_dim}"
        )
    if seq_len is None:
        raise RnnmodError("pass seq_len (ids per example) or a vocab")
    if io_type == "1:N" and not out_steps:
        raise RnnmodError("1:N models need out_steps (how many labels each example gets)")
    steps = {"1:1": 1, "M:1": 1, "1:N": out_steps, "M:N": seq_len}[io_type]
    if vocab is not None and vocab.size > emb.num_embeddings:
        raise RnnmodError(
            f"the vocabulary has {vocab.size} ids but the embedding only {emb.num_embeddings} rows"
        )
    cfg = ClassifierConfig(
        io_type=io_type,
        cell=cell,
        depth=len(layers),
        vocab_size=emb.num_embeddings,
        embed_dim=emb.embedding_dim,
        hidden=hidden,
        n_classes=lin.out_features,
        seq_len=seq_len,
        out_steps=steps,
    )
    out = SeqClassifier(cfg)
    state = {"embedding.weight": emb.weight.detach()}
    for i, la in enumerate(layers):
        state.update({f"rnns.{i}.{k}": v for k, v in la.items()})
    state["head.weight"] = lin.weight.detach()
    state["head.bias"] = (
        lin.bias.detach() if lin.bias is not None else torch.zeros(lin.out_features)
    )
    out.load_state_dict({k: v.float().cpu() for k, v in state.items()})
    out.eval()
    if check:
        _check_same(model, out, rnns[0], lin)
    return out


def _check_batch(cfg) -> tuple[torch.Tensor, torch.Tensor]:
    """Ids to compare on, as users' batches look: full rows, and rows of real lengths padded
    with id 0 before and after the text. → (ids [N, L], which rows are padded)."""
    g = torch.Generator().manual_seed(0)
    n, length = 6, cfg.seq_len
    ids = torch.randint(1, cfg.vocab_size, (3 * n, length), generator=g)
    real = torch.randint(1, length + 1, (2 * n,), generator=g)
    steps = torch.arange(length)
    ids[n : 2 * n][steps >= real[:n, None]] = 0  # post-padded
    ids[2 * n :][steps < (length - real[n:])[:, None]] = 0  # pre-padded
    padded = torch.zeros(3 * n, dtype=torch.bool)
    padded[n:] = True
    return ids, padded


def _seen(module: nn.Module, store: dict, key: str):
    """A forward hook keeping the module's first input and its output (first call only)."""

    def hook(_mod, args, output):
        x = args[0] if args else None
        if key not in store and isinstance(x, Tensor):  # packed input: nothing to compare
            out = output[0] if isinstance(output, tuple) else output
            store[key] = (x.detach().float().cpu(), out)

    return module.register_forward_hook(hook)


def _where_it_differs(adapted: SeqClassifier, ids: Tensor, seen: dict, theirs: Tensor) -> str:
    """Which part of the user's forward is not embedding → recurrent layers → linear head (the
    first that differs from the adapted model on the same ids), in words, or '' if none."""
    if "rnn" in seen:
        x, _ = seen["rnn"]
        want = adapted.recurrent_input(ids)
        if x.dim() == 3 and x.shape != want.shape and x.transpose(0, 1).shape == want.shape:
            x = x.transpose(0, 1)  # a time-major layer
        if x.shape != want.shape or not torch.allclose(x, want, atol=_TOL, rtol=_TOL):
            return (
                "the first recurrent layer does not read the embedding of the ids as they are "
                "(something between them: a reversed or shifted sequence, dropout kept on, extra "
                "features)"
            )
    if "head" in seen:
        x, out = seen["head"]
        feats = adapted.head_features(adapted.run_engine(ids).output)
        where = "the last step" if adapted.one_output else "every step"
        if x.shape != feats.shape or not torch.allclose(x, feats, atol=_TOL, rtol=_TOL):
            return (
                f"the head does not read the last recurrent layer's state at {where} (pooling or "
                "attention over the steps, a concatenation, an MLP or another layer before it)"
            )
        if not isinstance(out, Tensor):
            return ""
        head_out = torch.log_softmax(out.detach().float().cpu(), -1)
        final = torch.log_softmax(theirs, -1)
        if head_out.shape != final.shape or not torch.allclose(head_out, final, atol=_TOL):
            return (
                "your model changes the head's output before returning it (a CRF or transition "
                "layer, a scaling, another layer after the head)"
            )
    return ""


def _check_same(
    model: nn.Module, adapted: SeqClassifier, first_rnn: nn.Module, head: nn.Module
) -> None:
    """The adapted model must give the user's outputs on full and padded rows, compared after
    ``log_softmax`` over the classes (a model returning log-probabilities, NLLLoss style, is the
    same model as one returning logits). When it does not, forward hooks on the user's first
    recurrent layer and head say which part differs."""
    ids, padded = _check_batch(adapted.cfg)
    dev = next(iter(model.parameters())).device
    was_training = model.training
    model.eval()
    seen: dict = {}
    hooks = [_seen(first_rnn, seen, "rnn"), _seen(head, seen, "head")]
    try:
        theirs = _first_output(model(ids.to(dev))).float().cpu()
    except Exception as e:  # noqa: BLE001 — any failure of user code becomes one clear line
        raise RnnmodError(
            f"could not run your model on ids of shape {tuple(ids.shape)} ({type(e).__name__}: {e}); "
            "pass check=False to skip the equivalence check"
        ) from None
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    ours = adapted(ids)
    if theirs.shape != ours.shape:
        raise RnnmodError(
            f"your model returns shape {tuple(theirs.shape)} but a {adapted.cfg.io_type} classifier "
            f"returns {tuple(ours.shape)}: check io_type (and out_steps)"
        )
    theirs, ours = torch.log_softmax(theirs, -1), torch.log_softmax(ours, -1)
    per_row = (theirs - ours).abs().flatten(1).amax(1)
    bad = per_row > _TOL * max(1.0, float(theirs.abs().max()))
    if bad.any() and not bad[~padded].any():
        raise RnnmodError(
            "the adapted model agrees with yours on full rows but not on padded ones: your model "
            "treats padding specially (lengths, packed sequences or masks), which rnnmod's zoo "
            "does not (it reads every id, padding included); such a model is not supported yet"
        )
    if bad.any():
        part = _where_it_differs(adapted, ids, seen, theirs)
        shape = (
            f"embedding → recurrent layers → linear head on "
            f"{'the last step' if adapted.one_output else 'every step'}"
        )
        raise RnnmodError(
            f"the adapted model differs from yours by up to {float(per_row.max()):.2e} (after "
            f"log_softmax) on random ids: your forward is not {shape}"
            + (f": {part}" if part else "")
            + "; rnnmod supports that shape only (check io_type, or name the layers with "
            "embedding=/rnns=/head=)"
        )
