"""Forming micro-batches across every in-flight job. Pure: no torch, no AMQP, no clock of its own.

- ``items``: a job's segment as intake hands it over (``WorkItem``), waiting (``Segment``), and
  a ``Batch`` with its cost.
- ``fairness``: who goes first: the interactive lane, then tenants by weighted fair share.
- ``pools``: the waiting segments of one decode setting and how a batch grows from them.
- ``scheduler``: which batch comes next (``Scheduler.next_batch``).
- ``queue``: ``BatchQueue``, the thread-safe front the inference thread waits on.
- ``intake_window``: how many jobs the worker holds, following job sizes (pure).
"""
