"""``python -m bench``: every benchmark behind one command line.

    python -m bench [--quick] [options]       the suite: limit, scheduler, e2e, naive, fixed
    python -m bench ct2 [--quick] [options]   CTranslate2 vs HF on this CPU, engine and e2e
    python -m bench gpu [--tiny] [--ct2]      the GPU rows (what bench/gpu.sh runs)
    python -m bench cache [options]           translation cache and in-flight dedup rows
    python -m bench intake [options]          intake window, lanes, tenants, pipeline cost
    python -m bench delivery [--quick]        webhooks at the receiver's pace (dispatcher)
    python -m bench threads [--quick]         CPU threads: measured at start vs each explicit
    python -m bench contention [options]      torch threads on the probe beside a busy process
    python -m bench multilingual [--quick]    mixed-pair small jobs: one multilingual worker vs
                                              one worker per pair
    python -m bench terms [--model trained]   terminology: recall, report accuracy, exact
                                              match and cost per engine and method
    python -m bench placement [--sentences N]  markup placement on the trained model, per
                                              engine, against a monotone baseline
    python -m bench vouch [--model PATH]      confidence and guards: cost on plain batches,
                                              recall on constructed failures, retry
    python -m bench registry [--jobs N]       MLflow registry: rollover under a stream of
                                              jobs, canary share, shadow agreement and cost

Without a subcommand the suite runs (``python -m bench --help`` lists its options). Each
subcommand's module is imported only when chosen: ``gpu`` must start on a machine that has
only torch and transformers (see :mod:`bench.compat`).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

SUITE = "suite"
COMMANDS = {
    SUITE: "bench.suite_cli",
    "ct2": "bench.ct2.cli",
    "gpu": "bench.gpu",
    "cache": "bench.cache",
    "intake": "bench.intake",
    "delivery": "bench.delivery",
    "threads": "bench.threads",
    "contention": "bench.contention",
    "multilingual": "bench.multilingual",
    "terms": "bench.terms",
    "placement": "bench.placement",
    "vouch": "bench.vouch",
    "registry": "bench.registry.cli",
}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    command = args.pop(0) if args and args[0] in COMMANDS else SUITE
    if command == SUITE and args[:1] in (["-h"], ["--help"]):
        print(__doc__)
    module = importlib.import_module(COMMANDS[command])
    code: int = module.main(args)
    return code
