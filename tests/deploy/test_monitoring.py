"""The PodMonitor, the plain scrape config and the Grafana dashboard agree with the pods and
with the metrics mtq really exports."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml
from prometheus_client import CollectorRegistry, generate_latest

from tests.deploy.manifests import DEPLOY, container, find, render

DASHBOARD = DEPLOY / "monitoring" / "grafana-dashboard.json"
DEPLOYMENTS = ("mtq-worker", "mtq-dispatcher")


def _dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def _constants() -> dict[str, str]:
    return {
        v["name"]: v["query"] for v in _dashboard()["templating"]["list"]
        if v["type"] == "constant"
    }


def _exprs() -> list[str]:
    return [
        target["expr"] for panel in _dashboard()["panels"] for target in panel.get("targets", [])
    ]


def _exported_names() -> set[str]:
    """Metric family names that the worker and the dispatcher register."""
    from webhooks.metrics import DispatcherMetrics
    from worker.metrics import WorkerMetrics

    registry = CollectorRegistry()
    WorkerMetrics(registry)
    text = (generate_latest(registry) + generate_latest(DispatcherMetrics().registry)).decode()
    return set(re.findall(r"^# TYPE (\S+) ", text, re.MULTILINE))


def test_podmonitor_scrapes_the_metrics_port() -> None:
    monitor = find(render("monitoring"), "PodMonitor", "mtq")
    overlay = render("overlays/gpu")
    for name in DEPLOYMENTS:
        deployment = find(overlay, "Deployment", name)
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
        port_names = {p["name"] for p in container(deployment)["ports"]}
        for endpoint in monitor["spec"]["podMetricsEndpoints"]:
            assert endpoint["port"] in port_names
            assert endpoint["path"] == "/metrics"
    dashboard = find(render("monitoring"), "ConfigMap", "mtq-grafana-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["mtq-dashboard.json"]) == _dashboard()


def test_plain_scrape_config_keeps_mtq_pods() -> None:
    (job,) = yaml.safe_load((DEPLOY / "monitoring" / "prometheus-scrape-config.yaml").read_text())
    keeps = {
        rule["source_labels"][0]: rule["regex"]
        for rule in job["relabel_configs"] if rule.get("action") == "keep"
    }
    deployment = find(render("overlays/gpu"), "Deployment", "mtq-worker")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert keeps["__meta_kubernetes_pod_label_app_kubernetes_io_part_of"] == labels[
        "app.kubernetes.io/part-of"]
    assert keeps["__meta_kubernetes_pod_container_port_name"] in {
        p["name"] for p in container(deployment)["ports"]
    }


def test_dashboard_metric_names_live_in_one_place() -> None:
    """Queries name metrics only through the hidden constants m_* (mtq) and ext_* (others)."""
    constants = _constants()
    assert constants, "metric names belong in the dashboard's constant variables"
    for name, metric in constants.items():
        assert name.startswith(("m_", "ext_")), name
        if name.startswith("m_"):
            assert metric.startswith("mtq_"), (name, metric)
    defined = {v["name"] for v in _dashboard()["templating"]["list"]}
    for expr in _exprs():
        assert set(re.findall(r"\$\{(\w+)\}", expr)) <= defined, expr
        without_vars = re.sub(r"\$\{\w+\}|\$__\w+|\$\w+", "", expr)
        assert "mtq_" not in without_vars, f"metric name written out in {expr!r}"
    used = {v for expr in _exprs() for v in re.findall(r"\$\{(m_\w+)\}", expr)}
    assert used == {n for n in constants if n.startswith("m_")}, "unused metric constants"


def test_dashboard_metrics_are_exported_by_mtq() -> None:
    exported = _exported_names()
    missing = {
        metric for name, metric in _constants().items()
        if name.startswith("m_") and metric not in exported
    }
    assert missing == set(), f"dashboard metrics that mtq does not export: {sorted(missing)}"


def test_dashboard_panels_have_ids_and_queries() -> None:
    panels = _dashboard()["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        if panel["type"] != "row":
            assert panel["targets"], panel["title"]
            assert panel["datasource"]["uid"] == "${datasource}"
