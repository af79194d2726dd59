"""The translation worker: consumer → scheduler → engine (one inference thread) → results.

Folder map (each folder's ``__init__`` maps its modules):

- ``broker/``: the only aio-pika/aiormq code: the link (connect, consume, reconnect), one
  session's channels, a received job message, the results publisher and the outbox.
- ``lifecycle/``: what happens to a job: intake (parse, admit, tokenize), completion, recovery,
  drain and the quarantine return outcomes; the settler carries them out.
- ``batching/``: pure: the segments intake hands over, the pools, lanes and tenants, the
  scheduler that forms batches and its thread-safe queue.
- ``compute/``: the inference thread (the one caller of the engine) and the tokenizer pool.
- ``engines/``: HF and CTranslate2 behind one interface, the model set of a route table,
  attention alignment, the memory budget, CPU threading.
- ``cache/``: the translation cache and in-flight dedup.
- ``terms/``: stored glossaries read and cached (TTL, versions), a job's ``glossary_id``
  resolved at intake.
- ``registry/``: models from the MLflow registry (``models:/NAME@ALIAS``, ``/VERSION``):
  resolving, the local version store, the loader, and rollover when an alias moves.
- ``app.py``: the composition root; ``cli.py``: ``mtq worker``; ``metrics.py``; ``tasks.py``.
"""
