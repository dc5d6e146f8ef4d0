"""What is truly translation: parallel-data loading, seq2seq training, greedy decoding and BLEU.

The translator kind (:mod:`rnnmod.kinds.translator`) builds on these; runs, module sets,
decomposition and evaluation are the one pipeline's."""
