"""Encoder–decoder translators: native = engine, cached greedy = naive greedy, masks, BLEU,
and the CLI end to end on tiny synthetic Tatoeba-style files (hidden 8)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from rnnmod.cli import main
from rnnmod.nn.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnmod.translation.bleu import legacy_bleu1, sacre_bleu
from rnnmod.translation.decode import Translation

WORDS = {
    "en": "i you see love the a cat dog house red big small".split(),
    "fr": "je tu vois aime le un chat chien maison rouge grand petit".split(),
    "de": "ich du sehe liebe der ein katze hund haus rot gross klein".split(),
    "it": "io tu vedo amo il un gatto cane casa rosso grande piccolo".split(),
}


def tiny_model(cell: str, depth: int, seed: int = 0) -> Seq2Seq:
    torch.manual_seed(seed)
    return Seq2Seq(Seq2SeqConfig(cell, depth, 15, 17, embed_dim=6, hidden=8, src_len=7, tgt_len=6))


def ragged(n: int, length: int, vocab: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(2, vocab, (n, length), generator=g)
    lens = torch.randint(1, length + 1, (n,), generator=g)
    return torch.where(torch.arange(length).unsqueeze(0) < lens.unsqueeze(1), ids, 0)


@pytest.mark.parametrize("cell,depth", [("lstm", 1), ("lstm", 2), ("gru", 2), ("rnn", 1)])
def test_native_equals_engine_and_padding_carries_state(cell: str, depth: int) -> None:
    m = tiny_model(cell, depth).eval()
    src, tin = ragged(9, 7, 15, 1), ragged(9, 6, 17, 2)
    with torch.no_grad():
        native = m(src, tin)
        enc = m.encode(src)
        run = m.run_decoder_engine(m.initial_state(enc), tin)
        engine = m.head(run.output)
        real = tin != 0
        assert torch.allclose(native[real], engine[real], atol=1e-5)
        # more padding after the sentence changes nothing: a padded step carries the state
        longer = torch.cat([src, torch.zeros(9, 3, dtype=torch.long)], 1)
        assert torch.allclose(m.encode(longer)[0], enc[0], atol=1e-6)
        # recorded states: a padded step repeats the row's last real state
        rec = m.record_decoder(src, tin)[-1]
        assert torch.allclose(rec[real], run.output[real], atol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_cached_greedy_equals_rerunning_the_prefix(cell: str) -> None:
    m = tiny_model(cell, 2).eval()
    src = ragged(5, 7, 15, 3)
    start, end = torch.full((5,), 2), torch.full((5,), 3)
    fast = m.greedy(src, start, end, max_steps=6)
    prefix = start.unsqueeze(1)
    with torch.no_grad():
        for _t in range(fast.shape[1]):  # the authors' way: re-run the whole prefix each step
            nxt = m(src, prefix)[:, -1].argmax(-1)
            prefix = torch.cat([prefix, nxt.unsqueeze(1)], 1)
    naive = prefix[:, 1:]
    for row in range(5):
        got = fast[row].tolist()
        cut = got.index(3) + 1 if 3 in got else len(got)
        assert got[:cut] == naive[row, :cut].tolist()


def test_all_kept_masks_equal_monolithic_and_dead_units_are_zero() -> None:
    m = tiny_model("lstm", 2).eval()
    src = ragged(6, 7, 15, 4)
    start, end = torch.full((6,), 2), torch.full((6,), 3)
    ones = [torch.ones(1, 8, dtype=torch.bool)] * 2
    assert torch.equal(m.greedy(src, start, end), m.greedy(src, start, end, unit_masks=ones))
    per_step = torch.ones(6, 8, dtype=torch.bool)
    per_step[:, 0] = False
    masks = [per_step.float().unsqueeze(0), torch.ones(1, 1, 8)]
    tin = ragged(6, 6, 17, 5)
    state = m.initial_state(m.encode(src), masks)
    run = m.run_decoder_engine(state, tin, unit_masks=masks)
    assert torch.all(run.hidden[0][..., 0] == 0) and torch.all(state[0][0][:, 0] == 0)


def test_bleu() -> None:
    assert sacre_bleu(["je suis la"], ["Je suis là."]) < 100
    hyp, ref = "je suis très content aujourd'hui", "Je suis très content aujourd'hui !"
    assert sacre_bleu([hyp], [ref]) == pytest.approx(100)
    # hand computed: hyp [startfr] je suis [endfr] vs ref [startfr] Je suis. [endfr]:
    # matches [startfr], [endfr] = 2 of 4, equal lengths → BP 1 → 0.5
    assert legacy_bleu1(["je suis"], ["Je suis."], "fr") == pytest.approx(0.5)
    # no end token: 3-token hypothesis, 1 match ([startfr]), BP = exp(1 - 4/3)
    got = legacy_bleu1(["je suis"], ["Je suis."], "fr", [False])
    assert got == pytest.approx(1 / 3 * torch.exp(torch.tensor(1 - 4 / 3)).item(), rel=1e-6)


def write_tiny_tatoeba(root: Path, n: int = 90) -> None:
    rnd = random.Random(0)
    rows = [[rnd.randrange(len(WORDS["en"])) for _ in range(rnd.randint(2, 5))] for _ in range(n)]
    d = root / "tatoeba" / "main"
    d.mkdir(parents=True)
    for lang, words in WORDS.items():
        text = "\n".join(" ".join(words[i] for i in r).capitalize() + "." for r in rows)
        (d / f"{lang}_train.txt").write_text(text + "\n", encoding="utf-8")


def test_cli_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_tiny_tatoeba(tmp_path)
    run, dd = tmp_path / "run", ["--data-dir", str(tmp_path)]
    common = ["--threads", "1"]
    train = ["train", "--task", "tatoeba", "--cell", "gru", "--hidden", "8", "--embed-dim", "8"]
    assert main([*common, *train, "--epochs", "2", "--out", str(run), "--quiet", *dd]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["per_language"]) == {"fr", "de", "it"}
    assert metrics["target_tokens_per_second"] > 0 and metrics["length_buckets"] is False
    stop = [*train, "--epochs", "6", "--patience", "1", "--quiet", *dd]
    assert main([*common, *stop, "--out", str(tmp_path / "early")]) == 0
    m = json.loads((tmp_path / "early" / "metrics.json").read_text())
    assert len(m["val_loss"]) == m["epochs_run"] <= 6 and m["patience"] == 1
    assert m["val_loss"][m["best_epoch"] - 1] == min(m["val_loss"])
    from rnnmod.kinds import kind_of
    from rnnmod.runs import load_run
    from rnnmod.translation.train import validation_loss

    early = load_run(tmp_path / "early")  # the kept weights are the best epoch's
    vdata = kind_of(early).load_data(early, tmp_path)
    assert validation_loss(early.model, vdata, 3000) == pytest.approx(min(m["val_loss"]), abs=1e-4)
    fast = [*train, "--epochs", "1", "--bucket", "--quiet", *dd]
    assert main([*common, *fast, "--out", str(tmp_path / "bucketed")]) == 0
    assert json.loads((tmp_path / "bucketed" / "metrics.json").read_text())["length_buckets"]
    capsys.readouterr()
    assert main([*common, *fast, "--out", str(tmp_path / "ad"), "--output-layer", "adaptive"]) == 2
    assert "--output-layer adaptive needs more than 1001 target words" in capsys.readouterr().err
    assert main(["train", "--task", "clinc", "--bucket", "--out", str(tmp_path / "c")]) == 2
    assert "--bucket does not apply to --task clinc" in capsys.readouterr().err
    capsys.readouterr()
    for mode in ("rolled", "unrolled"):
        mods = tmp_path / f"mods-{mode}"
        args = ["decompose", str(run), "--out", str(mods), "--mode", mode, "--json"]
        assert main([*common, *args, "--n-positive", "40", *dd]) == 0
        assert json.loads(capsys.readouterr().out)["n_modules"] == 3
        assert main([*common, "evaluate", str(mods), "--json", *dd]) == 0
        res = json.loads(capsys.readouterr().out)
        assert set(res["per_language"]) == {"fr", "de", "it"}
        assert 0.8 < res["retained_units"] < 1.0  # 8 units: the 5 % cap removes one
        assert res["n_test"] == 39  # ⌊0.15·90⌋ test lines × 3 languages (the line split)
    comp = tmp_path / "composed"
    mods = [str(tmp_path / "mods-rolled"), str(tmp_path / "mods-unrolled")]
    assert main([*common, "compose", *mods, "--labels", "1:fr,2:de", "--out", str(comp)]) == 0
    assert main([*common, "translate", str(comp), "--to", "de", "I see", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out.splitlines()[-1])["translations"]) == 1
    long = " ".join(["the big cat"] * 9)  # 27 words: truncated to 20, with a warning
    args = ["translate", str(run), "--to", "de", "I see the cat", "", long, "--json"]
    assert main([*common, *args]) == 0
    got = capsys.readouterr()
    assert len(json.loads(got.out)["translations"]) == 3
    assert "truncated to 20" in got.err
    assert main([*common, "translate", str(tmp_path / "mods-rolled"), "--to", "ua", "hi"]) == 2
    assert "available: fr, de, it" in capsys.readouterr().err
    # beam search from the command line: translate and evaluate
    args = ["translate", str(run), "--to", "fr", "I see the cat", "--beam", "3", "--json"]
    assert main([*common, *args]) == 0
    assert len(json.loads(capsys.readouterr().out)["translations"]) == 1
    beam_eval = ["evaluate", str(tmp_path / "mods-rolled"), "--beam", "3", "--json", *dd]
    assert main([*common, *beam_eval]) == 0
    res = json.loads(capsys.readouterr().out)
    assert set(res["per_language"]) == {"fr", "de", "it"} and res["n_test"] == 39
    assert res["beam"] == 3
    assert main([*common, "translate", str(run), "--to", "fr", "hi", "--beam", "0"]) == 2
    assert "--beam must be at least 1" in capsys.readouterr().err
    for per_lang, n_test in (("5", 15), ("all", 39)):
        args = ["evaluate", str(tmp_path / "mods-rolled"), "--test-per-lang", per_lang, "--json"]
        assert main([*common, *args, *dd]) == 0
        assert json.loads(capsys.readouterr().out)["n_test"] == n_test
    with pytest.raises(SystemExit):
        main([*common, "evaluate", str(tmp_path / "mods-rolled"), "--test-per-lang", "0"])
    assert "expected a count >= 1 or 'all'" in capsys.readouterr().err


def test_fix_language_scenario_end_to_end(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch
) -> None:
    from rnnmod.data.tatoeba import scenario_pairs

    rnd = random.Random(1)
    d = tmp_path / "tatoeba" / "fix_language"
    d.mkdir(parents=True)
    words = {**WORDS, "et": [w + "e" for w in WORDS["en"]]}
    for suffix, n in (("_et_train", 40), ("_et_train_s2", 30)):
        rows = [[rnd.randrange(12) for _ in range(rnd.randint(2, 4))] for _ in range(n)]
        for lang in ("et", "en", "de", "it") if suffix == "_et_train" else ("et", "en"):
            text = "\n".join(" ".join(words[lang][i] for i in r) for r in rows)
            (d / f"{lang}{suffix}.txt").write_text(text + "\n", encoding="utf-8")
    opts = {"scenario": "fix-language", "langs": ["en"], "split": "lines"}
    pairs = scenario_pairs({**opts, "extra_suffix": "_et_train_s2"}, tmp_path)
    held = {p.source for p in pairs.test + pairs.val}
    assert held and not held & {p.source for p in pairs.train}  # no test sentence in training
    out = tmp_path / "results"
    args = ["--threads", "1", "scenario", "fix-language", "--hidden", "8", "--epochs", "1"]
    args += ["--runs-dir", str(tmp_path / "runs"), "--results-dir", str(out), "--quiet"]
    assert main([*args, "--data-dir", str(tmp_path), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert set(res["rows"]["composed, solution 2"]["per_language"]) == {"en", "de", "it"}
    assert (out / "scenario_fix-language.md").is_file()
    assert (
        tmp_path / "runs" / "fix-language" / "composed-solution1-rolled" / "manifest.json"
    ).is_file()
    # every promise with its paired-bootstrap interval: en must rise, de and it lose ≤ 0.5
    checks = {(c["solution"], c["language"]): c for c in res["checks"]}
    assert set(checks) == {(k, x) for k in (1, 2) for x in ("en", "de", "it")}
    for c in checks.values():
        assert c["ci95"][0] <= c["delta"] <= c["ci95"][1]
        assert c["delta"] == pytest.approx(c["bleu"] - c["baseline"], abs=1e-3)
    assert checks[(1, "en")]["holds"] == (checks[(1, "en")]["ci95"][0] > 0)
    assert checks[(2, "de")]["holds"] == (checks[(2, "de")]["delta"] >= -0.5)
    assert "hypotheses" not in json.dumps(res)  # the translations are not kept in the results
    assert "| holds |" in (out / "scenario_fix-language.md").read_text()
    assert res["budget_bleu"] is None and set(res["retained"]["original"]) == {"en", "de", "it"}
    # --budget: every model's language modules learned within the budget (models reused)
    from rnnmod.kinds.translator import TRANSLATOR

    budgets, learn = [], TRANSLATOR.learn_masks

    def spy(run, data, bank, **options):
        budgets.append(options["tolerance_pp"])
        out, summary = learn(run, data, bank, **options)
        return out, {**summary, "warning": "en: nothing held"}  # reaches the results

    monkeypatch.setattr(type(TRANSLATOR), "learn_masks", staticmethod(spy))
    b = ["--budget", "0pp", "--results-dir", str(out / "b"), "--data-dir", str(tmp_path)]
    assert main([*args, *b, "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert budgets == [0.0, 0.0, 0.0] and res["budget_bleu"] == 0.0
    page = (out / "b" / "scenario_fix-language.md").read_text()
    assert "0-BLEU budget" in page and "Warning: en: nothing held." in page
    assert res["warnings"] == ["en: nothing held"]
    kept = res["retained"]["original"]
    assert set(kept) == {"en", "de", "it"} and all(0 < v <= 1 for v in kept.values())
    assert main([*args, "--budget", "lots", "--data-dir", str(tmp_path)]) == 2
    assert "invalid budget" in capsys.readouterr().err
    reference = ["--threads", "1", "scenario", "fix-language", "--recipe", "reference"]
    assert main([*reference, "--epochs", "2", "--data-dir", str(tmp_path)]) == 2
    assert "--recipe reference sets --epochs; leave them out" in capsys.readouterr().err
    assert main([*args, "--data-dir", str(tmp_path), "--time-limit", "1"]) == 2
    assert "--time-limit is for --recipe reference or attention" in capsys.readouterr().err
    # the attention recipe: Luong attention, punctuation tokens, each model within the limit
    att = ["--threads", "1", "scenario", "fix-language", "--recipe", "attention", "--hidden", "8"]
    att += ["--time-limit", "1e-6", "--runs-dir", str(tmp_path / "att"), "--quiet"]
    assert main([*att, "--results-dir", str(out / "att"), "--data-dir", str(tmp_path)]) == 0
    from rnnmod import load_run

    run = load_run(tmp_path / "att" / "fix-language" / "original-lstm1")
    assert run.model.cfg.attention == "luong" and run.model.cfg.dropout == 0.2
    assert run.target_vocab.tokenizer == "words-and-symbols"
    assert run.metrics["stopped_by"] == "time limit"
    assert run.config["train_settings"]["time_limit"] == 1e-6
    # the trained models are reused, but only with the settings they were trained with
    assert main([*args, "--data-dir", str(tmp_path), "--epochs", "2"]) == 2
    assert "was trained with other settings (epochs 1 → 2)" in capsys.readouterr().err


def test_a_time_limit_ends_training_at_a_batch_and_keeps_the_validated_weights(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    write_tiny_tatoeba(tmp_path)
    dd = ["--data-dir", str(tmp_path), "--quiet"]
    train = ["--threads", "1", "train", "--task", "tatoeba", "--hidden", "8", "--embed-dim", "8"]
    full = [*train, "--epochs", "1", "--patience", "1", *dd]
    assert main([*full, "--out", str(tmp_path / "full")]) == 0
    whole = json.loads((tmp_path / "full" / "metrics.json").read_text())
    assert whole["stopped_by"] == "epochs" and whole["time_limit_minutes"] is None
    # a limit shorter than one batch: one batch, then the partial epoch is validated
    limited = [*train, "--epochs", "5", "--patience", "1", "--time-limit", "1e-6", *dd]
    assert main([*limited, "--out", str(tmp_path / "cut")]) == 0
    m = json.loads((tmp_path / "cut" / "metrics.json").read_text())
    assert m["stopped_by"] == "time limit" and m["epochs_run"] == 1 and len(m["val_loss"]) == 1
    assert 0 < m["target_tokens"] < whole["target_tokens"]  # 64 pairs of one epoch's 189
    capsys.readouterr()
    assert main([*train, "--time-limit", "0", *dd, "--out", str(tmp_path / "zero")]) == 2
    assert "--time-limit must be positive" in capsys.readouterr().err
    clinc = ["train", "--task", "clinc", "--time-limit", "5", "--out", str(tmp_path / "c")]
    assert main(clinc) == 2
    assert "--time-limit does not apply to --task clinc" in capsys.readouterr().err


def test_composing_modules_of_different_source_languages_is_refused() -> None:
    from types import SimpleNamespace

    from rnnmod.errors import RnnmodError
    from rnnmod.kinds.translator import TRANSLATOR

    def translator_set(source: str) -> SimpleNamespace:
        run = SimpleNamespace(config={"data_options": {"source": source}})
        return SimpleNamespace(sources={"s": run})

    with pytest.raises(RnnmodError, match="different source languages"):
        TRANSLATOR.check_composable(
            [translator_set("en"), translator_set("et")], "probability", False
        )
    with pytest.raises(RnnmodError, match="route each sentence by its target language"):
        TRANSLATOR.check_composable([translator_set("en")], "odds", False)


def test_a_wide_beam_finds_the_most_probable_translation() -> None:
    """Width ≥ V² over 3 steps keeps every 2-token prefix: the beam's answer is the exhaustive
    search's (raw log-probability, a finished hypothesis scored at its end token)."""
    m = tiny_model("lstm", 1, seed=3).eval()
    with torch.no_grad():
        m.head.bias[0] = -1e4  # padding is never a live token
        m.head.weight.mul_(4)  # a peaked model: greedy and the best sequence differ more often
    src = ragged(4, 7, 15, 6)
    v, end, start = 17, 3, 2
    ys = torch.cartesian_prod(*[torch.arange(v)] * 3)  # every (y1, y2, y3)
    beamed = m.beam(src, torch.full((4,), start), torch.full((4,), end), width=v * v,
                    max_steps=3, length_penalty=0.0)  # fmt: skip
    greedy = m.greedy(src, torch.full((4,), start), torch.full((4,), end), max_steps=3)

    def score(row: int, seq: list[int]) -> float:
        prefix = torch.tensor([[start] + seq[:-1]])
        with torch.no_grad():
            logp = torch.log_softmax(m(src[row : row + 1], prefix)[0], -1)
        total = 0.0
        for t, y in enumerate(seq):
            total += float(logp[t, y])
            if y == end:
                break
        return total

    differs = 0
    for row in range(4):
        with torch.no_grad():
            tin = torch.cat([torch.full((len(ys), 1), start), ys[:, :2]], 1)
            logp = torch.log_softmax(m(src[row : row + 1].expand(len(ys), -1), tin), -1)
        g = logp.gather(2, ys.unsqueeze(-1)).squeeze(-1)  # [N, 3]
        first_end = (ys == end).float().cumsum(1)
        counted = torch.cat([torch.ones(len(ys), 1), (first_end[:, :-1] == 0).float()], 1)
        best = float((g * counted).sum(1).max())
        got = [t for t in beamed[row].tolist() if t != 0]
        assert score(row, got) == pytest.approx(best, abs=1e-4)
        g_seq = [t for t in greedy[row].tolist() if t != 0]
        assert score(row, g_seq) <= best + 1e-4
        differs += score(row, g_seq) < best - 1e-4
    assert differs >= 1  # the test would not notice a beam that is only greedy


