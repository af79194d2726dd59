"""The ``mtq`` console script: ``main`` wires every command module; ``commands`` holds
``mtq topology``, ``tiny-model``, ``submit`` and ``dlq``; ``glossary`` holds ``mtq glossary``.
Nothing imports this package.
"""
