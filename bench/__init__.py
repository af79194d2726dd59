"""mtq's benchmark suite: ``python -m bench`` (results and method: docs/performance.md).

Module map:

- ``workload``: generated sentences grouped into the two job mixes.
- ``models``: the tiny model and the opus-mt-en-de-shaped random-weight model.
- ``measure``: the recording engine, the peak-memory probe, one row's numbers.
- ``strategies``: limit, in-process scheduler, naive and fixed batches (no broker).
- ``e2e``: publish -> RabbitMQ -> worker -> dispatcher -> loopback webhook receiver.
- ``publisher``, ``sink``: the client and the receiver of the end-to-end run (own processes).
- ``cpu``: CPU seconds per thread and per process during a run.
- ``profiling``: optional py-spy profiles.
- ``report``: the tables and the target ratios; ``machine``: what the numbers were measured on.
- ``run``: the command line (``python -m bench``); ``gpu``: the GPU script (``bench/gpu.sh``).
- ``ct2``: CTranslate2 vs HF, engine level and end to end (``python -m bench.ct2``, ``--gpu``).
- ``compat``: stand-ins that let ``gpu`` run where only torch and transformers are installed.

``soak`` (fault soak test, ``python -m bench.soak``) belongs to the reliability work, not to
the benchmark.
"""