def test_the_length_penalty_reaches_the_beam_from_a_bleu_report(monkeypatch) -> None:
    from rnnmod.data.generic import Pair
    from rnnmod.data.vocab import Vocab
    from rnnmod.nn.seq2seq import LENGTH_PENALTY
    from rnnmod.translation.decode import Decoding, Route, bleu_report

    words = "je tu vois aime le un chat chien maison rouge grand petit".split()
    tgt = Vocab(["<pad>", "<unk>", "[startfr]", "[endfr]", *words], tokenizer="keras")
    src = Vocab(["<pad>", "<unk>", *"i you see love the a cat dog".split()], tokenizer="keras")
    route = Route(tiny_model("gru", 1).eval(), src, tgt)
    seen: list[float] = []
    beam = Seq2Seq.beam

    def spy(self, *args, **kwargs):
        seen.append(kwargs["length_penalty"])
        return beam(self, *args, **kwargs)

    monkeypatch.setattr(Seq2Seq, "beam", spy)
    pairs = [Pair("i see the cat", "je vois le chat", "fr"), Pair("you love", "tu aime", "fr")]
    report = bleu_report(lambda _lang: route, pairs, Decoding(beam=3, length_penalty=1.3))
    assert seen == [1.3] and report["length_penalty"] == 1.3
    seen.clear()
    assert (
        bleu_report(lambda _lang: route, pairs, Decoding(beam=3))["length_penalty"]
        == LENGTH_PENALTY
    )
    assert seen == [LENGTH_PENALTY]


