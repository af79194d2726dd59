"""Two registered versions of one model that translate differently, and what each says.

Version 1 is the trained test model (mtq/data/trained-pair); version 2 is the same model with
seeded noise on every weight matrix (half of each matrix's standard deviation), so it still
translates the synthetic pair but words about half of the sentences differently: a plausible
challenger. Both are logged as plain HF folders and registered from their runs. The
workload's sentences are the ones the two versions translate differently, so every
segment of a result names the version that produced it.
"""

from __future__ import annotations

import shutil
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mtq.core.contract import DecodeOptions
from mtq.core.settings import Settings
from mtq.tools.synth_pair import pairs
from mtq.tools.tiny_model import build_tiny_model

NOISE = 0.5  # of each weight matrix's standard deviation
NOISE_SEED = 7
BATCH = 16


@dataclass(frozen=True)
class Registered:
    url: str
    name: str
    folders: dict[str, Path]  # version -> its HF folder

    def move_alias(self, alias: str, version: str) -> None:
        from mlflow import MlflowClient

        MlflowClient(self.url, self.url).set_registered_model_alias(self.name, alias, version)


@dataclass(frozen=True)
class Sentences:
    """Sources both versions translate differently, and each version's translation."""

    sources: tuple[str, ...]
    by_version: dict[str, dict[str, str]]  # version -> source -> translation

    def version_of(self, source: str, translation: str) -> str | None:
        found = [v for v, table in self.by_version.items() if table.get(source) == translation]
        return found[0] if len(found) == 1 else None


def build_versions(folder: Path) -> dict[str, Path]:
    """Version 1 (the trained model) and version 2 (its noisy copy) as HF folders."""
    import torch
    from transformers import AutoModelForSeq2SeqLM

    v1 = build_tiny_model(folder / "v1", kind="trained")
    v2 = folder / "v2"
    shutil.copytree(v1, v2, dirs_exist_ok=True)
    model = AutoModelForSeq2SeqLM.from_pretrained(v1)
    generator = torch.Generator().manual_seed(NOISE_SEED)
    with torch.no_grad():
        for weight in model.parameters():
            if weight.dim() > 1:
                noise = torch.randn(weight.shape, generator=generator, dtype=torch.float32)
                weight.add_((noise * NOISE * weight.float().std()).to(weight.dtype))
    model.save_pretrained(v2)
    return {"1": v1, "2": v2}


def register(url: str, folders: dict[str, Path]) -> Registered:
    """Both folders registered as versions 1 and 2 of a new model ``bench-<id>``."""
    import mlflow
    from mlflow import MlflowClient

    name = f"bench-{uuid.uuid4().hex[:8]}"
    mlflow.set_tracking_uri(url)
    client = MlflowClient(url, url)
    client.create_registered_model(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for version in sorted(folders):
            with mlflow.start_run() as run:
                mlflow.log_artifacts(str(folders[version]), artifact_path="hf")
            created = client.create_model_version(name, source=f"runs:/{run.info.run_id}/hf",
                                                  run_id=run.info.run_id)
            assert str(created.version) == version, (created.version, version)
    return Registered(url, name, dict(folders))


def _translate(folder: Path, sources: Sequence[str], options: DecodeOptions,
               threads: int) -> list[str]:
    from worker.engines.hf import HFEngine

    engine = HFEngine(Settings(model=str(folder), torch_threads=threads))
    out: list[str] = []
    for start in range(0, len(sources), BATCH):
        batch = sources[start:start + BATCH]
        out += engine.decode(engine.generate(engine.encode(batch), options))
    return out


def differing_sentences(folders: dict[str, Path], count: int, options: DecodeOptions,
                        threads: int = 1) -> Sentences:
    """Up to ``count`` generated sources whose translations differ between the versions."""
    candidates = list(dict.fromkeys(p.source for p in pairs(3 * count, seed=27)))
    by_version = {v: dict(zip(candidates, _translate(f, candidates, options, threads),
                              strict=True)) for v, f in folders.items()}
    tables = list(by_version.values())
    differ = [s for s in candidates if len({t[s] for t in tables}) == len(tables)][:count]
    return Sentences(tuple(differ), {v: {s: t[s] for s in differ}
                                     for v, t in by_version.items()})
