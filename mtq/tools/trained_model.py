"""The trained model that ships with mtq: a small Marian model for the synthetic pair.

Its weights and tokenizer live in the package (``mtq/data/trained-pair``), written by
:mod:`mtq.tools.train_pair`, so tests and benchmarks never train. Unlike the tiny models its
translations are right (held-out exact match in ``TRAINING.json``), and the correct word
alignment of every sentence is known (:mod:`mtq.tools.synth_pair`), so placement of markup,
confidence and output guards can be measured on it.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

TRAINED_NOTICE = (
    "The trained model translates the synthetic en-tvo pair of mtq.tools.synth_pair "
    "(retrain with `python -m mtq.tools.train_pair OUT`); it knows no other language."
)


def packaged_model_dir() -> Path:
    """Where the packaged model's files are (inside the installed ``mtq`` package)."""
    folder = Path(str(resources.files("mtq"))) / "data" / "trained-pair"
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"the trained model is missing from the package ({folder})")
    return folder


def copy_trained_model(path: Path) -> Path:
    """Copy the packaged model to ``path``, a folder ``from_pretrained`` loads."""
    path.mkdir(parents=True, exist_ok=True)
    for item in packaged_model_dir().iterdir():
        if item.is_file():
            shutil.copyfile(item, path / item.name)
    (path / "MTQ_TRAINED_MODEL.txt").write_text(TRAINED_NOTICE + "\n", encoding="utf-8")
    return path
