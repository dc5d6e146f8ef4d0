"""User-supplied tasks: ``text-classification`` (CSV/TSV → M:1), ``tagging`` (CoNLL → M:N) and
aligned ``translation`` files; plus the tagging pipeline that Brown shares.

They go through the same tokenizer, :class:`Vocab` and seeded splitting as the paper's datasets,
so a user's own data trains, decomposes and composes exactly like the benchmark tasks.
"""

from __future__ import annotations

import csv
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import RnnmodError
from .base import TASKS, TaskData, check_max_vocab, limited, seeded_split
from .legacy import keras_vocab, sklearn_split
from .options import TaskOptions
from .ud import TAG_FIELDS, TOKEN_FIELDS, is_conllu, read_conllu, ud_field
from .userfiles import (
    check_known_labels,
    file_extra,
    files_note,
    ranges,
    resolve_file,
    split_files,
)
from .vocab import PAD, Vocab, pad_id_rows, resolve_seq_len, tokenize

SPLIT_SEED = 1234
Sentence = list[tuple[str, str]]


def _label_order(labels: list[str]) -> list[str]:
    """Sorted label strings; numerically when every label is an integer (so "10" follows "9")."""
    uniq = set(labels)
    try:
        return sorted(uniq, key=int)
    except ValueError:
        return sorted(uniq)


# ---------------------------------------------------------------- text classification (M:1)
def read_labelled_rows(path: Path, text_column: str, label_column: str) -> list[tuple[str, str]]:
    """(text, label) rows of a CSV (or TSV, by the ``.tsv``/``.tab`` suffix) with a header."""
    delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f, delimiter=delimiter)
            fields = reader.fieldnames or []
            missing = [c for c in (text_column, label_column) if c not in fields]
            if missing:
                raise RnnmodError(
                    f"{path}: missing column(s) {', '.join(missing)} (has: {', '.join(fields)}); "
                    "choose them with --text-column / --label-column"
                )
            rows = [(r[text_column], r[label_column]) for r in reader]
    except (csv.Error, UnicodeDecodeError) as e:
        raise RnnmodError(f"{path}: not a readable UTF-8 CSV/TSV ({e})") from None
    if any(t is None or y is None for t, y in rows):
        raise RnnmodError(f"{path}: some rows have fewer columns than the header")
    return rows


#: how users' text becomes tokens (``--tokenizer``): punctuation and emoticons kept, or the
#: Keras filters of the paper's pipeline
USER_TOKENIZERS = ("words-and-symbols", "keras")


def check_tokenizer(name: str | None) -> str:
    """A user text task's tokenizer; None is ``keras`` (runs recorded before the option)."""
    if name is None:
        return "keras"
    if name not in USER_TOKENIZERS:
        raise RnnmodError(f"--tokenizer must be one of {', '.join(USER_TOKENIZERS)}, got {name!r}")
    return name


