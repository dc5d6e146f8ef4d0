"""Learned decoder masks for translators: one module per target language (docs/budget.md).

The translator kind's :class:`~rnnmod.decomposition.mask_objective.MaskObjective`: the shared mask
learning (straight-through masks, λ per module, the budget's checkpoints) with what differs for
an encoder–decoder — batches of each language's own pairs, the decoder's teacher-forced
likelihood, a budget judged per language by the BLEU of its greedy translations.
"""

from __future__ import annotations

import torch

from ..decomposition.mask_objective import MaskObjective
from ..errors import RnnmodError
from ..modules.decoder_bank import DecoderMaskBank
from ..nn.seq2seq import Seq2Seq
from .bleu import sacre_bleu
from .decode import translate_ids


class TranslatorObjective(MaskObjective):
    """Translators: one module per target language, each trained on its own language's pairs
    (the composed translator routes by language, so modules never compete): the decoder runs
    through the cell engine with each language's masks on its block of the batch; the loss is
    the teacher-forced negative log-likelihood of the real target words. The budget is judged
    per language on its validation pairs by the sacreBLEU of the module's greedy translations
    (as a fraction: ``--budget 0.5pp`` allows 0.5 BLEU); the chosen checkpoint is then judged
    again on the next validation pairs, which took no part in choosing it (a binary search over
    the candidates within the budget). Teacher-forced next-word accuracy, a
    cheaper proxy, moved too little with the units removed: a 1 pp budget on it kept 98.8 % of
    a converged decoder's units and still lost 2.1 BLEU (docs/budget.md)."""

    method = "learned straight-through decoder unit masks per target language (frozen weights)"
    dense_checkpoints = True  # a converged decoder's budget sits at 95-100 % of its units

    def __init__(self, model, data, bank, opt, seed, budget, gen):
        if not isinstance(model, Seq2Seq) or not isinstance(bank, DecoderMaskBank):
            raise RnnmodError("a translator's objective needs a translation model and its bank")
        self.model, self.source = model, bank
        langs = data.langs
        k = self.n_modules = len(bank)
        self.names = [langs[c] for c in bank.class_index]
        self.groups = [[i] for i in range(k)]
        self.shapes = [
            torch.Size([k, *bank.masks[0][layer].shape]) for layer in range(len(bank.masks[0]))
        ]
        self.rows = [(data.lang_train == c).nonzero().squeeze(1) for c in bank.class_index]
        if any(len(r) == 0 for r in self.rows):
            raise RnnmodError("a language module has no training pair to learn its mask on")
        self.n_examples = int(sum(len(r) for r in self.rows))
        self.per_lang = max(1, opt.batch_size // k)
        self.batch_size = self.per_lang * k
        self.src, self.tgt = data.src_train, data.tgt_train
        if budget:
            by_lang = {lang: [p for p in data.val if p.lang == lang] for lang in self.names}
            if any(not ps for ps in by_lang.values()):
                empty = [lang for lang, ps in by_lang.items() if not ps]
                raise RnnmodError(
                    f"no validation pair for {', '.join(empty)}: a translator's budget is "
                    "judged on its validation split; use --target-retained instead"
                )
            self.tgt_vocab = data.tgt_vocab
            first, then = opt.val_pairs_per_lang, opt.confirm_pairs_per_lang
            self.val, self.validation = self._pairs(data, by_lang, 0, first)
            everything = self.bank([torch.ones(s, dtype=torch.bool) for s in self.shapes])
            self.reference = self.validate(everything)
            # the next pairs of every language confirm the chosen checkpoints (when there are)
            self.confirms = then > 0 and all(len(ps) > first for ps in by_lang.values())
            if self.confirms:
                self.held, self.confirmation = self._pairs(data, by_lang, first, first + then)
                self.confirm_reference = self.confirm(everything)

    def _decode(self, src, tgt, masks):
        """Decoder outputs on the output side's input and the real steps' mask."""
        tin, tout = tgt[:, :-1], tgt[:, 1:]
        with torch.no_grad():  # the encoder has no masks and frozen weights
            enc, memory = self.model.encode_memory(src)
        state = self.model.initial_state(enc, unit_masks=masks)
        run = self.model.run_decoder_engine(state, tin, unit_masks=masks)
        real = tin != 0
        return self.model.attend(run.output, memory), real, tout

    def loss(self, masks, gen):
        idx = torch.cat(
            [r[torch.randint(len(r), (self.per_lang,), generator=gen)] for r in self.rows]
        )
        h, real, tout = self._decode(self.src[idx], self.tgt[idx], masks)
        return self.model.token_nll(h[real], tout[real])

    @staticmethod
    def _pairs(data, by_lang: dict, start: int, stop: int) -> tuple[list, str]:
        """Each language's validation pairs [start, stop) as (language, source ids, references),
        and their description."""
        chosen = {lang: ps[start:stop] for lang, ps in by_lang.items()}
        n = sorted({len(ps) for ps in chosen.values()})
        where = "pairs" if start == 0 else f"pairs after the first {start}"
        text = (
            f"{data.task} validation split ({'-'.join(map(str, n))} {where} per language; "
            "sacreBLEU / 100 of greedy translations)"
        )
        encoded = [
            (lang, data.src_vocab.encode_texts([p.source for p in ps]), [p.target for p in ps])
            for lang, ps in chosen.items()
        ]
        return encoded, text

    def validate(self, bank):
        return self._bleu(bank, self.val)

    def confirm(self, bank):
        return self._bleu(bank, self.held)

    @torch.no_grad()
    def _bleu(self, bank, pairs: list) -> list[float]:
        masks = self.masks_of(bank)
        out = []
        for i, (lang, src, refs) in enumerate(pairs):
            trs = translate_ids(self.model, self.tgt_vocab, src, lang, [m[i] for m in masks])
            out.append(sacre_bleu([t.text for t in trs], refs, self.tgt_vocab.tokenizer) / 100)
        return out

    def bank(self, masks, state=None):
        return DecoderMaskBank(
            list(self.source.class_index),
            [[m[i] for m in masks] for i in range(self.n_modules)],
            [dict(x) for x in self.source.info] or [{} for _ in range(self.n_modules)],
        )

    def masks_of(self, bank):
        return [torch.stack([ms[layer] for ms in bank.masks]) for layer in range(len(self.shapes))]
