"""Rendering and reading the Kubernetes manifests in deploy/keda for the deploy tests.

Tools are found, never assumed: a missing one fails the test with the command that installs
it (CI must have them; see docs/deploy.md, "Checking the manifests").
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy" / "keda"
# KEDA CRD schemas carried as test data (source, version and licence in its README).
KEDA_SCHEMAS = Path(__file__).resolve().parent / "schemas" / "keda"
KEDA_VERSION = "2.20.2"
OVERLAYS = ("overlays/gpu", "overlays/cpu", "overlays/gpu-model-pvc", "overlays/multilingual")
MONITORING = "monitoring"
# The oldest Kubernetes minor the manifests target (PDB unhealthyPodEvictionPolicy is GA).
KUBERNETES_VERSION = "1.31"

Manifest = dict[str, Any]


def tool(name: str, install: str) -> str:
    """Path of a command-line tool: the test venv's bin first, then PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} not found: install it with `{install}`")
    return found


def kubectl() -> str:
    return tool("kubectl", "apt-get install -y kubernetes-client")


@functools.cache
def render(folder: str) -> tuple[Manifest, ...]:
    """``kubectl kustomize deploy/keda/<folder>``, parsed."""
    result = subprocess.run(
        [kubectl(), "kustomize", str(DEPLOY / folder)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"kubectl kustomize {folder} failed:\n{result.stderr}")
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def find(docs: tuple[Manifest, ...], kind: str, name: str) -> Manifest:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def config(docs: tuple[Manifest, ...]) -> dict[str, str]:
    """The data of the generated ``mtq-config-<hash>`` ConfigMap."""
    (cm,) = [
        d for d in docs
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("mtq-config-")
    ]
    return {key: value or "" for key, value in cm.get("data", {}).items()}


def container(deployment: Manifest) -> Manifest:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    result: Manifest = only
    return result


def keda_schema(kind: str) -> dict[str, Any]:
    path = KEDA_SCHEMAS / f"{kind.lower()}.json"
    if not path.exists():
        pytest.fail(f"no KEDA {KEDA_VERSION} schema for {kind} in {KEDA_SCHEMAS}")
    schema: dict[str, Any] = json.loads(path.read_text())
    return schema


def unknown_keys(schema: Mapping[str, Any], value: Any, where: str = "") -> Iterator[str]:
    """Keys the (non-strict) CRD schema does not declare: typos such as ``coolDownPeriod``.

    A CRD's structural schema prunes unknown fields silently, so a misspelt field would be
    accepted by the API server and then ignored; draft-07 validation alone would not see it.
    """
    if isinstance(value, dict) and schema.get("type") == "object":
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if properties is not None and key in properties:
                yield from unknown_keys(properties[key], item, f"{where}.{key}")
            elif isinstance(extra, dict):
                yield from unknown_keys(extra, item, f"{where}.{key}")
            elif properties is not None and not schema.get("x-kubernetes-preserve-unknown-fields"):
                yield f"{where}.{key}"
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            yield from unknown_keys(schema["items"], item, f"{where}[{index}]")
