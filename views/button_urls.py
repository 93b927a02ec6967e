"""Which links Telegram accepts in a URL button, decided before we send, not after a 400.

Telegram refuses the whole message (400) when one URL button's link is one it does not accept,
so a single odd link in a feed would cost a reader the whole digest. The rules follow the Bot API
server's own check (tdlib ``LinkManager::check_link`` over ``parse_url``): an ``http``/``https``
link whose host has a dot or is an IPv6 literal (so ``localhost`` and ``http://12345/`` are
refused, ``127.0.0.1`` is accepted), a port in 1..65535, only the host characters RFC 3986 allows
(percent escapes and non-ASCII letters too), or a ``tg://`` link to a plain name. We are a little
stricter than Telegram where being lenient buys nothing: any whitespace or control character
refuses a link (Telegram would percent-encode some), and so does a link over 2,048 characters.
A story whose link is refused still shows, with its callback buttons; only the link button goes.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

MAX_BUTTON_URL = 2048
_HOST = re.compile(r"^(?:[A-Za-z0-9.\-_!$,~*'();&+=\x80-\U0010ffff]|%[0-9A-Fa-f]{2})+$")
_USERINFO = re.compile(r"^(?:[A-Za-z0-9.\-_!$,~*'();&+=:\x80-\U0010ffff]|%[0-9A-Fa-f]{2})*$")
_TG_HOST = re.compile(r"^[A-Za-z0-9_\-]+$")
_UNSAFE = re.compile(r"[\x00-\x20\x7f\s]")


def telegram_accepts_url(url: object) -> bool:
    """True if Telegram would accept ``url`` in an inline keyboard URL button."""
    if not isinstance(url, str) or not url or len(url) > MAX_BUTTON_URL or _UNSAFE.search(url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. a bracketed host that is not an IPv6 address
        return False
    scheme = parts.scheme.lower()
    if scheme == "tg":
        return _tg_ok(parts.netloc)
    if scheme not in ("http", "https") or not url[len(scheme) :].startswith("://"):
        return False
    userinfo, _at, hostport = parts.netloc.rpartition("@")
    host, port_ok = _split_port(hostport)
    if not port_ok or not host or host == "." or not _USERINFO.match(userinfo):
        return False
    if host.startswith("["):
        return _ipv6_literal(host)
    return bool(_HOST.match(host)) and "." in host


def _split_port(hostport: str) -> tuple[str, bool]:
    """("example.com", True) for "example.com:8080"; an empty, zero or huge port is refused."""
    head, colon, port = hostport.rpartition(":")
    if not colon or "]" in port:
        return hostport, True
    return head, port.isascii() and port.isdigit() and 0 < int(port) <= 65535


def _ipv6_literal(host: str) -> bool:
    if not host.endswith("]"):
        return False
    try:
        ipaddress.IPv6Address(host[1:-1])
    except ValueError:
        return False
    return True


def _tg_ok(netloc: str) -> bool:
    """tg://resolve?domain=x: a bare name, no user, no port."""
    return bool(_TG_HOST.match(netloc))
