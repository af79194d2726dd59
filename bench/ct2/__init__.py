"""CTranslate2 vs HF, side by side in one run: ``python -m bench ct2 [--quick]``.

Every row translates the same generated segments (:mod:`bench.workload`) with the same decode
options (beam 4, one bounded ``max_new_tokens``) on the opus-mt-en-de-shaped random-weight
model (:mod:`bench.models`), converted once with :func:`mtq.tools.convert.convert_model`:

- ``limit`` (engine level, no scheduler or broker): every segment sorted by length and cut by
  the worker's token budget (:func:`bench.strategies.run_limit`), for HF fp32 ``generate``
  (at the worker's default torch threads, cores - 1, and at one thread per core),
  CTranslate2 float32, CTranslate2 int8 and CTranslate2 int8 with two replicas (inter 2 x
  intra 1; the engine splits each batch between them);
- ``e2e`` (mtq end to end): jobs published to the local RabbitMQ in a private vhost, the real
  :class:`worker.app.Worker` in this process on that engine, timed to the last job's event on
  ``mtq.results`` (:func:`bench.e2e.run_end_to_end` with ``webhooks="off"``), for both HF
  set-ups and for CTranslate2 int8 (one replica, and two replicas). The 2x target is judged
  against the fastest HF row.

Fair lengths: HF generates exactly ``max_new_tokens`` per segment
(:func:`bench.models.fix_output_length`). CTranslate2 stops at end-of-sentence (random weights
rarely emit it) and at its per-batch cap ``min(max_new_tokens, 3 x longest + 16)``
(:func:`worker.engines.ct2.decoding_cap`), so ``max_new_tokens`` is chosen at or below that cap
for the shortest segment of the workload and every row decodes the same length. The table
shows generated tokens per segment for each row; generated tokens/s is the fair rate.

The GPU rows (CTranslate2 float16 and int8_float16 beside HF bf16, at the engine level and
through the in-process scheduler) are ``python -m bench gpu --ct2`` (:mod:`bench.ct2.gpu`,
``bash bench/gpu.sh --ct2``): run where CUDA is visible, ``skipped: no CUDA`` otherwise;
``--tiny`` checks that script on any machine.

Modules: ``config`` (the engine set-ups and sizes), ``models`` (HF folders, the padded
Marian-layout vocabulary, the conversion), ``engines`` (load one set-up, record its batches),
``rows`` (the CPU rows), ``report`` (the table and verdicts), ``cli``, ``gpu`` (the GPU rows).
"""