def test_adaptive_output_layer_gives_exact_log_probabilities_and_trains() -> None:
    torch.manual_seed(0)
    cfg = Seq2SeqConfig("gru", 1, 15, 1200, embed_dim=6, hidden=8, src_len=7, tgt_len=6,
                        output_layer="adaptive")  # fmt: skip
    m = Seq2Seq(cfg)
    src = ragged(6, 7, 15, 7)
    tin = ragged(6, 6, 1200, 8)
    tin[:, 0] = 2
    tout = torch.roll(tin, -1, 1)
    tout[:, -1] = 0
    with torch.no_grad():
        logp = torch.log_softmax(m(src, tin), -1)
    assert torch.allclose(logp.exp().sum(-1), torch.ones(6, 6), atol=1e-4)
    # the training loss is the mean negative log-probability of the real target tokens
    real = tin != 0  # every real decoder step counts (its target here may be padding)
    want = -logp.gather(2, tout.unsqueeze(-1)).squeeze(-1)[real].mean()
    m.eval()
    with torch.no_grad():
        got = float(m.loss(src, tin, tout))
    assert got == pytest.approx(float(want), rel=1e-4, abs=1e-4)
    assert m.beam(src, torch.full((6,), 2), torch.full((6,), 3), width=2).shape[0] == 6
    from rnnmod.metrics.jaccard import decoder_jaccard

    half = [torch.arange(8) < 4]  # the output side is not a Dense over the units: units only
    assert decoder_jaccard(m, [torch.ones(1, 8, dtype=torch.bool)])[1] == pytest.approx(1.0)
    assert 0 < decoder_jaccard(m, [h.unsqueeze(0) for h in half])[1] < 1
    with pytest.raises(ValueError, match="adaptive softmax needs more than"):
        Seq2SeqConfig("gru", 1, 15, 17, output_layer="adaptive").validate()


