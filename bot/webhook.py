"""Webhook mode (``newsbot run --webhook URL``): Telegram POSTs each update to us.

Why PTB's own webhook server (``Application.run_webhook``, tornado) and not an ASGI app under
uvicorn: it is the same ``Application`` life cycle as polling (``post_init`` registers the
commands, the same signals stop it, ``post_shutdown`` releases the lease), it calls
``setWebhook`` with the URL, ``secret_token``, ``allowed_updates`` and ``drop_pending_updates``
in its bootstrap (with PTB's retries), and it refuses with 403 any request whose
``X-Telegram-Bot-Api-Secret-Token`` header is missing or wrong before it decodes the body, so
nothing reaches a handler (and nothing is recorded as processed).

PTB's server answers ``200`` once it has put the update on the application's queue, before any
handler ran, so a receiver killed mid-update would lose it: Telegram saw the 200 and never sends
it again. The queue we give the application (``AnsweringQueue``) closes that gap without
replacing PTB's server: the server awaits ``put``, and in webhook mode ``put`` returns only once
the update processor is done with the update (handled and recorded as done, or dropped as a
duplicate), so Telegram gets its answer after the work and a receiver that dies mid-way leaves
the POST unanswered; Telegram (through the balancer) delivers it again to a live receiver, which
takes it over (``bot.update_processor``). Telegram waits about a minute for an answer, so
``put`` waits at most ``ANSWER_WITHIN`` seconds: an update still being handled then is answered
anyway, after it is parked (``on_timeout``: its JSON kept in the database, its claim renewed
while its handler runs), so if this receiver then dies a live one adopts it. Polling puts into the
same queue without waiting (a batch of updates must not be handled one after another). It costs
one small pure-Python dependency (tornado, the ``webhooks`` extra). Duplicates are the update
processor's business, in both modes.

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

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from telegram import Update
from telegram.ext import Application

log = logging.getLogger(__name__)
DEFAULT_LISTEN = "0.0.0.0:8443"
ANSWER_WITHIN = 40.0  # seconds; Telegram gives a webhook about 60 to answer


class AnsweringQueue(asyncio.Queue[object]):
    """The application's update queue; in webhook mode ``put`` waits for the update's handling.

    The update processor calls ``finished`` with each update it is done with."""

    def __init__(self) -> None:
        super().__init__()
        self.answer_within: float | None = None  # None: polling, put returns at once
        self.on_timeout: Callable[[Update], Awaitable[None]] | None = None  # before answering
        self._waiting: dict[int, asyncio.Future[None]] = {}  # id(update) -> done

    def answer_after_handling(self, within: float = ANSWER_WITHIN) -> None:
        """Webhook mode: ``put`` returns once the update is handled, or after ``within``."""
        self.answer_within = within

    async def put(self, item: object) -> None:
        if self.answer_within is None or not isinstance(item, Update):
            await super().put(item)
            return
        done = asyncio.get_running_loop().create_future()
        self._waiting[id(item)] = done
        try:
            await super().put(item)
            async with asyncio.timeout(self.answer_within):
                await done
        except TimeoutError:
            log.warning(
                "update %d not handled within %.0fs: answering Telegram anyway",
                item.update_id, self.answer_within,
            )  # fmt: skip
            if self.on_timeout is not None:
                await self.on_timeout(item)
        finally:
            self._waiting.pop(id(item), None)

    def finished(self, update: object) -> None:
        """The update processor is done with ``update``: its POST may be answered."""
        done = self._waiting.pop(id(update), None)
        if done is not None and not done.done():
            done.set_result(None)


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
    receiver ran are handled, not dropped. Each POST is answered once its update is handled
    when the application was built with an ``AnsweringQueue`` (``bot.app.build_bot`` does)."""
    if isinstance(application.update_queue, AnsweringQueue):
        application.update_queue.answer_after_handling()
    application.run_webhook(
        listen=config.host,
        port=config.port,
        url_path=config.path,
        webhook_url=config.url,
        secret_token=config.secret,
        allowed_updates=list(allowed_updates),
        drop_pending_updates=None,
    )
