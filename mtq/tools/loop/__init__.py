"""The training loop's evaluation and promotion steps, as commands an orchestrator calls.

Module map:

- ``corpus.py``: parallel data (TSV, JSONL) read line by line, with one-line errors, and the
  digest that names a test set.
- ``split.py``: ``mtq split``: train/dev/test by a hash of each example, so a growing corpus
  never moves an example between splits.
"""
