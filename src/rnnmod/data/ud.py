"""CoNLL-U files (Universal Dependencies) for the ``tagging`` task, read with the ``conllu``
package: FORM (or LEMMA) as the token, UPOS (or XPOS) as the tag; multiword-token ranges
(``1-2``) and empty nodes (``2.1``) skipped, as CoNLL-U says; comments and sentence boundaries
as the parser finds them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import conllu
from conllu.exceptions import ParseException
from conllu.parser import DEFAULT_FIELDS, parse_line

from ..errors import RnnmodError

Sentence = list[tuple[str, str]]

#: the fields ``--text-column`` / ``--label-column`` may name in a CoNLL-U file (default first)
TOKEN_FIELDS = ("form", "lemma")
TAG_FIELDS = ("upos", "xpos")


def is_conllu(path: Path) -> bool:
    return path.name.lower().endswith(".conllu")


def ud_field(value: object, allowed: tuple[str, ...], option: str) -> str:
    """The field an option names in a CoNLL-U file (None: the first of ``allowed``)."""
    if value in (None, ""):
        return allowed[0]
    name = str(value).lower()
    if name not in allowed:
        raise RnnmodError(
            f"{option} for a .conllu file is one of {', '.join(allowed)}, got {value!r}"
        )
    return name


class _Lines:
    """The file's lines for ``conllu.parse_incr``, remembering the current sentence's lines with
    their numbers (the parser's errors name no line)."""

    def __init__(self, f) -> None:
        self.f = f
        self.sentence: list[tuple[int, str]] = []
        self._blank = True

    def read(self, *args):  # parse_incr checks that it was given an open file
        return self.f.read(*args)

    def __iter__(self) -> Iterator[str]:
        for n, line in enumerate(self.f, 1):
            if line.strip():
                if self._blank:
                    self.sentence = []
                self.sentence.append((n, line.rstrip("\r\n")))
                self._blank = False
            else:
                self._blank = True
            yield line

    def token_lines(self) -> list[tuple[int, str]]:
        """The current sentence's token lines (comments left out), as the parser orders them."""
        return [(n, t) for n, t in self.sentence if not t.strip().startswith("#")]


def _failing_line(lines: _Lines) -> int:
    """The number of the current sentence's line the parser refuses (else its first line)."""
    for n, text in lines.token_lines():
        try:
            parse_line(text.strip(), DEFAULT_FIELDS)
        except ParseException:
            return n
    return lines.sentence[0][0] if lines.sentence else 1


def read_conllu(path: Path, token_field: str = "form", tag_field: str = "upos") -> list[Sentence]:
    """The tagged sentences of a CoNLL-U file: (token, tag) per syntactic word."""
    sentences: list[Sentence] = []
    try:
        with open(path, encoding="utf-8") as f:
            lines = _Lines(f)
            parsed = conllu.parse_incr(lines)
            while True:
                try:
                    tokens = next(parsed)
                except StopIteration:
                    break
                except ParseException as e:
                    raise RnnmodError(
                        f"{path}:{_failing_line(lines)}: not valid CoNLL-U ({e})"
                    ) from None
                sentence = _words(path, tokens, lines.token_lines(), token_field, tag_field)
                if sentence:
                    sentences.append(sentence)
    except UnicodeDecodeError as e:
        raise RnnmodError(f"{path}: not UTF-8 text ({e})") from None
    if not sentences:
        raise RnnmodError(f"{path}: no sentences (CoNLL-U: one word per line, blank between)")
    return sentences


def _words(
    path: Path, tokens, lines: list[tuple[int, str]], token_field: str, tag_field: str
) -> Sentence:
    words: Sentence = []
    for i, tok in enumerate(tokens):
        if not isinstance(tok.get("id"), int):  # a multiword range (1-2) or an empty node (2.1)
            continue
        n = lines[i][0] if i < len(lines) else lines[-1][0] if lines else 0
        word, tag = tok.get(token_field), tok.get(tag_field)
        tag = None if tag == "_" else tag  # unspecified
        if word is None or tag is None:
            missing = token_field if word is None else tag_field
            raise RnnmodError(
                f"{path}:{n}: no {missing.upper()} for word {tok.get('id')} ('_' or a missing "
                f"column){'; choose the tag with --label-column upos|xpos' if tag is None else ''}"
            )
        words.append((str(word), str(tag)))
    return words
