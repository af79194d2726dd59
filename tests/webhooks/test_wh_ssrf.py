"""The SSRF guard: a matrix of blocked forms, the allowed ones, and no request ever leaking."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from mtq.core.callback_policy import (
    BlockedDestination,
    NetworkPolicy,
    UnusableCallback,
    address_problem,
    check_literal_host,
    parse_ip_literal,
)
from tests.webhooks.whtest import SECRET, Endpoint, endpoint
from webhooks.delivery import Deliverer, DeliveryConfig, Outcome
from webhooks.events import ResultMessage
from webhooks.http.ssrf import ResolutionFailed, resolve_destination
from webhooks.http.transport import HttpLimits
from webhooks.signing import parse_secrets

PUBLIC_V4 = "93.184.216.34"

# Spellings of the local machine. {port} is a live loopback endpoint that must get nothing.
LOOPBACK_FORMS = [
    "http://127.0.0.1:{port}/",
    "http://2130706433:{port}/",  # decimal
    "http://0x7f.1:{port}/",  # hex, short form
    "http://0177.0.0.1:{port}/",  # octal
    "http://0x7f000001:{port}/",  # one hex number
    "http://017700000001:{port}/",  # one octal number
    "http://127.1:{port}/",  # short form
    "http://127.0.0.1.:{port}/",  # trailing dot
    "http://127.0.0.%31:{port}/",  # percent-encoded digit
    "http://0:{port}/",  # 0.0.0.0 reaches local services on Linux
    "http://0.0.0.0:{port}/",
    "http://localhost:{port}/",
    "http://LOCALHOST.:{port}/",
    "http://api.localhost:{port}/",
    "http://[::1]:{port}/",
    "http://[::]:{port}/",
    "http://[::ffff:127.0.0.1]:{port}/",  # IPv4-mapped
    "http://[::ffff:7f00:1]:{port}/",  # IPv4-mapped, hex spelling
    "http://[64:ff9b::7f00:1]:{port}/",  # NAT64
    "http://[2002:7f00:1::1]:{port}/",  # 6to4
    "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]:{port}/",  # Teredo, client 127.0.0.1
    "http://[::127.0.0.1]:{port}/",  # deprecated IPv4-compatible
]

OTHER_BLOCKED = [
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://[fd00:ec2::254]/",  # AWS metadata over IPv6
    "http://[::ffff:169.254.169.254]/",
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of the metadata address
    "http://[2002:a9fe:a9fe::]/",  # 6to4 of the metadata address
    "http://100.64.0.1/",  # CGNAT
    "http://224.0.0.1/",  # multicast
    "http://255.255.255.255/",  # broadcast
    "http://240.0.0.1/",  # reserved
    "http://192.0.2.10/",  # documentation
    "http://198.51.100.7/",
    "http://203.0.113.9/",
    "http://198.18.0.1/",  # benchmarking
    "http://192.0.0.8/",  # IETF protocol assignments
    "http://[fe80::1]/",  # link-local
    "http://[fe80::1%25eth0]/",  # link-local with zone id
    "http://[fc00::1]/",  # unique-local
    "http://[ff02::1]/",  # multicast
    "http://[2001:db8::1]/",  # documentation
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",  # Teredo (blocked outright)
    "http://[100::1]/",  # discard-only
    "http://[4000::1]/",  # outside 2000::/3
    "http://0xa9fea9fe/",  # 169.254.169.254 as one hex number
    "ftp://example.com/",
    "file:///etc/passwd",
    "gopher://example.com/",
    "http://example.com:22/",  # port not allowed
]

POLICY = NetworkPolicy()


def stub(table: dict[str, list[str]]) -> ResolverStub:
    return ResolverStub(table)


class ResolverStub:
    """A fake DNS: name -> answers; a list of tables answers call by call (rebinding)."""

    def __init__(self, *tables: dict[str, list[str]]) -> None:
        self.tables = tables
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        table = self.tables[min(len(self.calls), len(self.tables) - 1)]
        self.calls.append(host)
        return table.get(host, [])


@pytest.fixture
def target() -> Iterator[Endpoint]:
    with endpoint() as server:
        yield server


@pytest.mark.parametrize("form", LOOPBACK_FORMS + OTHER_BLOCKED)
def test_literal_check_blocks_without_dns(form: str) -> None:
    url = form.format(port=443)
    assert check_literal_host(url, POLICY) is not None
    with pytest.raises(BlockedDestination):
        resolve_destination(url, POLICY, ResolverStub({}))


def test_matrix_size() -> None:
    assert len(LOOPBACK_FORMS) + len(OTHER_BLOCKED) >= 25


@pytest.mark.parametrize(
    ("spelling", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7F.0.0.0X1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("10.1.258", "10.1.1.2"),
        ("0", "0.0.0.0"),
        ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
        ("8.8.8.8.", "8.8.8.8"),
    ],
)
def test_ipv4_spellings(spelling: str, address: str) -> None:
    assert parse_ip_literal(spelling) == ipaddress.ip_address(address)


@pytest.mark.parametrize("name", ["example.com", "1.2.3.4.5", "256.1.1.1", "08.1.1.1",
                                  "0x1g.1.1.1", "1_0.0.0.1", "4294967296", "1..1"])
def test_non_addresses_are_names(name: str) -> None:
    assert parse_ip_literal(name) is None


@pytest.mark.parametrize(
    ("answers", "why"),
    [
        ({"hooks.example.com": ["10.0.0.5"]}, "private"),
        ({"hooks.example.com": [PUBLIC_V4, "10.0.0.5"]}, "private"),  # public and private
        ({"hooks.example.com": ["2606:4700::1111", "::1"]}, "loopback"),
        ({"hooks.example.com": ["64:ff9b::7f00:1"]}, "NAT64"),
        ({"hooks.example.com": ["169.254.169.254"]}, "link-local"),
    ],
)
def test_every_resolved_address_is_checked(answers: dict[str, list[str]], why: str) -> None:
    with pytest.raises(BlockedDestination, match=why):
        resolve_destination("https://hooks.example.com/x", POLICY, ResolverStub(answers))


def test_no_answer_is_transient() -> None:
    with pytest.raises(ResolutionFailed):
        resolve_destination("https://nowhere.example/", POLICY, ResolverStub({}))


def test_invalid_urls_are_unusable() -> None:
    with pytest.raises(UnusableCallback):
        resolve_destination("http://:80/", POLICY, ResolverStub({}))
    with pytest.raises(UnusableCallback):
        resolve_destination("http://example.com:99999/", POLICY, ResolverStub({}))


@pytest.mark.parametrize(
    ("url", "answers", "address", "host_header"),
    [
        ("https://hooks.example.com/a?b=1", {"hooks.example.com": [PUBLIC_V4]}, PUBLIC_V4,
         "hooks.example.com"),
        ("http://HOOKS.example.com./", {"hooks.example.com": [PUBLIC_V4]}, PUBLIC_V4,
         "hooks.example.com"),
        ("http://8.8.8.8/", {}, "8.8.8.8", "8.8.8.8"),
        ("https://[2606:4700:4700::1111]/", {}, "2606:4700:4700::1111",
         "[2606:4700:4700::1111]"),
        ("http://[::ffff:8.8.8.8]/", {}, "::ffff:808:808", "[::ffff:8.8.8.8]"),
        ("http://[64:ff9b::808:808]/", {}, "64:ff9b::808:808", "[64:ff9b::808:808]"),
        ("http://[2002:808:808::1]/", {}, "2002:808:808::1", "[2002:808:808::1]"),
        ("http://bücher.example/", {"xn--bcher-kva.example": [PUBLIC_V4]}, PUBLIC_V4,
         "xn--bcher-kva.example"),
    ],
)
def test_public_destinations_are_pinned(url: str, answers: dict[str, list[str]],
                                        address: str, host_header: str) -> None:
    destination = resolve_destination(url, POLICY, ResolverStub(answers))
    assert destination.address == address
    assert destination.host_header == host_header


def test_allow_networks_is_the_only_exemption() -> None:
    policy = NetworkPolicy(
        allow_networks=(ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128")),
    )
    assert resolve_destination("http://10.1.2.3/", policy, ResolverStub({})).address == "10.1.2.3"
    assert address_problem(ipaddress.ip_address("::1"), policy) is None
    assert address_problem(ipaddress.ip_address("11.0.0.1"), policy) is None
    assert address_problem(ipaddress.ip_address("192.168.0.1"), policy) is not None
    assert check_literal_host("http://localhost/", policy) is not None  # 127.0.0.1 not exempt
    loopback = NetworkPolicy(allow_networks=(ipaddress.ip_network("127.0.0.0/8"),
                                             ipaddress.ip_network("::1/128")))
    assert check_literal_host("http://localhost/", loopback) is None
    assert check_literal_host("http://[::ffff:127.0.0.1]/", loopback) is None


def test_ports_and_schemes() -> None:
    policy = NetworkPolicy(allow_ports=frozenset({443, 8443}))
    answers = ResolverStub({"h.example": [PUBLIC_V4]})
    assert resolve_destination("https://h.example:8443/", policy, answers).port == 8443
    with pytest.raises(BlockedDestination, match="port 80"):
        resolve_destination("http://h.example/", policy, answers)
    assert check_literal_host("https://h.example/", policy) is None  # a name: DNS decides


def _deliverer(port: int, resolver: ResolverStub | None = None) -> Deliverer:
    config = DeliveryConfig(
        keys=parse_secrets([SECRET]),
        policy=NetworkPolicy(allow_ports=frozenset({80, 443, port})),
        http=HttpLimits(connect_timeout_s=0.5, total_timeout_s=1.0),
        schedule=(1, 2),
        quick_retries=0,
    )
    return Deliverer(config, ThreadPoolExecutor(1), resolver=resolver or ResolverStub({}))


async def _try_once(port: int, url: str, resolver: ResolverStub | None = None) -> Outcome:
    deliverer = _deliverer(port, resolver)
    try:
        return await deliverer.try_once(_event(url))
    finally:
        await deliverer.close()


def _event(url: str) -> ResultMessage:
    return ResultMessage(webhook_id="msg_t", job_id="ssrf-job", event_type="job.completed",
                       callback_url=url, body=b"{}", attempt=0)


@pytest.mark.parametrize("form", LOOPBACK_FORMS)
async def test_blocked_forms_never_reach_the_target(target: Endpoint, form: str) -> None:
    outcome = await _try_once(target.port, form.format(port=target.port))
    assert outcome.park_reason == "blocked_destination"
    assert target.seen() == []


@pytest.mark.parametrize("answer", [["127.0.0.1"], [PUBLIC_V4, "127.0.0.1"], ["::ffff:7f00:1"]])
async def test_names_resolving_inside_never_reach_the_target(target: Endpoint,
                                                       answer: list[str]) -> None:
    resolver = ResolverStub({"hooks.example.com": answer})
    url = f"http://hooks.example.com:{target.port}/"
    outcome = await _try_once(target.port, url, resolver)
    assert outcome.park_reason == "blocked_destination"
    assert target.seen() == []


async def test_dns_rebinding_cannot_redirect_the_connection(target: Endpoint) -> None:
    # First answer public (passes the check), every later answer loopback. The connection
    # must go to the checked address, so the loopback target never hears from us.
    resolver = ResolverStub({"rebind.example": [PUBLIC_V4]}, {"rebind.example": ["127.0.0.1"]})
    url = f"http://rebind.example:{target.port}/"
    outcome = await _try_once(target.port, url, resolver)
    assert resolver.calls == ["rebind.example"]  # resolved exactly once
    assert outcome.status is None  # nothing answers on the public address here
    assert target.seen() == []


def test_the_url_checks_kept_per_url_answer_alike_every_time_and_per_policy() -> None:
    # Worker and dispatcher share one cache of the URL's own checks (checked_literal).
    strict, loopback = NetworkPolicy(), NetworkPolicy(
        allow_networks=(ipaddress.ip_network("127.0.0.0/8"),))
    answers = ResolverStub({})
    for _ in range(3):
        assert check_literal_host("http://127.0.0.1/", strict) is not None
        with pytest.raises(BlockedDestination, match="loopback"):
            resolve_destination("http://127.0.0.1/", strict, answers)
        assert check_literal_host("http://127.0.0.1/", loopback) is None
        assert resolve_destination("http://127.0.0.1/", loopback, answers).address == "127.0.0.1"
