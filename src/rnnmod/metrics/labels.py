"""What users of classifiers and taggers expect beside accuracy: macro-F1 over classes, and for
IOB/BIO tag sets the entity-level precision, recall and F1 of ``seqeval`` (CoNLL evaluation)."""

from __future__ import annotations

from torch import Tensor


def macro_f1(pred: Tensor, target: Tensor, classes: list[int]) -> float:
    """Unweighted mean over ``classes`` of each class's F1 = 2·TP / (2·TP + FP + FN); a class
    that is neither a label nor a prediction is left out (as scikit-learn does)."""
    pred, target = pred.flatten(), target.flatten()
    scores = []
    for c in classes:
        p, t = pred == c, target == c
        tp, fp, fn = int((p & t).sum()), int((p & ~t).sum()), int((~p & t).sum())
        if tp + fp + fn:
            scores.append(2 * tp / (2 * tp + fp + fn))
    return sum(scores) / len(scores) if scores else float("nan")


def is_iob(tags: list[str]) -> bool:
    """Every tag is ``O`` or starts with ``B-`` or ``I-``, and at least one is an entity tag."""
    return bool(tags) and all(t == "O" or t[:2] in ("B-", "I-") for t in tags) and tags != ["O"]


def entity_scores(
    pred: Tensor, target: Tensor, pad_label: int, names: list[str]
) -> dict[str, float]:
    """Entity-level precision, recall and F1 (``seqeval``, CoNLL's conlleval rules) of tag
    sequences [B, T] on real tokens only (labels ≠ ``pad_label``); a predicted padding tag or a
    name that is no IOB tag counts as ``O``."""
    from seqeval.metrics import f1_score, precision_score, recall_score

    def tag(i: int) -> str:
        n = names[i]
        return n if n == "O" or n[:2] in ("B-", "I-") else "O"

    gold, guess = [], []
    for p_row, t_row in zip(pred.tolist(), target.tolist(), strict=True):
        real = [(p, t) for p, t in zip(p_row, t_row, strict=True) if t != pad_label]
        if real:
            gold.append([tag(t) for _, t in real])
            guess.append([tag(p) for p, _ in real])
    kw = {"zero_division": 0}
    return {
        "precision": float(precision_score(gold, guess, **kw)),
        "recall": float(recall_score(gold, guess, **kw)),
        "f1": float(f1_score(gold, guess, **kw)),
    }
