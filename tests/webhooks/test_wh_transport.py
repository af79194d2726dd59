"""The pinned HTTP POST against real loopback servers: redirects, caps, timeouts, TLS."""

from __future__ import annotations

import ipaddress
import os
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mtq.core.callback_policy import NetworkPolicy
from tests.webhooks.whtest import Behaviour, Endpoint, Reply, endpoint
from webhooks.http.ssrf import Destination, resolve_destination
from webhooks.http.transport import HttpLimits, post

LOOPBACK_ONLY = (ipaddress.ip_network("127.0.0.1/32"),)
FAST = HttpLimits(connect_timeout_s=0.5, total_timeout_s=1.0, max_response_bytes=64 * 1024)


def pinned(url: str, port: int, name: str = "hooks.example.com") -> Destination:
    """Resolve ``name`` to 127.0.0.1 through a stub, under a loopback exemption."""
    policy = NetworkPolicy(allow_networks=LOOPBACK_ONLY, allow_ports=frozenset({port}))
    return resolve_destination(url, policy, lambda host, _port: ["127.0.0.1"]
                               if host == name else [])


def reply(**kwargs: Any) -> Behaviour:
    return lambda _seen, _n: Reply(**kwargs)


async def test_connects_to_pinned_address_with_original_host_header() -> None:
    with endpoint() as server:
        destination = pinned(f"http://hooks.example.com:{server.port}/in?x=1", server.port)
        assert destination.address == "127.0.0.1"
        result = await post(destination, b'{"a":1}', {"webhook-id": "msg_1"}, FAST)
        assert result.status == 200
        [seen] = server.seen()
        assert seen.headers["host"] == f"hooks.example.com:{server.port}"
        assert seen.path == "/in?x=1"
        assert seen.body == b'{"a":1}' and seen.headers["webhook-id"] == "msg_1"


async def test_redirects_are_never_followed() -> None:
    with endpoint("127.0.0.2") as internal:
        location = f"http://127.0.0.2:{internal.port}/admin"
        with endpoint(behaviour=reply(status=302, headers={"Location": location})) as server:
            result = await post(pinned(f"http://hooks.example.com:{server.port}/", server.port),
                          b"{}", {}, FAST)
        assert result.status == 302
        assert result.error.startswith("HTTP 302")
        assert internal.seen() == []


async def test_huge_response_body_is_capped() -> None:
    # 2 GB announced by streaming; we read 64 KiB and hang up.
    with endpoint(behaviour=reply(status=200, stream_bytes=2 * 1024**3)) as server:
        result = await post(pinned(f"http://hooks.example.com:{server.port}/", server.port),
                      b"{}", {}, FAST)
        assert result.status == 200
        assert len(result.body) <= FAST.max_response_bytes


async def test_huge_error_body_is_capped_in_the_error() -> None:
    with endpoint(behaviour=reply(status=500, stream_bytes=100 * 1024**2)) as server:
        result = await post(pinned(f"http://hooks.example.com:{server.port}/", server.port),
                      b"{}", {}, FAST)
        assert result.status == 500
        assert len(result.body) <= FAST.max_response_bytes


async def test_slow_endpoint_times_out() -> None:
    with endpoint(behaviour=reply(delay_s=5)) as server:
        result = await post(pinned(f"http://hooks.example.com:{server.port}/", server.port),
                      b"{}", {}, FAST)
        assert result.status is None and result.timed_out


async def test_dripping_body_cannot_outlast_the_total_timeout() -> None:
    drip = reply(status=200, stream_bytes=10_000, chunk=10, drip_s=0.1)
    with endpoint(behaviour=drip) as server:
        result = await post(pinned(f"http://hooks.example.com:{server.port}/", server.port),
                      b"{}", {}, FAST)
        # 10,000 bytes at 10 per 0.1 s would take 100 s: the total timeout cut it short.
        assert result.status == 200
        assert len(result.body) < 10_000


async def test_connection_refused_is_reported() -> None:
    server = Endpoint()
    port = server.port
    server.stop()
    result = await post(pinned(f"http://hooks.example.com:{port}/", port), b"{}", {}, FAST)
    assert result.status is None and not result.timed_out
    assert "refused" in result.error.lower()


