"""mtq's benchmarks: ``python -m bench`` (results and method: docs/performance.md).

One command line (:mod:`bench.cli`): the suite by default, the others as subcommands
(``python -m bench --help`` lists them); ``bench/gpu.sh`` runs ``python -m bench gpu`` on a
GPU machine. Helpers shared with the tests (ports, private vhosts, child processes, the
loopback receiver) come from :mod:`tests.harness`; this package holds benchmarks only.

Module map:

- ``cli``: the command line; ``suite_cli``: the suite's options, header and output.
- ``suite``: the suite's rows (model x mix x strategy); ``rows``: one row measured.
- ``workload``: generated sentences grouped into the two job mixes.
- ``models``: the tiny model and the opus-mt-en-de-shaped random-weight model.
- ``measure``: the recording engine, the peak-memory probe, one row's numbers.
- ``strategies``: limit, in-process scheduler (built from Settings as the worker builds it),
  naive and fixed batches (no broker).
- ``e2e``: publish -> RabbitMQ -> worker -> dispatcher -> loopback webhook receiver.
- ``publisher``, ``sink``: the client and the receiver of the end-to-end run (own processes).
- ``cpu``: CPU seconds per thread and per process during a run.
- ``profiling``: optional py-spy profiles.
- ``report``: the tables and the target ratios; ``machine``: what the numbers were measured on.
- ``gpu``: the GPU rows (``python -m bench gpu``, ``bench/gpu.sh``).
- ``ct2``: CTranslate2 vs HF, engine level and end to end (``python -m bench ct2``), and its
  GPU rows (``python -m bench gpu --ct2``).
- ``cache`` (workload in ``cache_workload``): translation cache and in-flight dedup rows
  (``python -m bench cache``).
- ``intake``, ``delivery``, ``threads``, ``multilingual``: the intake window and lanes, webhook
  delivery pace, CPU threads, mixed-pair workers (``python -m bench <name>``).
- ``terms`` (workloads in ``terms_workload``): terminology recall, report accuracy, exact
  match and cost per engine and method (``python -m bench terms``, docs/terminology.md).
- ``placement``: markup placement on the trained model against its known alignment, per
  engine and against a monotone baseline (``python -m bench placement``, docs/markup.md).
- ``compat``: stand-ins that let ``gpu`` run where only torch and transformers are installed.
"""
