"""A private three-node RabbitMQ cluster on this machine, started and torn down by the tests.

Each node gets its own name (``mtqc<n>-<tag>@localhost``), AMQP port, distribution port,
data and log folders under one temporary directory, and the cluster its own Erlang cookie
(``HOME`` points into that directory). The CLI tools get their own distribution port range.
Nothing here touches the machine's own broker (``rabbit@...`` on 5672/15672/25672) or its
configuration: ``RABBITMQ_CONF_ENV_FILE``, the config files and the plugins file are ours.

A node runs in the foreground of its own process group, so ``kill`` is a real ``kill -9`` of
the whole Erlang VM. ``stop_app``/``start_app`` stop and start the RabbitMQ application while
the VM stays up (the way an operator takes a node out for maintenance).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

SBIN_CANDIDATES = ("/usr/lib/rabbitmq/bin", "/usr/lib/rabbitmq/sbin")
BOOT_TIMEOUT_S = 180


class ClusterError(RuntimeError):
    """The private cluster could not be started or driven (the message says what and where)."""


def sbin_dir() -> Path:
    """Where ``rabbitmq-server`` and ``rabbitmqctl`` are (not the distro's wrapper, which
    switches to the ``rabbitmq`` user and its cookie)."""
    override = os.environ.get("MTQ_TEST_RABBITMQ_SBIN")
    candidates = [override] if override else list(SBIN_CANDIDATES)
    found = shutil.which("rabbitmq-server")
    if found and not override:
        candidates.append(str(Path(found).resolve().parent))
    for candidate in candidates:
        if candidate and (Path(candidate) / "rabbitmq-server").exists():
            return Path(candidate)
    raise ClusterError(
        "rabbitmq-server is not installed (looked in "
        f"{', '.join(c for c in candidates if c)}); set MTQ_TEST_RABBITMQ_SBIN"
    )


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int, low: int = 40000, high: int = 52000) -> list[int]:
    """``count`` ports free on loopback, away from RabbitMQ's defaults and their CLI range."""
    rng = secrets.SystemRandom()
    chosen: list[int] = []
    while len(chosen) < count:
        port = rng.randrange(low, high)
        if port not in chosen and _port_free(port):
            chosen.append(port)
    return chosen


