"""The training loop's evaluation and promotion steps, as commands an orchestrator calls.

Module map:

- ``corpus.py``: parallel data (TSV, JSONL) read line by line, with one-line errors, and the
  digest that names a test set.
- ``split.py``: ``mtq split``: train/dev/test by a hash of each example, so a growing corpus
  never moves an example between splits.
- ``serving.py``: a test set through a real worker and the real queues (``mtq evaluate``).
- ``scores.py``: pure: chrF, BLEU and the spread of ``confidence``.
- ``tracking.py``: the MLflow side: a version's run, metrics per test set digest, aliases.
- ``evaluate.py``: ``mtq evaluate``: serve, score, log to the version's run, the table.
- ``promote.py``: ``mtq promote``: move an alias only when the candidate scores better on the
  same test set, and say why.
"""