def load_text_classification(data_dir: Path | None, **options: object) -> TaskData:
    """A CSV (or TSV, by the ``.tsv``/``.tab`` suffix) with a text and a label column → M:1.

    Labels are arbitrary strings mapped to ids in sorted order; the split is seeded and
    stratified by label; ``limit`` keeps a seeded subset of the training split; the vocabulary
    (at most ``max_vocab`` ids) is fitted on the kept training texts (Keras text filters).
    ``seq_len``: a number of tokens, ``"auto"`` (:func:`~.vocab.auto_seq_len` of the kept
    training texts) or None (15, the task's default). With ``train_file`` and ``test_file``
    (``val_file`` optional) instead of ``file``, the dataset's own splits are read as they are:
    labels and vocabulary from the training file.
    """
    opts = TaskOptions.of(options, split_seed=SPLIT_SEED, test_frac=0.2)
    seq_len, _, max_vocab, limit, limit_seed, split_seed = opts.vocabulary()
    test_frac, text_column = opts.test_frac, opts.text_column or "text"
    label_column = opts.label_column or "label"
    max_vocab = check_max_vocab(max_vocab)
    given = split_files(opts, data_dir)
    if given is None:
        path = resolve_file(opts.file, data_dir)
        rows = read_labelled_rows(path, str(text_column), str(label_column))
        parts = {"all": rows}
    else:
        parts = {
            k: read_labelled_rows(p, str(text_column), str(label_column)) for k, p in given.items()
        }
        rows = [r for k in ("train", "val", "test") for r in parts.get(k, [])]
    texts = [t for t, _ in rows]
    names = _label_order([y for _, y in (rows if given is None else parts["train"])])
    where = path if given is None else given["train"]
    if len(names) < 2:
        raise RnnmodError(f"{where}: column {label_column!r} needs at least two distinct labels")
    if given is not None:
        for k in ("val", "test"):
            if k in given:
                check_known_labels(given[k], [y for _, y in parts[k]], names, given["train"])
    index = {n: i for i, n in enumerate(names)}
    labels = torch.tensor([index[y] for _, y in rows], dtype=torch.long)
    if given is None:
        tr, te = seeded_split(len(texts), test_frac, split_seed, strata=labels)
        va = None
        split_note = (
            f"user data {path.name}: {len(texts)} rows, {len(names)} labels (sorted), "
            f"stratified {1 - test_frac:.0%}/{test_frac:.0%} split with seed {split_seed}"
        )
    else:
        tr, va, te = ranges([len(parts.get(k, [])) for k in ("train", "val", "test")])
        va = va if "val" in given else None
        split_note = files_note(given, {k: len(v) for k, v in parts.items()}, "rows") + (
            f", {len(names)} labels (sorted)"
        )
    tr, limit_notes = limited(tr, limit, limit_seed)
    tokenizer = check_tokenizer(opts.tokenizer)
    toks = tokenize(texts, tokenizer)
    train_toks = [toks[i] for i in tr.tolist()]
    seq_len = resolve_seq_len(seq_len, train_toks, TASKS["text-classification"].seq_len)
    vocab = Vocab.fit(train_toks, tokenizer=tokenizer, seq_len=seq_len, max_size=max_vocab)
    x = vocab.encode_tokens(toks)
    extra: dict = {"file": str(path)} if given is None else file_extra(given)
    extra |= {
        "texts_train": [texts[i] for i in tr.tolist()],
        "texts_test": [texts[i] for i in te.tolist()],
    }
    if va is not None:
        extra["texts_val"] = [texts[i] for i in va.tolist()]
    return TaskData.from_split(
        x,
        labels,
        tr,
        te,
        task="text-classification",
        io_type="M:1",
        vocab=vocab,
        label_names=names,
        notes=[
            split_note
            + "; vocabulary fitted on the training split"
            + (f" (at most {max_vocab} ids)" if max_vocab else "")
            + f"; {seq_len} tokens per text",
            *limit_notes,
        ],
        extra=extra,
        x_val=None if va is None else x[va],
        y_val=None if va is None else labels[va],
    )


# ---------------------------------------------------------------- tagging (M:N)
def tag_index(sentences: list[Sentence]) -> list[str]:
    """Tag names by frequency (ties first-seen) with ``<pad>`` at 0 — Keras Tokenizer on tags."""
    counts: Counter[str] = Counter(t for s in sentences for _, t in s)
    return [PAD] + [t for t, _ in sorted(counts.items(), key=lambda kv: -kv[1])]