@dataclass
class Node:
    name: str
    amqp_port: int
    dist_port: int
    base: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def nodename(self) -> str:
        return f"{self.name}@localhost"

    def url(self, vhost: str = "/") -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/{quote(vhost, safe='')}"

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class RabbitCluster:
    """``size`` RabbitMQ nodes clustered together; use as a context manager."""

    root: Path
    size: int = 3
    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    nodes: list[Node] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sbin = sbin_dir()
        ports = free_ports(2 * self.size + 1)
        self.ctl_port = ports.pop()
        self.home = self.root / "home"
        self.cookie = secrets.token_hex(16).upper()
        self.nodes = [
            Node(f"mtqc{n + 1}-{self.tag}", ports[2 * n], ports[2 * n + 1],
                 self.root / f"mtqc{n + 1}")
            for n in range(self.size)
        ]

    # -- environment -----------------------------------------------------------------------

    def _base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("RABBITMQ_", "ERL_", "MTQ_"))}
        env.update({
            "HOME": str(self.home),
            "RABBITMQ_CONF_ENV_FILE": str(self.root / "rabbitmq-env.conf"),
            "RABBITMQ_CTL_DIST_PORT_MIN": str(self.ctl_port),
            "RABBITMQ_CTL_DIST_PORT_MAX": str(self.ctl_port + 10),
        })
        return env

    def _node_env(self, node: Node) -> dict[str, str]:
        return {
            **self._base_env(),
            "RABBITMQ_NODENAME": node.nodename,
            "RABBITMQ_DIST_PORT": str(node.dist_port),
            "RABBITMQ_MNESIA_BASE": str(node.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(node.base / "log"),
            "RABBITMQ_PLUGINS_EXPAND_DIR": str(node.base / "plugins-expand"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(node.base / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(node.base / "advanced.config"),
            # Three VMs share a small machine: fewer schedulers, no busy-waiting.
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "+S 2:2 +sbwt none +sbwtdcpu none +sbwtdio none",
        }

    def _write_files(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        cookie = self.home / ".erlang.cookie"
        cookie.write_text(self.cookie)
        cookie.chmod(0o400)
        (self.root / "rabbitmq-env.conf").write_text("")
        (self.root / "enabled_plugins").write_text("[].\n")
        for node in self.nodes:
            node.base.mkdir(parents=True, exist_ok=True)
            (node.base / "rabbitmq.conf").write_text(
                f"listeners.tcp.default = 127.0.0.1:{node.amqp_port}\n"
                "disk_free_limit.absolute = 50MB\n"
                "log.file.level = info\n"
            )

    # -- control ---------------------------------------------------------------------------

    def ctl(self, node: Node, *args: str, timeout: float = 120, check: bool = True) -> str:
        """``rabbitmqctl -n <node> ...``; ClusterError with its output when it fails."""
        result = subprocess.run(
            [str(self.sbin / "rabbitmqctl"), "-q", "-n", node.nodename, *args],
            env=self._base_env(), capture_output=True, text=True, timeout=timeout, check=False,
        )
        if check and result.returncode != 0:
            raise ClusterError(f"rabbitmqctl -n {node.nodename} {' '.join(args)}: "
                               f"{(result.stderr or result.stdout).strip()[-2000:]}"
                               f"\n{self.log_tail(node)}")
        return result.stdout

    def spawn(self, node: Node) -> None:
        """Start the node's VM in the foreground of a new process group."""
        out = (node.base / "console.log").open("ab")
        node.process = subprocess.Popen(
            [str(self.sbin / "rabbitmq-server")], env=self._node_env(node),
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=node.base,
        )
        out.close()

    def await_running(self, node: Node, timeout: float = BOOT_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if not node.alive():
                raise ClusterError(f"{node.nodename} exited while booting\n{self.log_tail(node)}")
            # await_startup fails at once while the VM is not registered yet, else it waits.
            result = subprocess.run(
                [str(self.sbin / "rabbitmqctl"), "-q", "-n", node.nodename, "await_startup",
                 "--timeout", "60"],
                env=self._base_env(), capture_output=True, text=True, timeout=90, check=False,
            )
            if result.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise ClusterError(f"{node.nodename} did not boot within {timeout:.0f}s: "
                                   f"{result.stderr.strip()[-500:]}\n{self.log_tail(node)}")
            time.sleep(1)

    def start(self) -> None:
        """Boot every node, then join nodes 2..n to node 1."""
        self._write_files()
        for node in self.nodes:
            self.spawn(node)
        for node in self.nodes:
            self.await_running(node)
        first = self.nodes[0]
        for node in self.nodes[1:]:
            self.ctl(node, "stop_app")
            self.ctl(node, "join_cluster", first.nodename)
            self.ctl(node, "start_app")
        self.await_members(self.nodes)

    def await_members(self, nodes: Iterable[Node], timeout: float = 120) -> None:
        """Every node in ``nodes`` running and clustered, as node 1..n see it."""
        wanted = {node.nodename for node in nodes}
        deadline = time.monotonic() + timeout
        while True:
            running: set[str] = set()
            for node in self.nodes:
                if node.alive():
                    out = self.ctl(node, "cluster_status", "--formatter", "json", check=False)
                    try:
                        running = set(json.loads(out).get("running_nodes", []))
                    except ValueError:
                        continue
                    break
            if wanted <= running:
                return
            if time.monotonic() > deadline:
                raise ClusterError(f"cluster members {sorted(running)}, wanted {sorted(wanted)}")
            time.sleep(1)

    def kill(self, node: Node) -> None:
        """``kill -9`` of the node's whole process group (VM, epmd client, port programs)."""
        if node.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(node.process.pid, signal.SIGKILL)
        node.process.wait(30)

    def restart(self, node: Node) -> None:
        """Start a killed node again on the same ports and data; wait until it rejoined."""
        self.spawn(node)
        self.await_running(node)
        self.await_members(self.nodes)

    def stop_app(self, node: Node) -> None:
        self.ctl(node, "stop_app")

    def start_app(self, node: Node) -> None:
        self.ctl(node, "start_app")
        self.await_members(self.nodes)

    # -- inspection ------------------------------------------------------------------------

    def by_name(self, nodename: str) -> Node:
        for node in self.nodes:
            if node.nodename == nodename:
                return node
        raise ClusterError(f"{nodename} is not a node of this cluster")

    def leader(self, queue: str, vhost: str = "/") -> Node:
        """The node that leads quorum queue ``queue`` now."""
        for node in self.nodes:
            if not node.alive():
                continue
            out = self.ctl(node, "list_queues", "-p", vhost, "name", "leader",
                           "--formatter", "json", check=False)
            try:
                rows = json.loads(out or "[]")
            except ValueError:
                continue
            for row in rows:
                if row.get("name") == queue and row.get("leader"):
                    return self.by_name(str(row["leader"]))
        raise ClusterError(f"no node reports a leader for {queue}")

    def connections(self, node: Node) -> list[str]:
        """Names of the client connections on ``node`` (mtq names them after the process)."""
        # list_connections answers for the whole cluster: keep the rows of this node's port.
        out = self.ctl(node, "list_connections", "port", "client_properties",
                       "--formatter", "json", check=False)
        try:
            rows = json.loads(out or "[]")
        except ValueError:
            return []
        names = []
        for row in rows:
            if row.get("port") != node.amqp_port:
                continue
            props = row.get("client_properties") or []
            for item in props:
                if isinstance(item, list) and item and item[0] == "connection_name":
                    names.append(str(item[-1]))
        return names

    def urls(self, vhost: str = "/") -> list[str]:
        return [node.url(vhost) for node in self.nodes]

    def log_tail(self, node: Node, lines: int = 25) -> str:
        logs = [*sorted((node.base / "log").glob("*.log")), node.base / "console.log"]
        text = []
        for path in logs:
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                text.append(f"--- {path.name} ---\n" + "\n".join(tail))
        return "\n".join(text)

    # -- lifetime --------------------------------------------------------------------------

    def close(self) -> None:
        for node in self.nodes:
            self.kill(node)

    def __enter__(self) -> RabbitCluster:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
