"""The fake's check of URL-button links, ported from the Bot API server (tdlib).

tdlib ``LinkManager::check_link`` runs ``parse_url`` (td/utils/HttpUrl.cpp) on the link:
``[http[s]://][userinfo@]host[:port][/path?query#fragment]``; any other scheme before ``://`` is
"Unsupported URL protocol" (no scheme means http); a port must be 1..65535; the host (and the
userinfo, which may also hold ``:``) may hold only letters, digits, ``.-_!$,~*'();&+=``, percent
escapes and non-ASCII bytes, or be a bracketed IPv6 address; an http(s) host without a dot that is
not IPv6 is "Wrong HTTP URL" (so ``localhost`` and ``12345`` are refused, ``127.0.0.1`` is not).
Whitespace in the path is percent-encoded by tdlib, not refused. ``tg:`` links need a bare name
(letters, digits, ``-``, ``_``), no user, no port. Telegram documents no length limit for button
URLs; the fake refuses links over 2,048 characters, a conservative stand-in (our longest
column for a link is 2,048).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

MAX_URL = 2048
_PART = r"(?:[A-Za-z0-9.\-_!$,~*'();&+={colon}\x80-\U0010ffff]|%[0-9A-Fa-f]{{2}})"
_HOST = re.compile("^" + _PART.format(colon="") + "+$")
_USERINFO = re.compile("^" + _PART.format(colon=":") + "*$")
_TG_HOST = re.compile(r"^[A-Za-z0-9\-_]+$")


def button_url_ok(url: Any) -> bool:
    """True if Telegram's Bot API would accept ``url`` in an inline keyboard button."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL:
        return False
    if url[:3].lower() == "tg:":
        rest = url[3:].removeprefix("//")
        parsed = _parse_url(rest)
        if parsed is None or rest[:7].lower() == "http://":
            return False
        scheme, userinfo, host, is_ipv6, port = parsed
        return (
            scheme == "http"
            and not userinfo
            and not port
            and not is_ipv6
            and bool(_TG_HOST.match(host))
        )
    parsed = _parse_url(url)
    if parsed is None:
        return False
    _scheme, _userinfo, host, is_ipv6, _port = parsed
    return "." in host or is_ipv6


def _parse_url(url: str) -> tuple[str, str, str, bool, int] | None:
    """(scheme, userinfo, host, is_ipv6, specified port) as tdlib's parse_url, or None."""
    head = re.match(r"[^:/?#@\[\]]*", url)
    assert head is not None
    scheme, rest = head.group().lower(), url[head.end() :]
    if rest.startswith("://"):
        if scheme not in ("http", "https"):
            return None  # Unsupported URL protocol
        rest = rest[3:]
    else:
        scheme, rest = "http", url
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority = rest[:end]
    colon = len(authority) - 1
    while colon > 0 and authority[colon] not in ":]@":
        colon -= 1
    port = 0
    if colon > 0 and authority[colon] == ":":
        digits = authority[colon + 1 :]
        if not digits.isascii() or not digits.isdigit() or not 0 < int(digits) <= 65535:
            return None  # Wrong port number specified in the URL
        port, authority = int(digits), authority[:colon]
    userinfo, _at, host = authority.rpartition("@")
    is_ipv6 = host.startswith("[") and host.endswith("]") and len(host) > 1
    if is_ipv6:
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return None
    if not host or host == ".":
        return None
    if not is_ipv6 and (not _HOST.match(host) or not _USERINFO.match(userinfo)):
        return None  # Disallowed character in URL host / userinfo
    return scheme, userinfo, host.lower(), is_ipv6, port
