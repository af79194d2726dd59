"""The local cache of registry versions: ``<cache>/<name>/<version>/hf`` (and ``/ct2``).

A version's artifacts are downloaded once, into a staging folder that is renamed into place
when complete, so a worker killed mid-download never leaves a half folder that looks whole.
Versions are immutable in MLflow, so a folder that exists is the version's, whatever the
alias does later. The CTranslate2 engine converts a version once (``ct2/``, weights kept in
their stored precision; ``MTQ_COMPUTE_TYPE`` applies when it loads).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from mtq.core.errors import ConfigError
from worker.engines.conversion import CONVERSION_FILE, Conversion
from worker.registry.client import Registry, Version
from worker.registry.layout import hf_folder

log = logging.getLogger(__name__)


def default_cache() -> Path:
    return Path.home() / ".cache" / "mtq" / "registry"


class VersionStore:
    """Local folders of registry versions under ``root``."""

    def __init__(self, registry: Registry, root: Path) -> None:
        self._registry = registry
        self.root = root

    @property
    def registry(self) -> Registry:
        return self._registry

    def folder(self, version: Version) -> Path:
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", version.name)
        return self.root / safe / version.version

    def hf(self, version: Version) -> Path:
        """The version as a HF folder, downloaded the first time."""
        final = self.folder(version) / "hf"
        if final.is_dir():
            return final
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".download.", dir=final.parent))
        try:
            started = time.monotonic()
            root = self._registry.download(version, staging / "artifacts")
            shutil.move(str(hf_folder(root)), str(staging / "hf"))
            _rename_into_place(staging / "hf", final)
            log.info("downloaded models:/%s/%s in %.1f s", version.name, version.version,
                     time.monotonic() - started)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return final

    def ct2(self, version: Version) -> Path:
        """The version converted for CTranslate2, converted the first time."""
        final = self.folder(version) / "ct2"
        if final.is_dir():
            return final
        source = self.hf(version)
        staging = Path(tempfile.mkdtemp(prefix=".convert.", dir=final.parent))
        try:
            _convert(source, staging / "ct2", version)
            _rename_into_place(staging / "ct2", final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return final


def _rename_into_place(staging: Path, final: Path) -> None:
    try:
        staging.rename(final)
    except OSError:
        if not final.is_dir():  # another worker on the same volume got there first: fine
            raise


def _convert(source: Path, destination: Path, version: Version) -> None:
    try:
        import ctranslate2
        from ctranslate2.converters import TransformersConverter
        from transformers import AutoConfig, AutoTokenizer
    except ImportError as exc:
        raise ConfigError(f"MTQ_ENGINE=ctranslate2 needs ctranslate2 ({exc})") from exc
    started = time.monotonic()
    try:
        TransformersConverter(str(source)).convert(str(destination), force=True)
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
        config = AutoConfig.from_pretrained(source, local_files_only=True)
    except (OSError, ValueError, NotImplementedError) as exc:
        raise ConfigError(f"cannot convert models:/{version.name}/{version.version}: {exc}") \
            from exc
    tokenizer.save_pretrained(destination)
    if (source / "generation_config.json").is_file():
        shutil.copy2(source / "generation_config.json", destination / "generation_config.json")
    limit = getattr(config, "max_position_embeddings", None) or 512
    record = Conversion(
        source=f"models:/{version.name}/{version.version}",
        architecture=str((config.architectures or ["?"])[0]), quantization="",
        max_source_tokens=int(min(limit, tokenizer.model_max_length or limit)),
        ctranslate2_version=str(ctranslate2.__version__),
        seconds=round(time.monotonic() - started, 3),
    )
    (destination / CONVERSION_FILE).write_text(json.dumps(asdict(record), indent=2) + "\n",
                                               encoding="utf-8")
    log.info("converted models:/%s/%s for CTranslate2 in %.1f s", version.name,
             version.version, record.seconds)
