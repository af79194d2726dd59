"""How every benchmark logs: its own progress at INFO on stderr, the libraries' only when wrong."""

from __future__ import annotations

import logging
import sys

QUIET = ("mtq", "worker", "webhooks", "aio_pika", "aiormq", "pika", "transformers", "urllib3")


def configure() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
