"""The ``mtq`` console script: ``main`` wires every command module; ``commands`` holds
``mtq topology``, ``tiny-model``, ``submit`` and ``dlq``; ``glossary`` holds ``mtq glossary``;
``loop`` holds ``mtq split``, ``evaluate`` and ``promote``.
Nothing imports this package.
"""
