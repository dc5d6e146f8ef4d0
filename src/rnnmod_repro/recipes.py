"""How the reproduction trains its translators (docs/translation.md), shared by RQ1/RQ3
(``rnnmod reproduce rq1 --tasks tatoeba --recipe``) and the scenarios (``rnnmod scenario
--recipe``).

* ``paper``: the authors' recipe at an affordable scale (softmax, batch 64, lr 1e-3, 128-d
  embeddings, a fixed number of epochs; RQ1: a seeded 24,000 training pairs and 8,000 words on
  the paper's split; scenarios: 4,000 pairs per language, 6,000 words).
* ``reference``: the recipe of docs/translation.md's measured translators: every training pair,
  256-d embeddings, 30,000 words, adaptive softmax, batches of 128 in length buckets, lr 1e-3,
  early stopping after 2 epochs without a better validation loss, at most 14 epochs, the line
  split; the scenarios test it on every test pair.
* ``attention``: the reference recipe with Luong attention, punctuation kept as tokens, dropout
  0.2 and at most 20 epochs — the Luong attention translator of docs/translation.md,
  "Punctuation".
"""

from __future__ import annotations

RECIPES: dict[str, dict] = {
    "paper": {},
    "reference": {
        "embed_dim": 256, "max_vocab": 30000, "output_layer": "adaptive", "batch_size": 128,
        "bucket": True, "lr": 1e-3, "patience": 2, "epochs": 14, "max_train_per_lang": None,
        "test_per_lang": None,
    },
}  # fmt: skip
RECIPES["attention"] = RECIPES["reference"] | {
    "attention": "luong", "punctuation": "keep", "dropout": 0.2, "epochs": 20,
}  # fmt: skip
