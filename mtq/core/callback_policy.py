"""Where a callback may point: the policy both the worker and the dispatcher apply.

The dispatcher posts to URLs chosen by clients, so without a guard any client could make it
call the cloud metadata service or an internal admin port. The rules:

- only http/https, only ports in ``MTQ_WEBHOOK_ALLOW_PORTS``;
- deny by default: loopback, private, link-local, CGNAT, multicast, broadcast, reserved and
  documentation ranges, unique-local IPv6, and IPv6 forms that embed an IPv4 address are judged
  by that IPv4 address too; an explicit table is used because ``ipaddress.is_global`` differs
  between Python versions and misses embedded forms;
- the only exemptions are ``MTQ_WEBHOOK_ALLOW_NETWORKS`` CIDRs.

IPv4 literals are read the way browsers and ``inet_aton`` read them (``2130706433``,
``0x7f.1``, ``0177.0.0.1``), so an odd spelling cannot hide a blocked address.

The worker refuses obviously blocked callbacks at intake with :func:`check_literal_host` (no
DNS); the dispatcher resolves names and pins the checked address (``webhooks/http/ssrf.py``).
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from mtq.core.errors import PermanentError
from mtq.core.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_PORTS = {"http": 80, "https": 443}
# A job answered through the HTTP gateway's status API only carries this callback (additive to
# v1): a valid URL under the reserved .invalid TLD, which the dispatcher acks without a POST.
STATUS_ONLY_CALLBACK = "https://status-only.invalid/"

_V4_BLOCKED: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "this-network (0/8)"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "carrier-grade NAT"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local (cloud metadata)"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation"),
    ("192.88.99.0/24", "6to4 relay anycast"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("255.255.255.255/32", "broadcast"),
    ("240.0.0.0/4", "reserved"),
)
_V6_BLOCKED: tuple[tuple[str, str], ...] = (
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("64:ff9b:1::/48", "local-use NAT64"),
    ("100::/64", "discard-only"),
    ("2001::/23", "IETF protocol assignments (incl. Teredo)"),
    ("2001:db8::/32", "documentation"),
    ("3fff::/20", "documentation"),
    ("fc00::/7", "unique-local"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local"),
    ("ff00::/8", "multicast"),
)
_V4_TABLE = tuple((ipaddress.IPv4Network(net), why) for net, why in _V4_BLOCKED)
_V6_TABLE = tuple((ipaddress.IPv6Network(net), why) for net, why in _V6_BLOCKED)
_V6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_V4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NUMBER = {8: re.compile(r"[0-7]*"), 10: re.compile(r"[0-9]+"), 16: re.compile(r"[0-9a-f]*")}


class UnusableCallback(PermanentError):
    """The callback URL can never be delivered to; the event is parked with ``park_reason``."""

    park_reason = "invalid_callback"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BlockedDestination(UnusableCallback):
    """The SSRF policy forbids this destination. Permanent: never retried."""

    park_reason = "blocked_destination"


@dataclass(frozen=True)
class NetworkPolicy:
    allow_networks: tuple[IPNetwork, ...] = ()
    allow_ports: frozenset[int] = frozenset({80, 443})

    @classmethod
    def from_settings(cls, settings: Settings) -> NetworkPolicy:
        networks = tuple(
            ipaddress.ip_network(cidr, strict=False) for cidr in settings.webhook_allow_networks
        )
        return cls(allow_networks=networks, allow_ports=frozenset(settings.webhook_allow_ports))

    def exempt(self, ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self.allow_networks)


def address_problem(ip: IPAddress, policy: NetworkPolicy) -> str | None:
    """Why connecting to ``ip`` is forbidden, or ``None`` when it is allowed."""
    if policy.exempt(ip):
        return None
    if isinstance(ip, ipaddress.IPv4Address):
        return _v4_problem(ip)
    return _v6_problem(ip, policy)


def _v4_problem(ip: ipaddress.IPv4Address) -> str | None:
    for network, why in _V4_TABLE:
        if ip in network:
            return f"{ip} is {why}"
    if not ip.is_global:  # backstop for ranges IANA adds after this table was written
        return f"{ip} is not globally routable"
    return None


def _v6_problem(ip: ipaddress.IPv6Address, policy: NetworkPolicy) -> str | None:
    embedded = _embedded_ipv4(ip)
    for form, inner in embedded:
        if policy.exempt(inner):
            continue
        problem = _v4_problem(inner)
        if problem is not None:
            return f"{ip} is {form} embedding {problem}"
    if ip.ipv4_mapped is not None or ip in _NAT64:
        return None  # the packet goes to the embedded IPv4 address, which passed
    for network, why in _V6_TABLE:
        if ip in network:
            return f"{ip} is {why}"
    if ip in _V4_COMPATIBLE:
        return f"{ip} is a deprecated IPv4-compatible address"
    if ip not in _V6_GLOBAL_UNICAST:
        return f"{ip} is reserved (outside 2000::/3)"
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[tuple[str, ipaddress.IPv4Address]]:
    found: list[tuple[str, ipaddress.IPv4Address]] = []
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.ipv4_mapped is not None:
        found.append(("IPv4-mapped", ip.ipv4_mapped))
    if ip in _NAT64:
        found.append(("NAT64", low32))
    if ip.sixtofour is not None:
        found.append(("6to4", ip.sixtofour))
    if ip.teredo is not None:
        server, client = ip.teredo
        found += [("Teredo (server)", server), ("Teredo (client)", client)]
    if ip in _V4_COMPATIBLE and int(ip) > 1:
        found.append(("IPv4-compatible", low32))
    return found


def parse_ip_literal(host: str) -> IPAddress | None:
    """``host`` as an IP address in any spelling a resolver accepts, else ``None``."""
    text = unquote(host).strip("[]")
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text.split("%", 1)[0])
        except ValueError:
            return None
    return _loose_ipv4(text)


def _loose_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """inet_aton-style IPv4: 1-4 dot parts, each decimal, 0x-hex or 0-octal."""
    labels = host.lower().split(".")
    if len(labels) > 1 and labels[-1] == "":
        labels.pop()  # a trailing dot is still the same address
    if not 1 <= len(labels) <= 4:
        return None
    numbers = [_parse_part(label) for label in labels]
    if any(number is None for number in numbers):
        return None
    parts = [number for number in numbers if number is not None]
    last = parts.pop()
    if any(part > 255 for part in parts) or last >= 256 ** (4 - len(parts)):
        return None
    value = last + sum(part << (8 * (3 - index)) for index, part in enumerate(parts))
    return ipaddress.IPv4Address(value)


def _parse_part(label: str) -> int | None:
    if label.startswith("0x"):
        digits, base = label[2:], 16
    elif len(label) > 1 and label.startswith("0"):
        digits, base = label[1:], 8
    else:
        digits, base = label, 10
    if not _NUMBER[base].fullmatch(digits):
        return None
    return int(digits, base) if digits else 0


def _is_localhost(host: str) -> bool:
    name = host.lower().rstrip(".")
    return name == "localhost" or name.endswith(".localhost")


@dataclass(frozen=True)
class ParsedCallback:
    scheme: str
    host: str
    port: int
    target: str


def parse_callback_url(url: str, policy: NetworkPolicy) -> ParsedCallback:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnusableCallback(f"not a valid URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise BlockedDestination(f"scheme {scheme or '(none)'!r} is not http or https")
    if not parts.hostname:
        raise UnusableCallback("the URL has no host")
    if port is None:
        port = DEFAULT_PORTS[scheme]
    if port not in policy.allow_ports:
        raise BlockedDestination(f"port {port} is not allowed (MTQ_WEBHOOK_ALLOW_PORTS)")
    host = parts.hostname.rstrip(".") if ":" not in parts.hostname else parts.hostname
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return ParsedCallback(scheme=scheme, host=host, port=port, target=target)


@functools.lru_cache(maxsize=4096)
def checked_literal(url: str, policy: NetworkPolicy) -> tuple[ParsedCallback, IPAddress | None]:
    """The checks that the URL's text and the policy decide alone: the parsed callback and
    its literal address, if it is one. Raises :class:`UnusableCallback` or
    :class:`BlockedDestination`.

    Kept per URL, for the worker's intake and the dispatcher's every try alike (a client's
    jobs commonly share one callback); a refusal is not kept, it raises again every time.
    """
    parsed = parse_callback_url(url, policy)
    literal = parse_ip_literal(parsed.host)
    problem = literal_problem(parsed.host, literal, policy)
    if problem is not None:
        raise BlockedDestination(problem)
    return parsed, literal


def check_literal_host(url: str, policy: NetworkPolicy) -> str | None:
    """Why ``url`` is obviously blocked without DNS (scheme, port, IP literal or localhost).

    Returns ``None`` when nothing is wrong *yet*: a DNS name still has to pass
    ``webhooks.http.ssrf.resolve_destination`` at delivery time.
    """
    try:
        checked_literal(url, policy)
    except UnusableCallback as exc:
        return exc.detail
    return None


def literal_problem(host: str, ip: IPAddress | None, policy: NetworkPolicy) -> str | None:
    if ip is not None:
        return address_problem(ip, policy)
    if _is_localhost(host):
        for loopback in (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")):
            problem = address_problem(loopback, policy)
            if problem is not None:
                return f"{host} names the local machine ({problem})"
    return None
