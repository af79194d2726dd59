"""The manifests agree with the code they deploy: queue names, prefetch, ports, probe paths,
drain timeout, placement, egress, metrics. Checked on the rendered overlays."""

from __future__ import annotations

import ipaddress
import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry

from mtq.core.health import HealthServer
from mtq.core.settings import Settings
from mtq.core.topology import RESULTS_QUEUE, job_queue
from mtq.tools import plan
from mtq.tools.plan_sim import rules_from_scaledobject
from mtq.tools.route_scaling import job_queues_regex, matched_queues
from tests.deploy.manifests import OVERLAYS, Manifest, config, container, find, render

DEPLOYMENTS = ("mtq-worker", "mtq-dispatcher")


def settings_of(folder: str) -> Settings:
    return Settings.from_env(config(render(folder)))


def pod_spec(deployment: Manifest) -> Manifest:
    spec: Manifest = deployment["spec"]["template"]["spec"]
    return spec


@pytest.mark.parametrize("folder", OVERLAYS)
def test_configmap_holds_valid_settings(folder: str) -> None:
    """Every MTQ_* key is a setting mtq reads (no typos), and mtq accepts every value."""
    fields = {f"MTQ_{name.upper()}" for name in Settings.model_fields}
    keys = {k for k in config(render(folder)) if k.startswith("MTQ_")}
    assert keys - fields == set()
    settings_of(folder)


@pytest.mark.parametrize("folder", OVERLAYS)
def test_worker_scaledobject_follows_topology_and_prefetch(folder: str) -> None:
    docs = render(folder)
    settings = settings_of(folder)
    spec = find(docs, "ScaledObject", "mtq-worker")["spec"]
    assert spec["scaleTargetRef"]["name"] == "mtq-worker"
    find(docs, "Deployment", "mtq-worker")
    # One trigger on the sum of every route's job queue (mtq/tools/route_scaling.py).
    (jobs,) = spec["triggers"]
    assert jobs["metadata"]["queueName"] == job_queues_regex(settings.routes)
    assert matched_queues(jobs["metadata"], [job_queue(r) for r in settings.routes]) == [
        job_queue(r) for r in settings.routes
    ]
    assert jobs["metadata"]["useRegex"] == "true"
    assert jobs["metadata"]["operation"] == "sum"
    assert int(jobs["metadata"]["pageSize"]) >= len(settings.routes)
    for trigger in spec["triggers"]:
        meta = trigger["metadata"]
        assert trigger["type"] == "rabbitmq"
        # http: the management API's `messages` (ready + unacked); amqp sees ready only.
        assert meta["protocol"] == "http"
        assert meta["mode"] == "QueueLength"
        assert meta.get("excludeUnacknowledged", "false") == "false"
        assert meta["vhostName"] == "/"
        assert float(meta["value"]) == settings.prefetch
        assert float(meta["activationValue"]) >= 0
    assert spec["minReplicaCount"] == 0
    assert spec["maxReplicaCount"] >= 1
    assert spec["fallback"]["replicas"] >= 1
    assert spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"][
        "stabilizationWindowSeconds"] > 0


@pytest.mark.parametrize("folder", OVERLAYS)
def test_dispatcher_scaledobject_reads_the_results_queue(folder: str) -> None:
    docs = render(folder)
    settings = settings_of(folder)
    spec = find(docs, "ScaledObject", "mtq-dispatcher")["spec"]
    assert spec["scaleTargetRef"]["name"] == "mtq-dispatcher"
    (trigger,) = spec["triggers"]
    assert trigger["metadata"]["queueName"] == RESULTS_QUEUE
    assert trigger["metadata"]["protocol"] == "http"
    assert float(trigger["metadata"]["value"]) == settings.dispatcher_prefetch


@pytest.mark.parametrize("folder", OVERLAYS)
@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_probes_and_ports_match_the_process(folder: str, name: str) -> None:
    docs = render(folder)
    settings = settings_of(folder)
    deployment = find(docs, "Deployment", name)
    box = container(deployment)
    ports = {p["name"]: p["containerPort"] for p in box["ports"]}
    assert ports["metrics"] == settings.metrics_port
    paths = {}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = box[probe]["httpGet"]
        port = ports[get["port"]] if isinstance(get["port"], str) else get["port"]
        assert port == settings.metrics_port
        paths[probe] = get["path"]
    assert paths == {
        "startupProbe": "/healthz", "readinessProbe": "/readyz", "livenessProbe": "/healthz"
    }
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(settings.metrics_port)
    assert box["envFrom"][0]["configMapRef"]["name"].startswith("mtq-config-")
    secret_env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in box["env"]}
    assert secret_env["MTQ_AMQP_URL"]["name"] == "mtq-secrets"


