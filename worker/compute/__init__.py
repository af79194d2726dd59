"""Where CPU- and device-heavy work runs, off the event loop.

- ``inference``: the inference thread, the one caller of the engine (bisects failing
  batches, shrinks the budget on out-of-memory).
- ``tokenizing``: tokenizer work inline for small jobs, in a small pool otherwise.
"""
