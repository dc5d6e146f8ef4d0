"""The model kinds, one handler each, registered in one table (:data:`KINDS`).

A kind says what differs between classifiers (1:1, 1:N, M:1, M:N) and translators
(encoder–decoder): the data a run was trained on, what a concern is, how modules are evaluated
(accuracy or BLEU) and reported, what may be composed. Everything else — run directories,
module sets, the decomposition engine, voting and routing — is one implementation.
"""

from __future__ import annotations

from ..errors import RnnmodError
from .base import ModelKind
from .classifier import CLASSIFIER
from .translator import TRANSLATOR

KINDS: dict[str, ModelKind] = {CLASSIFIER.name: CLASSIFIER, TRANSLATOR.name: TRANSLATOR}

#: tasks whose models are of a kind other than the classifier
TASK_KINDS: dict[str, ModelKind] = {"tatoeba": TRANSLATOR}


def kind_of(obj) -> ModelKind:
    """The handler of a :class:`~rnnmod.runs.Run` or :class:`~rnnmod.modules.store.ModuleSet`."""
    return KINDS[obj.kind]


def kind_of_sets(sets: list) -> ModelKind:
    kinds = {s.kind for s in sets}
    if len(kinds) > 1:
        raise RnnmodError("cannot compose translation modules with classifier modules")
    return KINDS[kinds.pop()]


def kind_for_task(task: str) -> ModelKind:
    return TASK_KINDS.get(task, CLASSIFIER)


__all__ = ["KINDS", "ModelKind", "kind_for_task", "kind_of", "kind_of_sets"]
