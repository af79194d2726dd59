"""mtq: batch machine translation over RabbitMQ with micro-batched beam search.

Package map (the layering is checked by ``lint-imports``, see pyproject.toml):

- ``core/``: the contract (jobs in, events out), settings, topology, languages, the callback
  policy, markup. Imports nothing else of the project; builds nothing at import time.
- ``client/``: talking to the broker from outside a service: connecting to its nodes,
  submitting jobs, declaring the topology, browsing and redriving side queues.
- ``tools/``: the planner and its simulator, the CTranslate2 converter, the tiny-model
  builders, the demo.
- ``cli/``: the ``mtq`` console script on top of everything (``worker/`` and ``webhooks/``
  register their own commands through it).
"""
