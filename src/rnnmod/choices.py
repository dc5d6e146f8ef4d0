"""The names the command line offers as choices, in a module that imports nothing: parsing
arguments (``--help``, a typo) never pays for importing torch. The modules that implement each
choice take their tuple from here, so there is one list."""

from __future__ import annotations

CELL_KINDS = ("rnn", "rnn-relu", "lstm", "gru")
IO_TYPES = ("1:1", "1:N", "M:1", "M:N")
MODES = ("rolled", "unrolled")
PRESETS = ("default", "paper")
RULES = ("probability", "odds", "calibrated")  # how a module set's modules are compared
SEMANTICS = ("keras", "paper")  # how an imported Keras model computes its gates
#: what a removed unit is (docs/method.md): dead (state 0) or the original tool's per-step edits
UNIT_SEMANTICS = ("dead", "legacy-edits")
#: tasks of the zoo's classifiers and taggers (named datasets and the user-file tasks)
CLASSIFIER_TASKS = (
    "brown",
    "clinc",
    "emotions",
    "ids",
    "mathqa",
    "tagging",
    "text-classification",
    "toxic",
)
TRANSLATION_TASKS = ("tatoeba",)
#: how translators treat punctuation (rnnmod.translation.data.PUNCTUATION: each one's tokenizer)
PUNCTUATION = ("strip", "keep")
#: translators' attention over the encoder (rnnmod.nn.attention.ATTENTION: each one's class)
ATTENTIONS = ("none", "luong", "bahdanau")
#: translators' learning-rate schedule (rnnmod.translation.train.lr_factor)
LR_DECAYS = ("none", "linear")
#: translators' training arithmetic (rnnmod.translation.train.train_seq2seq): fp32, or bf16 autocast
PRECISIONS = ("fp32", "bf16")
#: datasets `rnnmod data fetch` knows (rnnmod.data.fetch.DATASETS describes each)
DATASETS = ("clinc", "brown", "mathqa", "emotions", "tatoeba", "toxic")