def test_probe_paths_are_served_by_mtq_health() -> None:
    """The paths the manifests probe are the ones mtq.core.health answers, with the right status."""
    box = container(find(render("overlays/gpu"), "Deployment", "mtq-worker"))
    state = {"alive": True, "ready": False}
    server = HealthServer(
        0, CollectorRegistry(), liveness={"alive": lambda: state["alive"]},
        readiness={"ready": lambda: state["ready"]}, host="127.0.0.1",
    )
    server.start()
    try:
        def status(probe: str) -> int:
            url = f"http://127.0.0.1:{server.port}{box[probe]['httpGet']['path']}"
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    return int(response.status)
            except urllib.error.HTTPError as exc:
                return exc.code

        assert status("livenessProbe") == 200
        assert status("startupProbe") == 200
        assert status("readinessProbe") == 503
        state["ready"] = True
        assert status("readinessProbe") == 200
        state["alive"] = False
        assert status("livenessProbe") == 503
    finally:
        server.stop()


@pytest.mark.parametrize("folder", OVERLAYS)
@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_grace_period_covers_the_drain(folder: str, name: str) -> None:
    settings = settings_of(folder)
    grace = pod_spec(find(render(folder), "Deployment", name))["terminationGracePeriodSeconds"]
    assert grace >= plan.grace_period_s(settings.drain_timeout_s)
    assert grace >= settings.drain_timeout_s + 15


@pytest.mark.parametrize("folder", OVERLAYS)
def test_startup_probe_leaves_time_to_load_the_model(folder: str) -> None:
    probe = container(find(render(folder), "Deployment", "mtq-worker"))["startupProbe"]
    assert probe["periodSeconds"] * probe["failureThreshold"] >= 300


@pytest.mark.parametrize("folder", OVERLAYS)
@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_rolling_update_keeps_capacity(folder: str, name: str) -> None:
    spec = find(render(folder), "Deployment", name)["spec"]
    assert "replicas" not in spec, "KEDA owns the replica count"
    rolling = spec["strategy"]["rollingUpdate"]
    assert rolling["maxUnavailable"] == 0
    assert rolling["maxSurge"] >= 1


