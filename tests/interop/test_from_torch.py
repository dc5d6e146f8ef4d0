"""Bring your own PyTorch model: a classifier defined here, trained briefly, then decomposed and
composed through the public API."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import rnnmod
from rnnmod.composition import compose_modulesets
from rnnmod.data.base import TaskData
from rnnmod.data.vocab import Vocab
from rnnmod.decomposition import decompose, preset
from rnnmod.errors import RnnmodError
from rnnmod.interop import save_model_run
from rnnmod.modules import vote
from rnnmod.modules.store import load_moduleset, save_moduleset
from rnnmod.runs import load_run

N_CLASSES, SEQ, WORDS = 3, 6, 4  # class c uses words w{4c}..w{4c+3}


class MyLSTMClassifier(nn.Module):
    """A user's model: time-major two-layer LSTM, head on the last step."""

    def __init__(self, vocab_size: int, n_classes: int):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, 8, padding_idx=0)
        self.lstm = nn.LSTM(8, 12, num_layers=2, batch_first=False)
        self.classify = nn.Linear(12, n_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.emb(ids).transpose(0, 1))  # [T, B, H]
        return self.classify(out[-1])


def synthetic_task(n: int = 240, seed: int = 0) -> TaskData:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % N_CLASSES
    x = 2 + y[:, None] * WORDS + torch.randint(0, WORDS, (n, SEQ), generator=g)
    x[: n // 4, :2] = 0
    vocab = Vocab(
        tokens=["<pad>", "<unk>"] + [f"w{i}" for i in range(N_CLASSES * WORDS)],
        tokenizer="whitespace",
        seq_len=SEQ,
    )
    names = ["alpha", "beta", "gamma"]
    return TaskData("custom", "M:1", x, y, x.clone(), y.clone(), vocab, names)


def train(model: nn.Module, data: TaskData, steps: int = 120) -> None:
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(data.x_train), data.y_train).backward()
        opt.step()
    model.eval()


def test_own_lstm_decomposes_and_composes(tmp_path):
    data = synthetic_task()
    torch.manual_seed(0)
    mine = MyLSTMClassifier(data.vocab.size, N_CLASSES)
    train(mine, data)
    with torch.no_grad():
        theirs = mine(data.x_test)
    assert (theirs.argmax(1) == data.y_test).float().mean() > 0.9

    model = rnnmod.from_torch(mine, io_type="M:1", vocab=data.vocab)
    assert (model.cfg.cell, model.cfg.depth, model.cfg.hidden) == ("lstm", 2, 12)
    with torch.no_grad():
        torch.testing.assert_close(model(data.x_test), theirs, atol=1e-5, rtol=1e-5)

    dec = decompose(model, data, preset("default", mode="rolled", n_positive=40), progress=False)
    scores = dec.bank.scores(model, data.x_test)
    composed = vote(scores, dec.bank.class_index)
    assert (composed == data.y_test).float().mean() > 0.85

    run_dir, metrics = save_model_run(tmp_path / "run", model, data, config={"source": "mine"})
    assert metrics["test_accuracy"] > 0.9
    run = load_run(run_dir)
    save_moduleset(tmp_path / "mods", [(run, dec.bank)], {"mode": "rolled"})
    out = compose_modulesets(
        [load_moduleset(tmp_path / "mods")], ["alpha", "gamma"], tmp_path / "comp"
    )
    comp = load_moduleset(out)
    assert comp.labels == ["alpha", "gamma"]
    assert comp.predict_texts(["w0 w1 w2 w3", "w9 w10 w11 w8"]) == ["alpha", "gamma"]


