"""Where webhooks may go: public addresses only, unless an allow-list says otherwise.

A webhook URL is chosen by a tenant admin, and the platform POSTs to it from inside the network:
without a check it would reach loopback services, the cloud metadata endpoint (169.254.169.254),
databases on private addresses. So:

* at save time (subscription or rule) :meth:`EgressPolicy.problems` resolves the host and refuses
  a URL whose addresses are not public, with a clear message (a 422);
* at delivery time :func:`post_json` resolves the host **once**, checks the address it got and
  connects to that very address (the ``Host`` header and TLS SNI still name the host), so a DNS
  answer that changes between the check and the connection (DNS rebinding) gains nothing.

A failed delivery is logged for the tenant as :data:`CONNECTION_FAILED` only, with no socket
error and no duration, so the delivery log cannot serve to scan ports or map the network; the
detail goes to the service's own log. ``MOSAIC_WEBHOOK_ALLOW`` lists CIDRs and host names
allowed anyway (development, tests).
"""
from __future__ import annotations

import http.client
import ipaddress
import logging
import socket
import ssl
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

#: what the delivery log says of any attempt that got no HTTP answer
CONNECTION_FAILED = "connection failed"
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(Exception):
    """The destination is not allowed (its message says why, for the service's log)."""


def _embedded_v4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo, NAT64), if any: those
    reach the IPv4 address, so it is what must be public."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(ip: IPAddress) -> bool:
    """Whether ``ip`` is a globally routable unicast address (not loopback, private, link-local,
    shared, reserved, multicast or unspecified, nor an IPv6 form of such an IPv4 address)."""
    inner = _embedded_v4(ip)
    if inner is not None:
        return is_public(inner)
    return ip.is_global and not ip.is_multicast


@dataclass(frozen=True)
class EgressPolicy:
    """Public addresses, plus the ``networks`` and ``hosts`` of the allow-list."""

    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    hosts: tuple[str, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> "EgressPolicy":
        """A policy from allow-list entries: CIDRs (``10.0.0.0/8``), addresses (``127.0.0.1``),
        host names (``receiver.test``) or name suffixes (``*.internal``). ValueError names a bad
        entry."""
        networks, hosts = [], []
        for entry in (e.strip() for e in entries):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            name = entry.lower().rstrip(".")
            label = name[2:] if name.startswith("*.") else name
            if not label or not all(part and all(c.isalnum() or c in "-_" for c in part)
                                    for part in label.split(".")):
                raise ValueError(f"MOSAIC_WEBHOOK_ALLOW: {entry!r} is neither a CIDR nor a host name")
            hosts.append(name)
        return cls(tuple(networks), tuple(hosts))

    def host_allowed(self, host: str) -> bool:
        """Whether the allow-list names ``host`` (exactly, or by a ``*.suffix`` entry)."""
        host = host.lower().rstrip(".")
        return any(host == h or (h.startswith("*.") and host.endswith(h[1:])) for h in self.hosts)

    def address_allowed(self, ip: IPAddress) -> bool:
        """Whether webhooks may connect to ``ip``."""
        return is_public(ip) or any(ip.version == n.version and ip in n for n in self.networks)

    def resolve(self, host: str, port: int) -> str:
        """The address to connect to for ``host``: the first one it resolves to that is allowed.
        Raises :class:`Refused` when none is, OSError when the name does not resolve."""
        addresses = _addresses(host, port)
        if self.host_allowed(host):
            return addresses[0]
        for address in addresses:
            if self.address_allowed(ipaddress.ip_address(address.split("%", 1)[0])):
                return address
        raise Refused(f"{host} resolves to {', '.join(addresses)}: not a public address")

    def problems(self, url: str) -> list[str]:
        """Save-time check of a (well-formed) URL: what is wrong with where it points; [] if it
        may be called. A name that does not resolve now is accepted (DNS may be down, the record
        not created yet): delivery checks it again in any case."""
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        if not host or self.host_allowed(host):
            return []
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            if self.address_allowed(literal):
                return []
            return [f"{host} is not a public address (loopback, private, link-local and the like "
                    "are refused; MOSAIC_WEBHOOK_ALLOW lists exceptions)"]
        try:
            self.resolve(host, parts.port or (443 if parts.scheme == "https" else 80))
        except Refused:
            # Which address it resolves to is not said: that would map the internal DNS.
            return [f"{host} does not resolve to a public address (loopback, private, link-local "
                    "and the like are refused; MOSAIC_WEBHOOK_ALLOW lists exceptions)"]
        except (OSError, UnicodeError):
            return []
        return []


def _addresses(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


STRICT = EgressPolicy()


@lru_cache(maxsize=16)
def _parsed(entries: tuple[str, ...]) -> EgressPolicy:
    return EgressPolicy.parse(entries)


def egress_policy(settings) -> EgressPolicy:
    """The policy of ``settings`` (``MOSAIC_WEBHOOK_ALLOW``); strict without settings."""
    entries = tuple(getattr(settings, "webhook_allow", ()) or ())
    return _parsed(entries) if entries else STRICT


def post_json(url: str, body: bytes, headers: dict, timeout: float,
              policy: EgressPolicy | None = None) -> tuple[int | None, str | None]:
    """POST ``body`` to ``url`` through ``policy`` (strict by default): ``(status, None)`` for
    any HTTP answer, redirects included (never followed: that would turn the POST into a GET);
    ``(None, CONNECTION_FAILED)`` when there is none, whatever the reason.

    ``http.client`` on a socket connected to the checked address; under eventlet's
    monkey-patching both are green, so a slow endpoint does not stall the service's workers.
    """
    policy = policy or STRICT
    parts = urlsplit(url)
    https = parts.scheme.lower() == "https"
    try:
        host, port = parts.hostname, parts.port or (443 if https else 80)
        if not host:
            raise ValueError("no host")
        address = policy.resolve(host, port)
    except (Refused, OSError, ValueError, UnicodeError) as exc:
        log.info("webhook to %s not sent: %s", parts.hostname, exc)
        return None, CONNECTION_FAILED
    if https:
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            host, port, timeout=timeout, context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)

    def connect_checked(_address, timeout=None, source_address=None):
        # http.client would resolve the name again; connect to the address that was checked.
        return socket.create_connection((address, port), timeout, source_address)

    conn._create_connection = connect_checked
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request("POST", target, body=body, headers=headers)
        response = conn.getresponse()
        response.read(65536)  # a little of the body, so the connection closes cleanly
        return response.status, None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        log.info("webhook to %s failed: %s: %s", host, type(exc).__name__, exc)
        return None, CONNECTION_FAILED
    finally:
        conn.close()
