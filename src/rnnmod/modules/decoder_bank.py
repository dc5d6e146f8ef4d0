"""A translator's language modules: decoder unit masks over one shared encoder–decoder.

A language module is the whole source model with some recurrent units of the decoder removed
(per decoder layer, optionally per decoder step); there is no head to channel (paper-method §8):
encoder, embeddings and output layer are the source's. A module file holds only the bit-packed
masks ``unit_mask.<layer>`` ([1 or T, ceil(H/8)] bytes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from ..errors import RnnmodError
from .masks import pack_mask, unpack_mask


@dataclass
class DecoderMaskBank:
    """K language modules of one translator: per module, per decoder layer, a bool mask [S, H]
    (True = kept; S = 1 rolled or the decoder steps unrolled)."""

    class_index: list[int]
    masks: list[list[Tensor]]
    info: list[dict] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.class_index)

    @property
    def steps(self) -> int:
        return max((m[0].shape[0] for m in self.masks), default=1)

    def select(self, which: list[int]) -> DecoderMaskBank:
        return DecoderMaskBank(
            [self.class_index[i] for i in which],
            [self.masks[i] for i in which],
            [self.info[i] for i in which] if self.info else [],
        )

    def retained_fraction(self) -> Tensor:
        """Per module, the fraction of decoder units kept, over layers and steps."""
        return torch.tensor(
            [
                float(sum(m.float().sum() for m in ms) / sum(m.numel() for m in ms))
                for ms in self.masks
            ]
        )

    def scores(self, *args: object, **kwargs: object):
        """Translation modules route sentences by language; they do not score classes."""
        raise RnnmodError(
            "these are translation modules: they translate (rnnmod translate MODS --to LANG), "
            "they do not classify"
        )

    def module_tensors(self, k: int) -> tuple[dict[str, Tensor], dict[str, str] | None]:
        return {f"unit_mask.{i}": pack_mask(m) for i, m in enumerate(self.masks[k])}, None

    @classmethod
    def read(cls, path: Path, run, entries: list[dict], tensors_of) -> DecoderMaskBank:
        """The modules ``entries`` of source ``run`` of the module set at ``path`` (``tensors_of``:
        a module file's checked tensors)."""
        cfg = run.model.cfg
        class_index, masks, info = [], [], []
        for e in entries:
            lang = e["label"]
            if lang not in run.langs:
                raise RnnmodError(f"{path}: module {lang!r}: its source does not translate into it")
            t = tensors_of(e["file"])
            layers = []
            for layer in range(cfg.depth):
                key = f"unit_mask.{layer}"
                if key not in t:
                    raise RnnmodError(f"{path / e['file']}: missing tensor {key!r}")
                try:
                    m = unpack_mask(t[key], cfg.hidden)
                except RnnmodError as err:
                    raise RnnmodError(f"{path / e['file']}: {key}: {err}") from None
                if m.shape[0] not in (1, cfg.tgt_len):
                    raise RnnmodError(f"{path / e['file']}: {key} has {m.shape[0]} steps")
                layers.append(m)
            class_index.append(run.langs.index(lang))
            masks.append(layers)
            info.append({k: e[k] for k in ("n_positive", "n_negative", "warnings") if k in e})
        return cls(class_index, masks, info)