def test_length_buckets_cover_every_pair_once_with_similar_lengths() -> None:
    from rnnmod.translation.train import epoch_batches

    tout = ragged(1000, 6, 17, 9)
    plain = epoch_batches(tout, 10, torch.Generator().manual_seed(0), False)
    buck = epoch_batches(tout, 10, torch.Generator().manual_seed(0), True)
    again = epoch_batches(tout, 10, torch.Generator().manual_seed(0), True)
    for batches in (plain, buck):
        assert sorted(torch.cat(batches).tolist()) == list(range(1000))
    assert all(torch.equal(a, b) for a, b in zip(buck, again, strict=True))
    lengths = (tout != 0).sum(1)

    def spread(batches):
        return sum(int(lengths[b].max() - lengths[b].min()) for b in batches) / len(batches)

    assert spread(buck) < 0.25 * spread(plain)


def attention_model(
    cell: str = "lstm", depth: int = 1, seed: int = 0, attention: str = "luong"
) -> Seq2Seq:
    torch.manual_seed(seed)
    cfg = Seq2SeqConfig(cell, depth, 15, 17, embed_dim=6, hidden=8, src_len=7, tgt_len=6,
                        attention=attention)  # fmt: skip
    return Seq2Seq(cfg).eval()


@pytest.mark.parametrize(
    "cell,depth,attention", [("lstm", 1, "luong"), ("gru", 2, "luong"), ("lstm", 1, "bahdanau")]
)
def test_attention_decoding_equals_rerunning_the_prefix(
    cell: str, depth: int, attention: str
) -> None:
    m = attention_model(cell, depth, attention=attention)
    src = ragged(5, 7, 15, 11)
    start, end = torch.full((5,), 2), torch.full((5,), 3)
    fast = m.greedy(src, start, end, max_steps=6)
    prefix = start.unsqueeze(1)
    with torch.no_grad():
        for _ in range(fast.shape[1]):
            nxt = m(src, prefix)[:, -1].argmax(-1)
            prefix = torch.cat([prefix, nxt.unsqueeze(1)], 1)
    for row in range(5):
        got = fast[row].tolist()
        cut = got.index(3) + 1 if 3 in got else len(got)
        assert got[:cut] == prefix[row, 1 : cut + 1].tolist()