# --- TLS: SNI and certificate checks use the original name, the socket the pinned IP -------


@dataclass(frozen=True)
class Pki:
    ca: Path
    cert: Path
    key: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("pki")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-keyout", "ca.key",
        "-out", "ca.pem", "-subj", "/CN=mtq test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr",
        "-subj", "/CN=hooks.example.com")
    (folder / "ext.cnf").write_text(
        "subjectAltName=DNS:hooks.example.com\nextendedKeyUsage=serverAuth\n"
    )
    run("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-out", "srv.pem", "-extfile", "ext.cnf")
    return Pki(ca=folder / "ca.pem", cert=folder / "srv.pem", key=folder / "srv.key")


@pytest.fixture
def tls_server(pki: Pki) -> Iterator[tuple[Endpoint, list[str | None]]]:
    names: list[str | None] = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.cert, pki.key)
    context.sni_callback = lambda _sock, name, _ctx: names.append(name)  # type: ignore[assignment,misc,func-returns-value]
    with endpoint(tls=context) as server:
        yield server, names


async def test_tls_uses_original_name_for_sni_and_certificate(
    pki: Pki, tls_server: tuple[Endpoint, list[str | None]]
) -> None:
    server, names = tls_server
    destination = pinned(f"https://hooks.example.com:{server.port}/", server.port)
    result = await post(destination, b"{}", {}, HttpLimits(ca_certs=str(pki.ca)))
    assert result.status == 200, result.error
    assert names == ["hooks.example.com"]
    [seen] = server.seen()
    assert seen.headers["host"] == f"hooks.example.com:{server.port}"


def sockets_to(port: int) -> int:
    """This process's open TCP sockets whose peer is ``port`` on loopback (Linux /proc)."""
    ours = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        if link.startswith("socket:["):
            ours.add(link[8:-1])
    found = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[2].split(":")[1], 16) == port and fields[9] in ours:
            found += 1
    return found


async def test_a_single_post_leaves_no_tls_socket_behind(
    pki: Pki, tls_server: tuple[Endpoint, list[str | None]]
) -> None:
    # A graceful TLS close waits for the receiver's close_notify: a post that returned before
    # it came left its socket to the garbage collector once the event loop was gone.
    server, _ = tls_server
    destination = pinned(f"https://hooks.example.com:{server.port}/", server.port)
    for _ in range(5):
        result = await post(destination, b"{}", {}, HttpLimits(ca_certs=str(pki.ca)))
        assert result.status == 200, result.error
        assert sockets_to(server.port) == 0


async def test_tls_certificate_for_another_name_is_refused(
    pki: Pki, tls_server: tuple[Endpoint, list[str | None]]
) -> None:
    server, _ = tls_server
    destination = pinned(f"https://evil.example.com:{server.port}/", server.port,
                         name="evil.example.com")
    result = await post(destination, b"{}", {}, HttpLimits(ca_certs=str(pki.ca)))
    assert result.status is None
    assert "certificate" in result.error.lower() or "hostname" in result.error.lower()
    assert server.seen() == []


async def test_tls_untrusted_certificate_is_refused(
    tls_server: tuple[Endpoint, list[str | None]]
) -> None:
    server, _ = tls_server
    result = await post(pinned(f"https://hooks.example.com:{server.port}/", server.port), b"{}", {},
                  HttpLimits())
    assert result.status is None and "certificate" in result.error.lower()
    assert server.seen() == []


async def test_ipv6_pinning_keeps_the_name() -> None:
    import http.server
    import socket
    import threading

    class Server(http.server.ThreadingHTTPServer):
        address_family = socket.AF_INET6

    hosts: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            hosts.append(self.headers["Host"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    try:
        server = Server(("::1", 0), Handler)
    except OSError:
        pytest.skip("no IPv6 loopback here")
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        port = server.server_address[1]
        policy = NetworkPolicy(allow_networks=(ipaddress.ip_network("::1/128"),),
                               allow_ports=frozenset({port}))
        destination = resolve_destination(f"http://v6.example:{port}/", policy,
                                          lambda _host, _port: ["::1"])
        assert (await post(destination, b"{}", {}, FAST)).status == 204
        assert hosts == [f"v6.example:{port}"]
    finally:
        server.shutdown()
        server.server_close()