def tagging_task(
    task: str,
    sentences: list[Sentence],
    opts: TaskOptions,
    *,
    legacy_random_state: int = 4,
    notes: list[str] | None = None,
    split: tuple[torch.Tensor, torch.Tensor | None, torch.Tensor] | None = None,
) -> TaskData:
    """Tagged sentences → M:N :class:`TaskData` (paper-method §3.5 conventions).

    Words lower-cased; tag ids 1..K by frequency over the whole corpus, 0 = padding; X and Y
    pre-padded / post-truncated to ``seq_len`` so they stay aligned. Default: seeded split,
    vocabulary fitted on the training sentences with ``<unk>`` (so X and Y never misalign).
    Legacy: Keras Tokenizer fitted on all sentences (no OOV) and the authors' split
    ``train_test_split(test_size=test_frac, random_state=legacy_random_state)``.
    ``limit`` keeps a seeded subset of the training sentences before the vocabulary is fitted
    (legacy: the kept training and the test sentences, in corpus order); ``seq_len`` None is
    the task's default (15), ``"auto"`` is fitted on the kept training sentences.
    ``split``: the (train, validation or None, test) sentence indices of a dataset's own
    splits, used as they are; the tags are then counted on the training sentences only.
    """
    seq_len, legacy_vocab, max_vocab, limit, limit_seed, split_seed = opts.vocabulary()
    test_frac = opts.test_frac if opts.test_frac is not None else 0.25
    split_seed = SPLIT_SEED if split_seed is None else split_seed
    max_vocab = check_max_vocab(max_vocab)
    words = [[w.lower() for w, _ in s] for s in sentences]
    names = tag_index(sentences if split is None else [sentences[i] for i in split[0].tolist()])
    tag_ids = {t: i for i, t in enumerate(names)}
    va = None
    if split is not None:
        if legacy_vocab:
            raise RnnmodError("legacy_vocab reads one corpus with the authors' split, not files")
        tr, va, te = split
    elif legacy_vocab:
        tr, te = sklearn_split(len(sentences), test_frac, legacy_random_state)
    else:
        tr, te = seeded_split(len(sentences), test_frac, split_seed)
    tr, limit_notes = limited(tr, limit, limit_seed)
    default_len = TASKS[task].seq_len if task in TASKS else TASKS["tagging"].seq_len
    seq_len = resolve_seq_len(seq_len, [words[i] for i in tr.tolist()], default_len)
    y = pad_id_rows([[tag_ids[t] for _, t in s] for s in sentences], seq_len)
    if legacy_vocab:
        used = sorted(set(tr.tolist()) | set(te.tolist())) if limit_notes else range(len(words))
        vocab = keras_vocab([words[i] for i in used], tokenizer="whitespace", seq_len=seq_len)
        note = (
            "legacy vocabulary: Keras Tokenizer fitted on all sentences (no OOV); split = "
            f"train_test_split(test_size={test_frac}, random_state={legacy_random_state})"
        )
    else:
        vocab = Vocab.fit(
            [words[i] for i in tr.tolist()],
            tokenizer="whitespace",
            seq_len=seq_len,
            max_size=max_vocab,
        )
        cap = f" (at most {max_vocab} ids)" if max_vocab else ""
        how = (
            "the dataset's own splits"
            if split is not None
            else f"seeded {1 - test_frac:.0%}/{test_frac:.0%} split (seed {split_seed})"
        )
        note = f"default vocabulary: fitted on the training sentences{cap}, unknown -> <unk>; {how}"
    x = vocab.encode_tokens(words)
    return TaskData.from_split(
        x,
        y,
        tr,
        te,
        task=task,
        io_type="M:N",
        vocab=vocab,
        label_names=names,
        out_steps=seq_len,
        pad_label=0,
        notes=[*(notes or []), note, *limit_notes],
        extra={
            "legacy_vocab": legacy_vocab,
            # raw text per sentence (words joined by spaces): re-encodes to the same ids
            "texts_train": [" ".join(words[i]) for i in tr.tolist()],
            "texts_test": [" ".join(words[i]) for i in te.tolist()],
            **({} if va is None else {"texts_val": [" ".join(words[i]) for i in va.tolist()]}),
        },
        x_val=None if va is None else x[va],
        y_val=None if va is None else y[va],
    )


def read_conll(path: Path, token_column: int = 0, tag_column: int = -1) -> list[Sentence]:
    """Whitespace-separated columns, one token per line, a blank line between sentences.

    ``-DOCSTART-`` lines (CoNLL-2003) are skipped, and so are comment lines: lines starting
    with ``#`` (CoNLL-U's ``# sent_id = 1``, ``# text = ...``, a bare ``#``) that stand
    outside a sentence — between sentences or before a sentence's first token line. Inside a
    sentence every line is data: a token ``#`` or ``#hashtag`` keeps its tag.
    """
    sentences: list[Sentence] = []
    current: Sentence = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise RnnmodError(f"{path}: not UTF-8 text ({e})") from None
    for n, line in enumerate(lines, 1):
        cols = line.split()
        if not cols:
            if current:
                sentences.append(current)
                current = []
            continue
        if cols[0] == "-DOCSTART-" or (not current and cols[0].startswith("#")):
            continue
        try:
            current.append((cols[token_column], cols[tag_column]))
        except IndexError:
            raise RnnmodError(
                f"{path}:{n}: expected a token column {token_column} and a tag column "
                f"{tag_column} separated by whitespace, got {line!r}"
            ) from None
    if current:
        sentences.append(current)
    if not sentences:
        raise RnnmodError(f"{path}: no tagged sentences (token and tag per line, blank between)")
    return sentences


def _column_index(value: object, default: int, option: str) -> int:
    if value in (None, ""):
        return default
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise RnnmodError(
            f"{option} must be a column number for tagging files (0 = first, -1 = last), "
            f"got {value!r}"
        ) from None


