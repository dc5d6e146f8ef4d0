"""The reproduction of Imtiaz et al. (ICSE 2023) with :mod:`rnnmod`: RQ1–RQ3 for classifiers
and translators, the inter experiments, the authors' evaluator defect (D1), the
retention–accuracy curve, the motivating scenarios, the report, and the paper's published
tables beside ours. ``rnnmod reproduce`` and ``rnnmod scenario`` run it (:mod:`rnnmod_repro.cli`);
the core package never imports it."""