@pytest.mark.parametrize("attention", ["luong", "bahdanau"])
def test_attention_never_reads_padding_and_its_loss_is_the_nll(attention: str) -> None:
    m = attention_model(attention=attention)
    src = ragged(4, 7, 15, 12)
    tin = ragged(4, 6, 17, 13)
    tin[:, 0] = 2
    tout = torch.roll(tin, -1, 1)
    with torch.no_grad():
        base = m(src, tin)
        longer = torch.cat([src, torch.zeros(4, 3, dtype=torch.long)], 1)  # more padding
        assert torch.allclose(m(longer, tin), base, atol=1e-6)
        logp = torch.log_softmax(base, -1)
        want = -logp.gather(2, tout.unsqueeze(-1)).squeeze(-1)[tin != 0].mean()
        assert float(m.loss(src, tin, tout)) == pytest.approx(float(want), abs=1e-5)


def test_the_command_line_offers_every_attention() -> None:
    from rnnmod.choices import ATTENTIONS
    from rnnmod.nn.attention import ATTENTION

    assert ("none", *ATTENTION) == ATTENTIONS


def test_the_scores_are_luongs_general_and_bahdanaus_additive_ones() -> None:
    h, outs = torch.randn(2, 3, 8), torch.randn(2, 4, 8)
    valid = torch.tensor([[True] * 4, [True, True, False, False]])
    luong = attention_model().attention
    bahdanau = attention_model(attention="bahdanau").attention
    with torch.no_grad():
        w_a = luong.score.weight
        want = torch.einsum("bti,ji,bsj->bts", h, w_a, outs)  # (W_a h_t) · h̄_s
        assert torch.allclose(luong.scores(h, outs), want, atol=1e-5)
        q, k, v = bahdanau.query, bahdanau.key, bahdanau.v.weight[0]
        for b, t, s in [(0, 0, 0), (1, 2, 3), (0, 1, 2)]:
            one = v @ torch.tanh(q.weight @ h[b, t] + k.weight @ outs[b, s] + k.bias)
            assert float(bahdanau.scores(h, outs)[b, t, s]) == pytest.approx(float(one), abs=1e-5)
        weights = bahdanau.weights(h, (outs, valid))
    assert torch.allclose(weights.sum(-1), torch.ones(2, 3))
    assert float(weights[1, :, 2:].abs().sum()) == 0.0


