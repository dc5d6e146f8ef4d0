"""The NLTK 3.8.1 word tokenizer the paper's Clinc id arrays were built with (its rules differ
from later NLTK releases), for ``--legacy-vocab``."""

from __future__ import annotations

import re

from .nltk_import import nltk_module

NLTKWordTokenizer = nltk_module("nltk.tokenize.destructive").NLTKWordTokenizer


class Nltk381WordTokenizer(NLTKWordTokenizer):
    """``nltk.word_tokenize`` as released in NLTK 3.8.1 (the rule tables changed in 3.9).

    3.9+ split any leading apostrophe off a word (``'life`` → ``'``, ``life``), collapse runs of
    spaces before the clitic rules and pad Unicode dashes; 3.8.1 only split ``'`` off a
    one-letter word. The tokenize() method itself is unchanged, so overriding the three
    tables reproduces 3.8.1 exactly (regexes copied from NLTK 3.8.1, Apache-2.0).
    """

    STARTING_QUOTES = [
        (re.compile("([«“‘„]|[`]+)", re.U), r" \1 "),
        (re.compile(r"^\""), r"``"),
        (re.compile(r"(``)"), r" \1 "),
        (re.compile(r"([ \(\[{<])(\"|\'{2})"), r"\1 `` "),
        (re.compile(r"(?i)(\')(?!re|ve|ll|m|t|s|d|n)(\w)\b", re.U), r"\1 \2"),
    ]
    ENDING_QUOTES = [
        (re.compile("([»”’])", re.U), r" \1 "),
        (re.compile(r"''"), " '' "),
        (re.compile(r'"'), " '' "),
        (re.compile(r"([^' ])('[sS]|'[mM]|'[dD]|') "), r"\1 \2 "),
        (re.compile(r"([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) "), r"\1 \2 "),
    ]
    PUNCTUATION = [
        (re.compile(r'([^\.])(\.)([\]\)}>"\'' "»”’ " r"]*)\s*$", re.U), r"\1 \2 \3 "),
        (re.compile(r"([:,])([^\d])"), r" \1 \2"),
        (re.compile(r"([:,])$"), r" \1 "),
        (re.compile(r"\.{2,}", re.U), r" \g<0> "),
        (re.compile(r"[;@#$%&]"), r" \g<0> "),
        (re.compile(r'([^\.])(\.)([\]\)}>"\']*)\s*$'), r"\1 \2\3 "),
        (re.compile(r"[?!]"), r" \g<0> "),
        (re.compile(r"([^'])' "), r"\1 ' "),
        (re.compile(r"[*]", re.U), r" \g<0> "),
    ]


_NLTK381 = Nltk381WordTokenizer()


def nltk381_word_tokenize(text: str) -> list[str]:
    """``nltk.word_tokenize(text, preserve_line=True)`` with NLTK 3.8.1 rules."""
    return _NLTK381.tokenize(text)