class TaggerGRU(nn.Module):
    """Separate single-layer GRUs without biases, batch-first, head on every step."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(12, 5)
        self.g1 = nn.GRU(5, 7, batch_first=True, bias=False)
        self.g2 = nn.GRU(7, 7, batch_first=True, bias=False)
        self.tag = nn.Linear(7, 4)

    def forward(self, ids):
        h, _ = self.g1(self.embed(ids))
        h, _ = self.g2(h)
        return self.tag(h)


def test_many_to_many_and_relu_rnn():
    m = TaggerGRU().eval()
    model = rnnmod.from_torch(m, io_type="M:N", seq_len=6)
    assert (model.cfg.cell, model.cfg.depth, model.steps) == ("gru", 2, 6)

    class ReluRNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.e = nn.Embedding(10, 4)
            self.r = nn.RNN(4, 5, num_layers=3, nonlinearity="relu", batch_first=True)
            self.o = nn.Linear(5, 3)

        def forward(self, ids):
            return self.o(self.r(self.e(ids))[0][:, -1])

    model = rnnmod.from_torch(ReluRNN(), io_type="M:1", seq_len=5)
    assert (model.cfg.cell, model.cfg.depth) == ("rnn-relu", 3)


def test_the_structure_is_read_from_what_the_forward_calls():
    class MeanPool(MyLSTMClassifier):
        def forward(self, ids):
            out, _ = self.lstm(self.emb(ids).transpose(0, 1))
            return self.classify(out.mean(0))

    pooled = rnnmod.from_torch(MeanPool(10, 3), seq_len=5)
    assert (pooled.cfg.io_type, pooled.cfg.readout, pooled.cfg.pool_steps) == ("M:1", "mean", "all")
    with pytest.raises(RnnmodError, match="the head does not read"):
        rnnmod.from_torch(MyLSTMClassifier(10, 3), io_type="M:N", seq_len=5)

    class TwoHeads(MyLSTMClassifier):  # a Linear the forward never calls is not part of it
        def __init__(self):
            super().__init__(10, 3)
            self.extra = nn.Linear(3, 3)

    model = rnnmod.from_torch(TwoHeads(), seq_len=5)
    assert model.cfg.n_classes == 3 and model.cfg.head_hidden == []


class LogSoftmaxClassifier(MyLSTMClassifier):
    """An NLLLoss-style model: it returns log-probabilities."""

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(super().forward(ids), -1)


class PackedGRU(nn.Module):
    """Reads each row's real tokens only (lengths from ids != 0, packed, post-padded rows)."""

    def __init__(self, vocab_size: int, n_classes: int):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, 8, padding_idx=0)
        self.gru = nn.GRU(8, 12, batch_first=True)
        self.head = nn.Linear(12, n_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        lengths = (ids != 0).sum(1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(
            self.emb(ids), lengths, batch_first=True, enforce_sorted=False
        )
        _, h = self.gru(packed)
        return self.head(h[-1])


def test_a_log_softmax_model_is_the_same_model_as_its_logits():
    data = synthetic_task()
    model = LogSoftmaxClassifier(data.vocab.size, N_CLASSES)
    train(model, data)
    adapted = rnnmod.from_torch(model, io_type="M:1", seq_len=SEQ)
    with torch.no_grad():
        assert torch.equal(adapted(data.x_test).argmax(-1), model(data.x_test).argmax(-1))


def test_a_model_that_skips_padding_is_adapted_with_packed_semantics():
    data = synthetic_task()
    data.x_test = post_padded(data.x_test)
    model = PackedGRU(data.vocab.size, N_CLASSES)
    train(model, data, steps=30)
    adapted = rnnmod.from_torch(model, io_type="M:1", seq_len=SEQ, sample=data.x_test)
    assert adapted.cfg.padding == "skipped"
    with torch.no_grad():
        torch.testing.assert_close(adapted(data.x_test), model(data.x_test), atol=1e-5, rtol=1e-5)


def post_padded(ids: torch.Tensor) -> torch.Tensor:
    """The same rows with their real ids first (right padding, as packed models read)."""
    order = torch.argsort((ids == 0).to(torch.int8), dim=1, stable=True)
    return ids.gather(1, order)


class AttentionPooled(MyLSTMClassifier):
    """Attention pooling over the steps before the head."""

    def __init__(self, vocab_size: int, n_classes: int):
        super().__init__(vocab_size, n_classes)
        self.score = nn.Linear(12, 1)

    def forward(self, ids):
        out, _ = self.lstm(self.emb(ids).transpose(0, 1))  # [T, B, H]
        weights = torch.softmax(self.score(out), dim=0)
        return self.classify((weights * out).sum(0))


class Reversed(MyLSTMClassifier):
    """Reads the sentence backwards."""

    def forward(self, ids):
        return super().forward(ids.flip(1))


class CRFTagger(nn.Module):
    """A tagger whose emissions pass through a transition layer (a CRF's scores)."""

    def __init__(self, vocab_size: int, n_tags: int):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, 8)
        self.gru = nn.GRU(8, 12, batch_first=True)
        self.emit = nn.Linear(12, n_tags)
        self.transitions = nn.Parameter(torch.randn(n_tags, n_tags))

    def forward(self, ids):
        em = self.emit(self.gru(self.emb(ids))[0])  # [B, T, C]
        prev = torch.cat([torch.zeros_like(em[:, :1]), em[:, :-1]], 1).softmax(-1)
        return em + prev @ self.transitions


@pytest.mark.parametrize(
    "make,kw,part",
    [
        (lambda: AttentionPooled(12, 3), {"io_type": "M:1"}, "the head does not read"),
        (lambda: Reversed(12, 3), {"io_type": "M:1"}, "does not read the embedding of the ids"),
        (lambda: CRFTagger(12, 4), {"io_type": "M:N"}, "changes the head's output"),
    ],
)
def test_forwards_outside_the_supported_shape_are_refused_naming_the_part(make, kw, part):
    torch.manual_seed(0)
    model = make()
    head = getattr(model, "classify", None) or model.emit
    with pytest.raises(RnnmodError, match=part) as err:
        rnnmod.from_torch(model, seq_len=SEQ, head=head, **kw)
    assert "\n" not in str(err.value) and "rnnmod supports embedding" in str(err.value)