def test_a_run_with_the_luong_layers_stored_at_the_top_level_still_loads(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    from rnnmod.runs import load_run

    write_tiny_tatoeba(tmp_path)
    train = ["--threads", "1", "train", "--task", "tatoeba", "--cell", "gru", "--hidden", "8"]
    train += ["--embed-dim", "8", "--epochs", "1", "--attention", "luong", "--quiet"]
    assert main([*train, "--data-dir", str(tmp_path), "--out", str(tmp_path / "run")]) == 0
    file = tmp_path / "run" / "model.safetensors"
    state = load_file(file)
    renamed = {
        k.replace("attention.score.", "attn_score.").replace(
            "attention.combine.", "attn_combine."
        ): v
        for k, v in state.items()
    }
    assert "attn_score.weight" in renamed
    save_file(renamed, file)
    model = load_run(tmp_path / "run").model
    assert torch.equal(model.attention.score.weight, state["attention.score.weight"])


@pytest.mark.parametrize("attention", ["luong", "bahdanau"])
def test_attention_translator_from_the_command_line(tmp_path: Path, capsys, attention: str) -> None:
    write_tiny_tatoeba(tmp_path)
    dd = ["--data-dir", str(tmp_path)]
    train = ["--threads", "1", "train", "--task", "tatoeba", "--cell", "lstm", "--hidden", "8"]
    train += ["--embed-dim", "8", "--epochs", "1", "--attention", attention, "--quiet", *dd]
    assert main([*train, "--out", str(tmp_path / "run")]) == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["model"]["attention"] == attention
    mods = tmp_path / "mods"
    assert main(["decompose", str(tmp_path / "run"), "--out", str(mods), "--n-positive", "20",
                 "--quiet", *dd]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["evaluate", str(mods), "--json", "--beam", "2", *dd]) == 0
    assert set(json.loads(capsys.readouterr().out)["per_language"]) == {"fr", "de", "it"}
    assert main(["translate", str(mods), "--to", "fr", "I see the cat"]) == 0
    from rnnmod.metrics.jaccard import decoder_jaccard

    m = attention_model()
    assert decoder_jaccard(m, [torch.ones(1, 8, dtype=torch.bool)]) == pytest.approx((1.0, 1.0))


def test_the_line_split_keeps_every_test_source_out_of_training(tmp_path: Path) -> None:
    from rnnmod.data.tatoeba import load_tatoeba_pairs
    from rnnmod.translation.data import pairs_for

    write_tiny_tatoeba(tmp_path, n=120)
    lines = load_tatoeba_pairs(tmp_path, split="lines")
    paper = load_tatoeba_pairs(tmp_path, split="paper")
    held = {p.source for p in lines.test + lines.val}
    assert held and not any(p.source in held for p in lines.train)
    assert len(lines.test) == 3 * 18 and len(lines.val) == 3 * 18  # ⌊0.15·120⌋ lines × 3
    by_source = {}
    for p in lines.test:
        by_source.setdefault(p.source, set()).add(p.lang)
    assert all(langs == {"fr", "de", "it"} for langs in by_source.values())
    leaked = {p.source for p in paper.test} & {p.source for p in paper.train}
    assert leaked  # the paper's split of the shuffled pairs puts test sources in training
    # a run recorded before the option existed keeps the paper's split
    old = pairs_for({"langs": ["fr", "de", "it"], "split_seed": 19}, tmp_path)
    assert [p.source for p in old.test] == [p.source for p in paper.test]


def test_label_smoothing_of_both_output_layers() -> None:
    torch.manual_seed(0)
    for layer in ("softmax", "adaptive"):
        cfg = Seq2SeqConfig("gru", 1, 15, 1200, embed_dim=6, hidden=8, src_len=7, tgt_len=6,
                            output_layer=layer)  # fmt: skip
        m = Seq2Seq(cfg).eval()
        src, tin = ragged(6, 7, 15, 7), ragged(6, 6, 1200, 8)
        tin[:, 0] = 2
        tout = torch.roll(tin, -1, 1)
        with torch.no_grad():
            plain, smooth = float(m.loss(src, tin, tout)), float(m.loss(src, tin, tout, 0.1))
            if layer == "softmax":
                logp = torch.log_softmax(m(src, tin), -1)[tin != 0]
                nll = -logp.gather(1, tout[tin != 0].unsqueeze(1)).mean()
                want = 0.9 * nll - 0.1 * logp.mean()
                assert smooth == pytest.approx(float(want), rel=1e-4)
        assert smooth != pytest.approx(plain)


def test_paired_bootstrap_interval_of_a_bleu_difference() -> None:
    from rnnmod.translation.bleu import paired_bootstrap, sacre_bleu

    rnd = random.Random(0)
    words = [f"w{i}" for i in range(30)]
    refs = [" ".join(rnd.choice(words) for _ in range(8)) for _ in range(200)]
    good = [" ".join(r.split()[:7] + ["x"]) for r in refs]  # one word wrong
    bad = [" ".join(r.split()[:4] + ["x"] * 4) for r in refs]  # four words wrong
    res = paired_bootstrap(bad, good, refs, n_samples=300)
    assert res["delta"] == pytest.approx(sacre_bleu(good, refs) - sacre_bleu(bad, refs))
    assert 0 < res["low"] <= res["delta"] <= res["high"]  # a clear gain: the interval excludes 0
    same = paired_bootstrap(good, good, refs, n_samples=100)
    assert same["delta"] == same["low"] == same["high"] == 0


def test_punctuated_translations_are_scored_without_sacrebleus_tokenised_input_warning(
    caplog,
) -> None:
    from rnnmod.translation.bleu import paired_bootstrap, sacre_bleu

    hyps = [f"je vois le chat {i} ." for i in range(120)]  # ≥ 100 lines ending in " ."
    refs = [f"Je vois le chat {i}." for i in range(120)]
    keep = "words-and-symbols"
    with caplog.at_level("WARNING"):
        assert sacre_bleu(hyps, refs, keep) == pytest.approx(100)
        assert paired_bootstrap(hyps, hyps, refs, n_samples=10, tokenizer=keep)["delta"] == 0
    assert "detokenize" not in caplog.text


def test_clip_norm_rescales_every_training_step(tmp_path: Path, monkeypatch, capsys) -> None:
    calls = []
    clip = torch.nn.utils.clip_grad_norm_

    def spy(params, max_norm, *args, **kwargs):
        params = list(params)
        calls.append(max_norm)
        norm = clip(params, max_norm, *args, **kwargs)
        after = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params]))
        assert float(after) <= max_norm * 1.0001
        return norm

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    write_tiny_tatoeba(tmp_path)
    train = ["--threads", "1", "train", "--task", "tatoeba", "--hidden", "8", "--embed-dim", "8"]
    train += ["--epochs", "1", "--data-dir", str(tmp_path), "--quiet"]
    assert main([*train, "--clip-norm", "0.01", "--out", str(tmp_path / "c")]) == 0
    assert calls and set(calls) == {0.01}
    metrics = json.loads((tmp_path / "c" / "metrics.json").read_text())
    assert metrics["clip_norm"] == 0.01
    assert main([*train, "--clip-norm", "0", "--out", str(tmp_path / "z")]) == 2
    assert "--clip-norm must be positive" in capsys.readouterr().err


