"""What was downloaded, as one folder ``from_pretrained`` reads.

Two layouts are accepted:

- ``mlflow.transformers.log_model``: an ``MLmodel`` file with a ``transformers`` flavor, the
  weights and config under ``model/`` (its ``model_binary``) and the tokenizer under
  ``components/tokenizer/``. The tokenizer files are copied next to the weights.
- a plain HF folder logged as artifacts (``mlflow.log_artifacts(folder, "model")`` and a
  version created from the run's path): ``config.json`` at the root or one folder down.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from mtq.core.errors import ConfigError

_TOKENIZER_FOLDERS = ("components/tokenizer", "tokenizer")


def hf_folder(root: Path) -> Path:
    """The folder under ``root`` that holds config, weights and tokenizer together."""
    if (root / "MLmodel").is_file() and (root / "model" / "config.json").is_file():
        return _merge_transformers_flavor(root)
    if (root / "config.json").is_file():
        return root
    candidates = sorted(p.parent for p in root.glob("*/config.json"))
    if len(candidates) == 1:
        return candidates[0]
    raise ConfigError(
        f"{root}: not a HF model: expected an mlflow.transformers model (MLmodel, model/) or "
        f"a folder with config.json (found {[str(p) for p in root.iterdir()]})"
    )


def _merge_transformers_flavor(root: Path) -> Path:
    model = root / "model"
    for name in _TOKENIZER_FOLDERS:
        tokenizer = root / name
        if tokenizer.is_dir():
            for file in tokenizer.iterdir():
                if file.is_file() and not (model / file.name).exists():
                    shutil.copy2(file, model / file.name)
            return model
    raise ConfigError(f"{root}: the mlflow.transformers model has no tokenizer component")
