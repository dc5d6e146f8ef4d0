"""Translators' training options beyond the paper's: the linear learning-rate decay and the
bidirectional encoder (tiny models and synthetic Tatoeba-style files)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rnnmod.cli import main
from rnnmod.nn.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnmod.translation.train import lr_factor

from .test_translate import ragged, write_tiny_tatoeba

TRAIN = ["--threads", "1", "train", "--task", "tatoeba", "--hidden", "8", "--embed-dim", "8"]


def test_linear_decay_follows_batches_or_the_time_limit_whichever_is_further() -> None:
    assert lr_factor("none", 9, 10, 100.0, 1.0) == 1.0
    assert lr_factor("linear", 0, 10, 0.0, None) == 1.0
    assert lr_factor("linear", 5, 10, 0.0, None) == pytest.approx(0.5)
    assert lr_factor("linear", 2, 10, 30.0, 40.0) == pytest.approx(0.25)  # time is further on
    assert lr_factor("linear", 8, 10, 1.0, 40.0) == pytest.approx(0.2)  # batches are
    assert lr_factor("linear", 2, 10, 50.0, 40.0) == 0.0  # past the limit: never negative


def test_linear_decay_lowers_every_step_to_near_zero(tmp_path: Path, monkeypatch, capsys) -> None:
    seen: list[float] = []
    step = torch.optim.Adam.step

    def spy(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", spy)
    write_tiny_tatoeba(tmp_path)
    train = [*TRAIN, "--epochs", "2", "--batch-size", "16", "--data-dir", str(tmp_path)]
    assert main([*train, "--lr", "0.01", "--lr-decay", "linear", "--out", str(tmp_path / "d")]) == 0
    n = len(seen)
    assert n >= 4 and seen == pytest.approx([0.01 * (1 - i / n) for i in range(n)])
    metrics = json.loads((tmp_path / "d" / "metrics.json").read_text())
    assert metrics["lr_decay"] == "linear"
    seen.clear()
    assert main([*train, "--lr", "0.01", "--out", str(tmp_path / "c")]) == 0
    assert set(seen) == {0.01}
    with pytest.raises(SystemExit):  # argparse: not one of the choices
        main([*train, "--lr-decay", "cosine", "--out", str(tmp_path / "x")])
    capsys.readouterr()
    assert (
        main(["train", "--task", "clinc", "--lr-decay", "linear", "--out", str(tmp_path / "y")])
        == 2
    )
    assert "--lr-decay" in capsys.readouterr().err


def bi_model(cell: str) -> Seq2Seq:
    torch.manual_seed(0)
    cfg = Seq2SeqConfig(cell, 1, 15, 17, embed_dim=6, hidden=8, src_len=7, tgt_len=6,
                        attention="luong", bidirectional=True)  # fmt: skip
    return Seq2Seq(cfg).eval()


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_a_bidirectional_encoder_reads_each_row_both_ways_up_to_its_last_token(cell: str) -> None:
    m = bi_model(cell)
    layer = m.enc_rnns[0]
    assert layer.bidirectional and layer.hidden_size == 4
    src = ragged(5, 7, 15, 3)
    with torch.no_grad():
        (h, c), (outs, valid) = m.encode_memory(src)
        assert h.shape == (5, 8) and outs.shape[-1] == 8
        for row in range(5):
            n = int((src[row] != 0).sum())
            alone, state = layer(m.enc_embedding(src[row : row + 1, :n]))  # no padding at all
            h_n = state[0] if isinstance(state, tuple) else state
            assert torch.allclose(h[row], torch.cat([h_n[0, 0], h_n[1, 0]]), atol=1e-6)
            assert torch.allclose(outs[row, :n], alone[0], atol=1e-6)
            assert bool(valid[row, :n].all()) and not bool(valid[row, n:].any())
            assert torch.allclose(h[row, :4], alone[0, n - 1, :4], atol=1e-6)  # forward: last
            assert torch.allclose(h[row, 4:], alone[0, 0, 4:], atol=1e-6)  # backward: first
            if cell == "lstm":
                assert torch.allclose(c[row], torch.cat([state[1][0, 0], state[1][1, 0]]))
        start, end = torch.full((5,), 2), torch.full((5,), 3)
        assert torch.equal(m.greedy(src, start, end), m.beam(src, start, end, width=1))


def test_an_odd_width_cannot_be_split_between_two_directions(tmp_path: Path, capsys) -> None:
    with pytest.raises(ValueError, match="hidden must be even"):
        Seq2SeqConfig("lstm", 1, 15, 17, hidden=7, bidirectional=True).validate()
    write_tiny_tatoeba(tmp_path)
    train = ["train", "--task", "tatoeba", "--hidden", "7", "--bidirectional", "--quiet"]
    assert main([*train, "--data-dir", str(tmp_path), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "hidden must be even" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_a_bidirectional_translator_from_the_command_line(tmp_path: Path, capsys) -> None:
    write_tiny_tatoeba(tmp_path)
    dd = ["--data-dir", str(tmp_path)]
    train = [*TRAIN, "--cell", "gru", "--epochs", "1", "--attention", "bahdanau", "--quiet", *dd]
    assert main([*train, "--bidirectional", "--out", str(tmp_path / "run")]) == 0
    assert json.loads((tmp_path / "run" / "config.json").read_text())["model"]["bidirectional"]
    mods = tmp_path / "mods"
    assert main(["decompose", str(tmp_path / "run"), "--out", str(mods), "--n-positive", "20",
                 "--quiet", *dd]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["evaluate", str(mods), "--json", *dd]) == 0
    assert set(json.loads(capsys.readouterr().out)["per_language"]) == {"fr", "de", "it"}
    assert main(["translate", str(mods), "--to", "de", "I see the cat"]) == 0


def test_bf16_training_runs_its_passes_in_bfloat16_and_keeps_float32_weights(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    dtypes: list[torch.dtype] = []
    loss = Seq2Seq.loss

    def spy(self, *args, **kwargs):  # the dtype a training matmul computes in
        dtypes.append(torch.mm(torch.ones(1, 1), torch.ones(1, 1)).dtype)
        return loss(self, *args, **kwargs)

    monkeypatch.setattr(Seq2Seq, "loss", spy)
    write_tiny_tatoeba(tmp_path)
    train = [*TRAIN, "--epochs", "1", "--batch-size", "16", "--patience", "1", "--quiet"]
    train += ["--data-dir", str(tmp_path)]
    assert main([*train, "--precision", "bf16", "--out", str(tmp_path / "b")]) == 0
    metrics = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert metrics["precision"] == "bf16"
    assert torch.bfloat16 in dtypes and torch.float32 in dtypes  # training; validation
    from safetensors.torch import load_file

    weights = load_file(tmp_path / "b" / "model.safetensors")
    assert {t.dtype for t in weights.values()} == {torch.float32}
    dtypes.clear()
    assert main([*train, "--out", str(tmp_path / "f")]) == 0
    assert set(dtypes) == {torch.float32}
    assert json.loads((tmp_path / "f" / "metrics.json").read_text())["precision"] == "fp32"
    capsys.readouterr()
    args = ["train", "--task", "clinc", "--precision", "bf16", "--out", str(tmp_path / "y")]
    assert main(args) == 2
    assert "--precision" in capsys.readouterr().err