@pytest.mark.parametrize("folder", OVERLAYS)
def test_selectors_match_pods(folder: str) -> None:
    docs = render(folder)
    for name in DEPLOYMENTS:
        deployment = find(docs, "Deployment", name)
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
        budget = find(docs, "PodDisruptionBudget", name)
        assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    policy = find(docs, "NetworkPolicy", "mtq-dispatcher-egress")
    labels = find(docs, "Deployment", "mtq-dispatcher")["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()


def test_gpu_overlay_places_workers_on_the_tainted_pool() -> None:
    docs = render("overlays/gpu")
    spec = pod_spec(find(docs, "Deployment", "mtq-worker"))
    assert container(find(docs, "Deployment", "mtq-worker"))["resources"]["limits"][
        "nvidia.com/gpu"] == 1
    (toleration,) = spec["tolerations"]
    assert toleration["effect"] == "NoSchedule" and toleration["operator"] == "Equal"
    (term,) = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"]
    (expression,) = term["matchExpressions"]
    # The pool is tainted and labelled with the same key=value (the seed's purpose=ml).
    assert (expression["key"], expression["operator"]) == (toleration["key"], "In")
    assert expression["values"] == [toleration["value"]]
    assert settings_of("overlays/gpu").device == "cuda"
    dispatcher = pod_spec(find(docs, "Deployment", "mtq-dispatcher"))
    assert "tolerations" not in dispatcher, "the dispatcher must not take GPU nodes"


def test_cpu_overlay_asks_for_no_gpu() -> None:
    docs = render("overlays/cpu")
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job"):
            spec = doc["spec"]["template"]["spec"]
            assert "tolerations" not in spec and "affinity" not in spec
            for box in spec["containers"]:
                assert "nvidia.com/gpu" not in box.get("resources", {}).get("limits", {})
    assert settings_of("overlays/cpu").device == "cpu"


@pytest.mark.parametrize("folder", OVERLAYS)
def test_topology_job_declares_with_the_same_settings(folder: str) -> None:
    docs = render(folder)
    job = find(docs, "Job", "mtq-topology")
    box = job["spec"]["template"]["spec"]["containers"][0]
    assert box["args"] == ["topology"]
    worker = container(find(docs, "Deployment", "mtq-worker"))
    assert box["envFrom"] == worker["envFrom"]
    assert box["image"] == worker["image"]


# -- dispatcher egress -------------------------------------------------------------------------


def _egress_allows(policy: Manifest, address: str, port: int) -> bool:
    """Whether an ipBlock rule lets the dispatcher reach ``address:port`` (TCP)."""
    ip = ipaddress.ip_address(address)
    for rule in policy["spec"]["egress"]:
        ports = {(p.get("protocol", "TCP"), p["port"]) for p in rule.get("ports", [])}
        if ports and ("TCP", port) not in ports:
            continue
        for peer in rule.get("to", []):
            block = peer.get("ipBlock")
            if block is None:
                continue
            network = ipaddress.ip_network(block["cidr"])
            if ip.version != network.version or ip not in network:
                continue
            excepted = [ipaddress.ip_network(c) for c in block.get("except", [])]
            if not any(ip in net for net in excepted):
                return True
    return False


PRIVATE = ("10.0.0.1", "172.16.5.4", "192.168.1.1", "127.0.0.1", "169.254.169.254",
           "100.64.0.1", "0.0.0.0", "fd00::1", "fe80::1", "::1")
PUBLIC = ("93.184.216.34", "8.8.8.8", "2606:4700::1111")


@pytest.mark.parametrize("folder", OVERLAYS)
def test_dispatcher_egress_denies_private_ranges(folder: str) -> None:
    docs = render(folder)
    policy = find(docs, "NetworkPolicy", "mtq-dispatcher-egress")
    settings = settings_of(folder)
    assert policy["spec"]["policyTypes"] == ["Egress"]
    for port in settings.webhook_allow_ports:
        for address in PUBLIC:
            assert _egress_allows(policy, address, port), (address, port)
        for address in PRIVATE:
            if not any(ipaddress.ip_address(address) in ipaddress.ip_network(n, strict=False)
                       for n in settings.webhook_allow_networks):
                assert not _egress_allows(policy, address, port), (address, port)
    assert not _egress_allows(policy, "93.184.216.34", 22)
    # Networks the dispatcher is told to allow must be reachable through the policy too.
    for cidr in settings.webhook_allow_networks:
        first = next(ipaddress.ip_network(cidr, strict=False).hosts())
        assert _egress_allows(policy, str(first), settings.webhook_allow_ports[0]), cidr
    dns = [r for r in policy["spec"]["egress"]
           if {"protocol": "UDP", "port": 53} in r.get("ports", [])]
    assert dns, "DNS must stay reachable"
    broker_ports = {p["port"] for r in policy["spec"]["egress"] for p in r.get("ports", [])}
    assert 5672 in broker_ports


# -- KEDA numbers vs `mtq plan` ----------------------------------------------------------------


def test_plan_simulates_the_deployed_scaledobject() -> None:
    """`mtq plan` simulates the behaviour the worker's ScaledObject really has."""
    rules = rules_from_scaledobject(find(render("overlays/gpu"), "ScaledObject", "mtq-worker"))
    settings = settings_of("overlays/gpu")
    assert rules.value == settings.prefetch
    assert rules.polling_interval_s == plan.POLLING_INTERVAL_S
    assert rules.scale_down_window_s == plan.SCALE_DOWN_WINDOW_S
    assert rules.scale_up == plan.SCALE_UP
    assert rules.scale_down == plan.SCALE_DOWN


@pytest.mark.parametrize("folder", OVERLAYS)
def test_writable_tmp_under_a_read_only_root(folder: str) -> None:
    """The image puts HOME and every cache under /tmp; the root filesystem is read-only."""
    for doc in render(folder):
        if doc["kind"] in ("Deployment", "Job"):
            for box in doc["spec"]["template"]["spec"]["containers"]:
                assert box["securityContext"]["readOnlyRootFilesystem"] is True
                assert "/tmp" in {m["mountPath"] for m in box["volumeMounts"]}


def test_mounted_model_lands_where_mtq_model_points() -> None:
    docs = render("overlays/gpu-model-pvc")
    mounts = {m["mountPath"]: m for m in container(find(docs, "Deployment", "mtq-worker"))[
        "volumeMounts"]}
    assert mounts[settings_of("overlays/gpu-model-pvc").model]["readOnly"] is True
    assert "/tmp" in mounts