def test_dropout_acts_in_training_only() -> None:
    torch.manual_seed(0)
    plain = Seq2Seq(Seq2SeqConfig("lstm", 1, 15, 20, embed_dim=6, hidden=8, src_len=7, tgt_len=6))
    drop = Seq2Seq(Seq2SeqConfig("lstm", 1, 15, 20, embed_dim=6, hidden=8, src_len=7, tgt_len=6,
                                 dropout=0.5))  # fmt: skip
    drop.load_state_dict(plain.state_dict())  # dropout adds no parameter
    src, tin = ragged(6, 7, 15, 7), ragged(6, 6, 20, 8)
    tin[:, 0] = 2
    tout = torch.roll(tin, -1, 1)
    plain.eval()
    drop.eval()
    with torch.no_grad():
        assert float(drop.loss(src, tin, tout)) == pytest.approx(float(plain.loss(src, tin, tout)))
        drop.train()
        assert float(drop.loss(src, tin, tout)) != pytest.approx(float(plain.loss(src, tin, tout)))
    with pytest.raises(ValueError, match="dropout must be in"):
        Seq2SeqConfig("lstm", 1, 15, 20, dropout=1.0).validate()


def test_a_punctuated_translation_reads_as_a_sentence() -> None:
    words = ["wo", "sind", "meine", "schlüssel", "?"]
    assert Translation(words, True, "de", True).sentence == "wo sind meine schlüssel?"
    assert Translation(["où", "es", "tu", "?"], True, "fr", True).sentence == "où es tu ?"
    assert Translation(["si", ",", "grazie", "."], True, "it", True).sentence == "si, grazie."
    assert Translation(words[:4], True, "de").sentence == "wo sind meine schlüssel"
    assert Translation(words, True, "de").text == "wo sind meine schlüssel ?"  # what BLEU reads


