"""Webhook mode (``newsbot run --webhook URL``): Telegram POSTs each update to us.

Why PTB's own webhook server (``Application.run_webhook``, tornado) and not an ASGI app under
uvicorn: it is the same ``Application`` life cycle as polling (``post_init`` registers the
commands, the same signals stop it, ``post_shutdown`` releases the lease), it calls
``setWebhook`` with the URL, ``secret_token``, ``allowed_updates`` and ``drop_pending_updates``
in its bootstrap (with PTB's retries), and it refuses with 403 any request whose
``X-Telegram-Bot-Api-Secret-Token`` header is missing or wrong before it decodes the body, so
nothing reaches a handler (and nothing is recorded as processed). What an ASGI app would add -
a health route, answering only after the handler ran - is not needed: the balancer can check the
port, and updates are acknowledged at once in polling mode too (the outbox, not Telegram's
redelivery, is what makes pushes reliable). It costs one small pure-Python dependency (tornado,
the ``webhooks`` extra). Duplicates are not this module's business: the update processor drops
them in both modes (``bot.update_processor``).

Several receivers behind a load balancer must agree on the secret without configuration, so
by default it is derived from the bot token (an HMAC, so the token cannot be recovered from it);
whoever knows the token could call ``setWebhook`` anyway, so this gives nothing away.
``WEBHOOK_SECRET`` overrides it. Each receiver calls ``setWebhook`` with the same values at
start, which is idempotent; none deletes the webhook when it stops (the others still serve it).
Going back to polling deletes it: PTB's ``start_polling`` always calls ``deleteWebhook`` first.

The receiver listens on ``--listen`` / ``WEBHOOK_LISTEN`` (plain HTTP: TLS ends at the proxy or
balancer in front) and serves the path of the public URL.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from telegram.ext import Application

DEFAULT_LISTEN = "0.0.0.0:8443"


@dataclass(frozen=True)
class WebhookConfig:
    """Where Telegram sends updates (``url``) and where this process listens for them."""

    url: str
    host: str
    port: int
    path: str
    secret: str

    def __repr__(self) -> str:  # never show the secret
        return f"WebhookConfig(url={self.url!r}, listen={self.host}:{self.port})"


def derive_secret(token: str) -> str:
    """The default ``secret_token``: the same for every process with this token, 64 hex digits
    (inside Telegram's 1-256 of A-Za-z0-9_-)."""
    return hmac.new(token.encode(), b"newsbot webhook secret_token", hashlib.sha256).hexdigest()


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::]:8443`` for IPv6) as (host, port); ValueError with the reason."""
    host, sep, port = text.strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--listen / WEBHOOK_LISTEN must be HOST:PORT, e.g. {DEFAULT_LISTEN}")
    return host, int(port)


def webhook_config(url: str, listen: str, secret: str) -> WebhookConfig:
    """Check the URL's shape (Telegram itself refuses what it cannot use, e.g. plain HTTP) and
    put the pieces together; ValueError with a one-line reason."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"--webhook needs an https:// URL, not {url!r}")
    if parts.query or parts.fragment:
        raise ValueError("--webhook URL must not have a query or fragment")
    host, port = parse_listen(listen)
    return WebhookConfig(url=url, host=host, port=port, path=parts.path or "/", secret=secret)


def run_webhook(
    application: Application, config: WebhookConfig, allowed_updates: Sequence[str]
) -> None:
    """Serve updates until stopped, exactly like ``run_polling`` but pushed by Telegram.

    ``drop_pending_updates`` is left unset, as polling leaves it: updates that waited while no
    receiver ran are handled, not dropped."""
    application.run_webhook(
        listen=config.host,
        port=config.port,
        url_path=config.path,
        webhook_url=config.url,
        secret_token=config.secret,
        allowed_updates=list(allowed_updates),
        drop_pending_updates=None,
    )