def read_tagged(path: Path, opts: TaskOptions) -> list[Sentence]:
    """A tagging file's sentences: CoNLL-U by the ``.conllu`` suffix (``--text-column``
    form|lemma, ``--label-column`` upos|xpos), else CoNLL columns (numbers)."""
    if is_conllu(path):
        return read_conllu(
            path,
            ud_field(opts.text_column, TOKEN_FIELDS, "--text-column"),
            ud_field(opts.label_column, TAG_FIELDS, "--label-column"),
        )
    return read_conll(
        path,
        _column_index(opts.text_column, 0, "--text-column"),
        _column_index(opts.label_column, -1, "--label-column"),
    )


def load_tagging(data_dir: Path | None, **options: object) -> TaskData:
    """A CoNLL-style or CoNLL-U file → M:N tagging task with Brown's conventions (75/25 seeded
    split); ``seq_len``, ``max_vocab``, ``limit`` as for :func:`tagging_task`. With
    ``train_file`` and ``test_file`` (``val_file`` optional) instead of ``file``, the dataset's
    own splits are read as they are: tags and vocabulary from the training file."""
    opts = TaskOptions.of(options)
    given = split_files(opts, data_dir)
    if given is None:
        path = resolve_file(opts.file, data_dir)
        sentences = read_tagged(path, opts)
        data = tagging_task(
            "tagging", sentences, opts, notes=[f"user data {path.name}: {len(sentences)} sentences"]
        )
        data.extra["file"] = str(path)
        return data
    parts = {k: read_tagged(p, opts) for k, p in given.items()}
    known = [t for s in parts["train"] for _, t in s]
    for k in ("val", "test"):
        if k in parts:
            check_known_labels(given[k], [t for s in parts[k] for _, t in s], known, given["train"])
    tr, va, te = ranges([len(parts.get(k, [])) for k in ("train", "val", "test")])
    sentences = [s for k in ("train", "val", "test") for s in parts.get(k, [])]
    sizes = {k: len(v) for k, v in parts.items()}
    data = tagging_task(
        "tagging",
        sentences,
        opts,
        notes=[files_note(given, sizes, "sentences")],
        split=(tr, va if "val" in given else None, te),
    )
    data.extra |= file_extra(given)
    return data


# ---------------------------------------------------------------- translation pairs
@dataclass(frozen=True)
class Pair:
    """One translation example; ``lang`` names the target language (one module per language)."""

    source: str
    target: str
    lang: str

    @property
    def decoder_text(self) -> str:
        """Target wrapped in the language's start/end tokens, as the paper's decoder sees it."""
        return f"[start{self.lang}] {self.target} [end{self.lang}]"


@dataclass
class TranslationPairs:
    """Shuffled translation pairs split into train / validation / test."""

    train: list[Pair]
    val: list[Pair]
    test: list[Pair]
    langs: list[str]
    notes: list[str]


def read_lines(path: Path, what: str) -> list[str]:
    """Lines of a text file without the empty item a trailing newline leaves."""
    if not path.is_file():
        raise RnnmodError(f"missing data file {path}: put {what} there (one sentence per line)")
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except UnicodeDecodeError as e:
        raise RnnmodError(f"{path}: not UTF-8 text ({e})") from None
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def split_pairs(
    pairs: list[Pair], seed: int, langs: list[str], notes: list[str], frac: float = 0.15
) -> TranslationPairs:
    """``random.seed(seed); random.shuffle(pairs)``; val = test = ⌊frac·N⌋ pairs (§3.6)."""
    import random

    pairs = list(pairs)
    random.seed(seed)
    random.shuffle(pairs)
    k = int(frac * len(pairs))
    return TranslationPairs(
        train=pairs[: len(pairs) - 2 * k],
        val=pairs[len(pairs) - 2 * k : len(pairs) - k],
        test=pairs[len(pairs) - k :],
        langs=langs,
        notes=notes,
    )


def load_translation_pairs(
    source_file: str | Path, target_file: str | Path, lang: str, *, seed: int = 19
) -> TranslationPairs:
    """Two line-aligned files (source, target) → shuffled, split pairs for one target language."""
    src = read_lines(Path(source_file), "the source sentences")
    tgt = read_lines(Path(target_file), f"the {lang} translations, aligned line by line")
    if len(src) != len(tgt):
        raise RnnmodError(
            f"{target_file}: {len(tgt)} lines but {source_file} has {len(src)}; "
            "the files must be aligned line by line"
        )
    pairs = [Pair(s, t, lang) for s, t in zip(src, tgt)]
    return split_pairs(pairs, seed, [lang], [f"{len(pairs)} aligned lines, seed {seed}"])