def test_punctuation_kept_is_translated_and_scored(tmp_path: Path, capsys) -> None:
    from rnnmod.kinds import kind_of
    from rnnmod.runs import load_run
    from rnnmod.translation.data import target_words

    assert target_words("Où es-tu, Tom ?") == ["où", "es", "tu", "tom"]
    keep = "words-and-symbols"
    assert target_words("Où es-tu, Tom ?", keep) == ["où", "es", "-", "tu", ",", "tom", "?"]
    assert sacre_bleu(["je vois le chat"], ["Je vois le chat."]) == pytest.approx(100)
    assert sacre_bleu(["je vois le chat ."], ["Je vois le chat."], keep) == pytest.approx(100)
    assert sacre_bleu(["je vois le chat"], ["Je vois le chat."], keep) < 100  # the mark counts
    write_tiny_tatoeba(tmp_path)
    dd = ["--data-dir", str(tmp_path), "--quiet"]
    train = ["--threads", "1", "train", "--task", "tatoeba", "--hidden", "8", "--embed-dim", "8"]
    assert (
        main([*train, "--epochs", "1", "--punctuation", "keep", *dd, "--out", str(tmp_path / "p")])
        == 0
    )
    run = load_run(tmp_path / "p")
    assert run.vocab.tokenizer == run.target_vocab.tokenizer == keep
    data = kind_of(run).load_data(run, tmp_path)  # rebuilt from the run: marks are targets
    dot = run.target_vocab.id_of(".")
    assert dot is not None and bool((data.tgt_train == dot).any())
    assert run.vocab.id_of(".") is not None  # and sources
    capsys.readouterr()
    assert main(["translate", str(tmp_path / "p"), "--to", "de", "I see the cat.", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)["translations"][0]
    assert row["translation"] == Translation(row["tokens"], True, "de", True).sentence
    clinc = ["train", "--task", "clinc", "--punctuation", "keep", "--out", str(tmp_path / "c")]
    assert main(clinc) == 2
    assert "--punctuation does not apply to --task clinc" in capsys.readouterr().err
    import rnnmod

    with pytest.raises(rnnmod.RnnmodError, match="--punctuation must be one of strip, keep"):
        rnnmod.train("tatoeba", out=tmp_path / "q", punctuation="none", data_dir=tmp_path)


def _unk_loving_route():
    """A tiny French route whose output layer prefers ``<unk>`` (id 1) at every step."""
    from rnnmod.data.vocab import Vocab
    from rnnmod.translation.decode import Route

    words = "je tu vois aime le un chat chien maison rouge grand petit noir".split()
    tgt = Vocab(["<pad>", "<unk>", "[startfr]", "[endfr]", *words], tokenizer="keras")
    src = Vocab(["<pad>", "<unk>", *"i you see love the a cat dog".split()], tokenizer="keras")
    model = tiny_model("gru", 1, seed=5).eval()
    with torch.no_grad():
        model.head.bias[1] = 50.0
    return Route(model, src, tgt)


@pytest.mark.parametrize("beam", [1, 3])
def test_no_unk_decoding_never_writes_unk_and_keeps_the_other_words(beam: int) -> None:
    """With ``no_unk`` the decoder takes its best known word where it would write ``<unk>``:
    the scores renormalised over the other words, so a model whose ``<unk>`` is never the
    best decodes exactly as before."""
    from rnnmod.data.vocab import UNK
    from rnnmod.translation.decode import Decoding, translate_texts

    route = _unk_loving_route()
    texts = ["i see the cat", "you love a dog", "the cat"]
    langs = ["fr"] * 3
    plain = translate_texts(lambda _l: route, texts, langs, decoding=Decoding(beam=beam))
    banned = translate_texts(
        lambda _l: route, texts, langs, decoding=Decoding(beam=beam, no_unk=True)
    )
    assert all(UNK in t.words for t in plain)  # the test would notice a ban that does nothing
    assert all(UNK not in t.words and t.words for t in banned)
    with torch.no_grad():
        route.model.head.bias[1] = -50.0  # <unk> is never the best word
    again = translate_texts(lambda _l: route, texts, langs, decoding=Decoding(beam=beam))
    again_banned = translate_texts(
        lambda _l: route, texts, langs, decoding=Decoding(beam=beam, no_unk=True)
    )
    assert [t.words for t in again] == [t.words for t in again_banned]


def test_no_unk_reaches_the_evaluation_report_and_is_refused_for_classifiers() -> None:
    from rnnmod.data.generic import Pair
    from rnnmod.errors import RnnmodError
    from rnnmod.kinds.classifier import ClassifierKind
    from rnnmod.translation.decode import Decoding, bleu_report

    route = _unk_loving_route()
    pairs = [Pair("i see the cat", "je vois le chat", "fr")]
    assert bleu_report(lambda _l: route, pairs, Decoding(no_unk=True))["no_unk"] is True
    assert bleu_report(lambda _l: route, pairs)["no_unk"] is False
    with pytest.raises(RnnmodError, match="--no-unk is for translation models"):
        ClassifierKind().check_options(no_unk=True)
    with pytest.raises(RnnmodError, match="--beam must be at least 1"):
        Decoding(beam=0)


def test_the_evaluation_report_says_how_it_decoded() -> None:
    from rnnmod.kinds.translator import TRANSLATOR

    v = {"monolithic": 30.0, "composed": 29.5, "delta": -0.5, "delta_ci95": [-0.9, -0.1],
         "monolithic_bleu1_legacy": 0.4, "composed_bleu1_legacy": 0.39, "retained_units": 0.95}  # fmt: skip
    res = {"task": "tatoeba", "cell": "lstm", "depth": 1, "mode": "rolled", "preset": "default",
           "n_modules": 1, "n_test": 10, "per_language": {"fr": v}, "monolithic": 30.0,
           "composed": 29.5, "delta": -0.5, "seconds": 1.0, "jaccard_legacy": 0.9,
           "jaccard_mask": 0.9, "retained_units": 0.95, "beam": 1, "no_unk": False}  # fmt: skip
    assert TRANSLATOR.evaluation_lines(res)[0].endswith("10 test pairs, greedy")
    res.update(beam=4, no_unk=True)
    assert TRANSLATOR.evaluation_lines(res)[0].endswith("10 test pairs, beam 4, no <unk>")
