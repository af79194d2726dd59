"""The gateway's Deployment and Service agree with the code: its settings parse, the port the
probes, Service and scrape annotations use is the one it listens on, and the grace period
covers the longest request."""

from __future__ import annotations

import pytest

from gateway.settings import GatewaySettings
from tests.deploy.manifests import OVERLAYS, container, find, render


@pytest.mark.parametrize("folder", OVERLAYS)
def test_the_gateway_manifests_match_its_settings(folder: str) -> None:
    docs = render(folder)
    deployment = find(docs, "Deployment", "mtq-gateway")
    pod = deployment["spec"]["template"]
    main = container(deployment)
    assert main["name"] == "gateway"
    assert main["args"] == ["gateway"]
    env = {item["name"]: item["value"] for item in main["env"] if "value" in item}
    secrets = {item["name"] for item in main["env"] if "valueFrom" in item}
    assert secrets == {"MTQ_AMQP_URL", "MTQ_DATABASE_URL"}
    config = GatewaySettings.from_env(env)
    (port,) = main["ports"]
    assert port["containerPort"] == config.port
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(config.port)
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert pod["spec"]["terminationGracePeriodSeconds"] >= config.sync_timeout_s + 5
    assert "tolerations" not in pod["spec"], "the gateway must not take GPU nodes"
    service = find(docs, "Service", "mtq-gateway")
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert service["spec"]["ports"][0]["targetPort"] == port["name"]
