"""The ``mtq`` console script: ``main`` wires every command module; ``commands`` holds
``mtq topology``, ``tiny-model``, ``submit`` and ``dlq``. Nothing imports this package.
"""
