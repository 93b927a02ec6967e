"""Refuse URLs from feed content that point into private networks (SSRF guard, DESIGN §7).

Article links, image URLs and every redirect hop come from publishers we do not control. A
hostile feed could make the bot request ``http://169.254.169.254/`` (cloud metadata) or an
admin page on the bot's own network. So before such a URL is fetched:

1. it must be ``http`` or ``https`` with a host, and carry no userinfo (``user:pass@``
   hides the real host from a quick reading and leaks credentials into logs);
2. its host is resolved with the event loop's ``getaddrinfo`` (an IP literal is taken
   as is), and EVERY address it resolves to must be public: not loopback, private,
   link-local, multicast, reserved, unspecified, shared CGNAT space (100.64/10), nor an
   IPv6 form that embeds such an IPv4 address (mapped, 6to4, Teredo, NAT64).

``allow_private=True`` (``ALLOW_PRIVATE_NETWORKS``) keeps only step 1.

Limit: the check resolves the name and the HTTP client resolves it again, so a DNS server
that answers differently the second time (rebinding) is not stopped here.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from digest.errors import BlockedURLError

__all__ = [
    "BlockedURLError",
    "Resolver",
    "UnresolvableHostError",
    "check_url",
    "is_public_address",
]

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""Maps (host, port) to IP address strings; injectable for tests."""

_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_DEFAULT_PORTS = {"http": 80, "https": 443}
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnresolvableHostError(BlockedURLError):
    """The host has no address, so it cannot be shown to be public."""


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public_address(ip: IPAddress) -> bool:
    """True if ``ip`` is a globally routable unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return is_public_address(embedded)
        if ip.is_site_local:
            return False
    elif ip in _CGNAT:
        return False
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


#: The guard's name lookups run on threads of their own. The OS resolver blocks a thread for
#: each lookup, for seconds when DNS is slow, and a timed-out lookup keeps its thread until the
#: resolver gives up: on the event loop's default pool, which the bot's database work shares,
#: a burst of article pages on a slow resolver left no thread to answer anyone.
_LOOKUPS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="newsbot-dns")


async def _getaddrinfo(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    lookup = functools.partial(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    infos = await loop.run_in_executor(_LOOKUPS, lookup)
    return [str(info[4][0]) for info in infos]


async def check_url(url: str, *, allow_private: bool, resolver: Resolver | None = None) -> None:
    """Raise :class:`BlockedURLError` unless ``url`` may be fetched.

    ``resolver`` replaces the event loop's ``getaddrinfo`` (tests use it to map test
    names to chosen addresses).
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise BlockedURLError("malformed URL") from e
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise BlockedURLError(f"scheme {scheme or '(none)'!r} is not http or https")
    if "@" in parts.netloc:
        raise BlockedURLError("URL carries userinfo")
    host = parts.hostname
    if not host:
        raise BlockedURLError("URL has no host")
    if allow_private:
        return
    resolve = resolver or _getaddrinfo
    try:
        if _is_ip_literal(host):
            addresses = [host]
        else:
            addresses = await resolve(host, port or _DEFAULT_PORTS[scheme])
    except (OSError, UnicodeError) as e:
        raise UnresolvableHostError(f"host {host!r} does not resolve") from e
    if not addresses:
        raise UnresolvableHostError(f"host {host!r} does not resolve")
    for address in addresses:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
        except ValueError as e:
            raise BlockedURLError(f"host {host!r} resolved to a malformed address") from e
        if not is_public_address(ip):
            raise BlockedURLError(f"host {host!r} resolves to non-public address {ip}")


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
