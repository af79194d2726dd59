"""Every manifest renders with kustomize and validates: KEDA objects against the CRD schemas
(KEDA v2.20.2, in tests/deploy/schemas/keda), everything else against Kubernetes' own schemas."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import pytest
import yaml

from tests.deploy.manifests import (
    DEPLOY,
    KUBERNETES_VERSION,
    MONITORING,
    OVERLAYS,
    Manifest,
    find,
    keda_schema,
    render,
    unknown_keys,
)

KEDA_KINDS = {"ScaledObject", "ScaledJob", "TriggerAuthentication"}
# Custom resources of other projects: no schema ships offline; checked by hand below.
OTHER_CRDS = {"PodMonitor"}


def _all_rendered() -> list[tuple[str, Manifest]]:
    return [(folder, doc) for folder in (*OVERLAYS, MONITORING) for doc in render(folder)]


def _ids(items: list[tuple[str, Manifest]]) -> list[str]:
    return [f"{folder}:{doc['kind']}/{doc['metadata']['name']}" for folder, doc in items]


RENDERED = _all_rendered()


@pytest.mark.parametrize("folder", [*OVERLAYS, MONITORING, "base"])
def test_kustomize_renders(folder: str) -> None:
    docs = render(folder)
    assert docs, f"{folder} rendered nothing"
    if folder in OVERLAYS:
        assert {d["metadata"].get("namespace") for d in docs} == {"mtq"}


@pytest.mark.parametrize(("folder", "doc"), RENDERED, ids=_ids(RENDERED))
def test_manifest_validates(folder: str, doc: Manifest) -> None:
    kind = doc["kind"]
    if kind in KEDA_KINDS:
        assert doc["apiVersion"] == "keda.sh/v1alpha1"
        schema = keda_schema(kind)
        jsonschema.Draft7Validator(schema).validate(doc)
        assert list(unknown_keys(schema, doc)) == []
    elif kind in OTHER_CRDS:
        _check_podmonitor(doc)
    else:
        _validate_core(doc)


def _validate_core(doc: Manifest) -> None:
    try:
        import kubernetes_validate
    except ImportError:
        pytest.fail("kubernetes-validate missing: `.venv/bin/pip install kubernetes-validate`")
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {exc.message} at "
                    f"{'.'.join(str(p) for p in exc.absolute_path)}")


def _check_podmonitor(doc: Manifest) -> None:
    assert doc["apiVersion"] == "monitoring.coreos.com/v1"
    spec = doc["spec"]
    assert set(spec) <= {"selector", "podMetricsEndpoints", "namespaceSelector", "jobLabel"}
    assert spec["selector"]["matchLabels"]
    for endpoint in spec["podMetricsEndpoints"]:
        assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout", "relabelings"}


def test_validation_catches_a_misspelt_keda_field() -> None:
    """The checks above are not vacuous: a typo in a ScaledObject is reported."""
    doc = find(render("overlays/gpu"), "ScaledObject", "mtq-worker")
    broken: dict[str, Any] = json.loads(json.dumps(doc))
    broken["spec"]["coolDownPeriod"] = broken["spec"].pop("cooldownPeriod")
    assert list(unknown_keys(keda_schema("ScaledObject"), broken)) == [".spec.coolDownPeriod"]
    broken["spec"]["triggers"][0]["metadata"]["value"] = 16
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(keda_schema("ScaledObject")).validate(broken)


def test_validation_catches_a_misspelt_core_field() -> None:
    import kubernetes_validate

    doc = find(render("overlays/gpu"), "Deployment", "mtq-worker")
    broken: dict[str, Any] = json.loads(json.dumps(doc))
    broken["spec"]["template"]["spec"]["terminationGracePeriod"] = 90
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_no_credentials_in_manifests() -> None:
    """KEDA reads the management API's address and login from a Secret, never inline."""
    for folder in (*OVERLAYS, MONITORING):
        for doc in render(folder):
            assert doc["kind"] != "Secret", "Secrets are created out of band (docs/deploy.md)"
            if doc["kind"] == "ScaledObject":
                for trigger in doc["spec"]["triggers"]:
                    assert {"host", "username", "password"}.isdisjoint(trigger["metadata"])
                    assert trigger["authenticationRef"]["name"]
            login = re.search(r"[a-z]+://[^/\s@]+@", yaml.safe_dump(doc))
            assert login is None, f"{doc['metadata']['name']}: a URL with a login"
    auth = find(render("overlays/gpu"), "TriggerAuthentication", "mtq-rabbitmq-management")
    params = {ref["parameter"] for ref in auth["spec"]["secretTargetRef"]}
    assert params == {"host", "username", "password"}


def test_every_file_is_rendered() -> None:
    """No manifest in deploy/keda is left out of every kustomization."""
    listed: set[str] = set()
    for kustomization in DEPLOY.rglob("kustomization.yaml"):
        spec = yaml.safe_load(kustomization.read_text())
        for key in ("resources", "patchesStrategicMerge"):
            for entry in spec.get(key, []):
                listed.add(str((kustomization.parent / entry).resolve()))
        for generator in spec.get("configMapGenerator", []):
            for entry in generator.get("files", []):
                listed.add(str((kustomization.parent / entry.split("=")[-1]).resolve()))
    not_k8s = {"prometheus-scrape-config.yaml", "kustomization.yaml"}
    files = [
        p for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".json") and p.name not in not_k8s
    ]
    assert files
    assert [str(p) for p in files if str(p.resolve()) not in listed] == []
