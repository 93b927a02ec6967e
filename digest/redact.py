"""Feed URLs as shown to people: credentials and secret query values replaced by ``***``.

A catalog may hold a feed URL with credentials (``https://user:pass@host/feed`` or
``?api_key=...``): the fetcher needs them, but nobody reading a log line, ``newsbot fetch``,
``/stats`` or ``newsbot stats`` should see them. Every place that *shows* a feed URL passes it
through :func:`shown_url`; the stored and fetched URL stays as configured. Error messages use
:func:`redact_url`, which drops the whole query: a message needs less than a listing of feeds,
where ``?cat=sports`` tells two feeds apart.
"""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit, urlunsplit

MASK = "***"
SECRET_PARAMS = frozenset({
    "key", "apikey", "api_key", "api-key", "token", "access_token", "auth", "auth_token",
    "secret", "client_secret", "password", "passwd", "pass", "pwd", "sig", "signature",
    "session", "sessionid", "private_token",
})  # fmt: skip


def shown_url(url: str) -> str:
    """``url`` with any userinfo and the values of secret-looking query parameters masked."""
    try:
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]
    except ValueError:  # not a URL we can take apart: show nothing of it that could be secret
        return MASK if "@" in url or "=" in url else url
    netloc = f"{MASK}@{host}" if "@" in parts.netloc else host
    query = "&".join(_redact_param(p) for p in parts.query.split("&")) if parts.query else ""
    shown = SplitResult(parts.scheme, netloc, parts.path, query, parts.fragment)
    return urlunsplit(shown)


def _redact_param(pair: str) -> str:
    name, eq, _value = pair.partition("=")
    return f"{name}={MASK}" if eq and name.lower() in SECRET_PARAMS else pair


def redact_url(url: str) -> str:
    """A URL fit for logs and error messages: no userinfo, no query, no fragment."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return "<malformed url>"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))[:200]
