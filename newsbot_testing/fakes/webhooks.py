"""The webhook side of the fake Bot API: ``setWebhook``, ``deleteWebhook``, ``getWebhookInfo``,
and delivery of queued updates by POSTing them to the webhook URL, as Telegram does.

Kept in its own module (a mixin of ``FakeBotAPI``) so the webhook rules read in one place:

- ``setWebhook`` is validated like Telegram: an HTTPS URL on port 443, 80, 88 or 8443, not on a
  reserved address, and a ``secret_token`` of 1-256 characters of A-Z a-z 0-9 _ -. Tests set
  ``allow_local_http_webhooks`` to let a receiver on 127.0.0.1 (any port, plain HTTP) through.
- While a webhook is set, ``getUpdates`` is refused with 409 Conflict, Telegram's wording.
- Updates queued by the user helpers (``user_sends_command``, ``user_presses_button``, ...) are
  POSTed oldest first, with ``Content-Type: application/json`` and the
  ``X-Telegram-Bot-Api-Secret-Token`` header, over up to ``webhook_parallel`` connections at once
  (Telegram opens up to ``max_connections``), one update per chat at a time so a chat's updates
  arrive in order. An answer other than 2xx, a refused or reset connection, or no answer within
  ``webhook_timeout`` keeps the update queued and it is tried again after
  ``webhook_retry_seconds``, as Telegram retries: to the same URL, so a load balancer in front of
  several receivers sends the retry to whichever is alive. So the same helpers drive a polling
  bot and a webhook bot.
- Tests reach past that with ``post_to_webhook`` (any update, any URL, any or no secret: what a
  second delivery to another receiver or a forger would send), ``pause_webhook_delivery`` /
  ``resume_webhook_delivery`` (queue updates without sending them yet) and ``redeliver`` (queue
  an update again, as Telegram does after a failed delivery, in either mode).
"""

from __future__ import annotations

import copy
import http.client
import ipaddress
import json
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from newsbot_testing.fakes.spec import ApiError, bad_request

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
WEBHOOK_PORTS = frozenset({80, 88, 443, 8443})
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to "
    "delete the webhook first"
)


class _SetSecret:
    """Sentinel: send the secret_token given to setWebhook."""


SET_SECRET: Final = _SetSecret()


@dataclass(frozen=True)
class WebhookDelivery:
    """One POST the fake made to a webhook: ``status`` 0 means no HTTP answer (``error`` says
    why); ``secret`` is the header value sent, None if none was."""

    update_id: int
    url: str
    secret: str | None
    status: int
    error: str
    at: float


@dataclass
class _Webhook:
    url: str
    secret: str | None
    max_connections: int
    ip_address: str | None


class WebhookSide:
    """Mixed into ``FakeBotAPI``; uses its lock, pending updates and allowed_updates."""

    _cond: threading.Condition
    _closing: bool
    _pending: list[dict[str, Any]]
    _allowed_updates: list[str] | None

    def _init_webhooks(self) -> None:
        self.allow_local_http_webhooks = False
        self.webhook_retry_seconds = 0.1
        self.webhook_timeout = 60.0  # about what Telegram waits for an answer
        self.webhook_parallel = 8  # delivery connections (capped by setWebhook's max_connections)
        self.webhook_deliveries: list[WebhookDelivery] = []
        self._webhook: _Webhook | None = None
        self._webhook_paused = False
        self._webhook_retry_at = 0.0
        self._webhook_error: tuple[int, str] | None = None  # (unix time, message)
        self._webhook_threads: list[threading.Thread] = []
        self._in_flight: set[int] = set()  # id() of the queued updates being POSTed
        self._busy_chats: set[int] = set()  # chats with an update being POSTed

    # -- helpers for tests -----------------------------------------------------------------

    def webhook_info(self) -> dict[str, Any]:
        """What getWebhookInfo would answer now."""
        with self._cond:
            return self._api_getWebhookInfo({})

    def pause_webhook_delivery(self) -> None:
        """Keep queued updates queued (they go out on ``resume_webhook_delivery``)."""
        with self._cond:
            self._webhook_paused = True

    def resume_webhook_delivery(self) -> None:
        with self._cond:
            self._webhook_paused = False
            self._cond.notify_all()

    def redeliver(self, update: dict[str, Any]) -> None:
        """Queue ``update`` again, as Telegram does when it saw no answer to a delivery (webhook)
        or no confirmation of it (getUpdates): the bot must not handle it twice."""
        with self._cond:
            self._pending.append(copy.deepcopy(update))
            self._cond.notify_all()

    def post_to_webhook(
        self,
        update: dict[str, Any],
        *,
        url: str | None = None,
        secret: str | None | _SetSecret = SET_SECRET,
    ) -> int:
        """POST ``update`` to ``url`` (default: the webhook's) with ``secret`` in the header
        (default: setWebhook's; None sends no header) and return the HTTP status (0: no
        answer). A 2xx answer counts as delivered: the update leaves the queue."""
        with self._cond:
            hook = self._webhook
            target = url or (hook.url if hook else None)
            if target is None:
                raise AssertionError("no webhook is set and no url was given")
            sent = (hook.secret if hook else None) if isinstance(secret, _SetSecret) else secret
        delivery = self._post(target, update, sent)
        with self._cond:
            self._delivered(update, delivery)
        return delivery.status

    # -- Bot API methods -------------------------------------------------------------------

    def _api_setWebhook(self, params: dict[str, Any]) -> bool:
        url = params["url"]
        if url == "":
            self._webhook = None
            return True
        self._check_webhook_url(url)
        secret = params.get("secret_token")
        if secret is not None and not _SECRET.fullmatch(secret):
            raise bad_request("secret token contains unallowed characters")
        connections = params.get("max_connections", 40)
        if not isinstance(connections, int) or not 1 <= connections <= 100:
            raise bad_request("bad webhook: max_connections must be between 1 and 100")
        if "allowed_updates" in params:
            self._allowed_updates = list(params["allowed_updates"]) or None
        if params.get("drop_pending_updates"):
            self._pending.clear()
        self._webhook = _Webhook(url, secret, connections, params.get("ip_address"))
        self._webhook_error = None
        self._webhook_retry_at = 0.0
        self._start_delivery()
        self._cond.notify_all()
        return True

    def _api_getWebhookInfo(self, params: dict[str, Any]) -> dict[str, Any]:
        hook = self._webhook
        info: dict[str, Any] = {
            "url": hook.url if hook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if hook is not None:
            info["max_connections"] = hook.max_connections
            if hook.ip_address:
                info["ip_address"] = hook.ip_address
            if self._allowed_updates:
                info["allowed_updates"] = list(self._allowed_updates)
            if self._webhook_error is not None:
                info["last_error_date"], info["last_error_message"] = self._webhook_error
        return info

    # -- hooks called by FakeBotAPI --------------------------------------------------------

    def _refuse_while_webhook_set(self) -> None:
        """getUpdates and a webhook exclude each other, as on Telegram."""
        if self._webhook is not None:
            raise ApiError(409, _WEBHOOK_ACTIVE)

    def _webhook_deleted(self) -> None:
        self._webhook = None
        self._webhook_error = None

    def _stop_webhook_delivery(self) -> None:
        """Called by ``stop()`` after ``_closing`` is set: the delivery threads end (a POST on
        the wire finishes first)."""
        threads, self._webhook_threads = self._webhook_threads, []
        deadline = time.monotonic() + self.webhook_timeout + 1
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def _describe_webhook(self) -> str:
        failed = [d for d in self.webhook_deliveries if not 200 <= d.status < 300]
        last = f", last failure: {failed[-1].error}" if failed else ""
        return (
            f"webhook: {self._webhook.url if self._webhook else 'none'}; "
            f"{len(self.webhook_deliveries)} deliveries, {len(failed)} failed{last}"
        )

    # -- internals -------------------------------------------------------------------------

    def _check_webhook_url(self, url: str) -> None:
        """Telegram's checks, with Telegram's wording; loopback passes with the test flag."""
        parts = urlsplit(url)
        local = self.allow_local_http_webhooks and parts.hostname in _LOCAL_HOSTS
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise bad_request("bad webhook: Failed to resolve host: Name or service not known")
        if parts.scheme != "https" and not local:
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise bad_request("bad webhook: Wrong port number specified in the URL") from None
        if port not in WEBHOOK_PORTS and not local:
            raise bad_request(
                "bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"
            )
        if not local and _reserved(parts.hostname):
            raise bad_request(f"bad webhook: IP address {parts.hostname} is reserved")

    def _start_delivery(self) -> None:
        if any(thread.is_alive() for thread in self._webhook_threads):
            return
        self._webhook_threads = [
            threading.Thread(
                target=self._deliver_forever, name=f"fake-botapi-webhook-{n}", daemon=True
            )
            for n in range(self.webhook_parallel)
        ]
        for thread in self._webhook_threads:
            thread.start()

    def _deliver_forever(self) -> None:
        """Send the oldest queued update no other connection is sending (nor one of its chat);
        on success drop it, on failure retry it later."""
        while True:
            with self._cond:
                while not self._closing and (entry := self._next_to_deliver()) is None:
                    wait = self._webhook_retry_at - time.monotonic()
                    self._cond.wait(wait if wait > 0 else 0.05)
                if self._closing:
                    return
                assert entry is not None and self._webhook is not None
                hook, chat = self._webhook, _chat_of(entry)
                self._in_flight.add(id(entry))
                if chat is not None:
                    self._busy_chats.add(chat)
                update = copy.deepcopy(entry)
            delivery = self._post(hook.url, update, hook.secret)
            with self._cond:
                self._in_flight.discard(id(entry))
                if chat is not None:
                    self._busy_chats.discard(chat)
                self._delivered(update, delivery, entry)
                if not 200 <= delivery.status < 300:
                    self._webhook_retry_at = time.monotonic() + self.webhook_retry_seconds

    def _next_to_deliver(self) -> dict[str, Any] | None:
        hook = self._webhook
        if hook is None or self._webhook_paused or time.monotonic() < self._webhook_retry_at:
            return None
        if len(self._in_flight) >= min(hook.max_connections, self.webhook_parallel):
            return None
        for entry in self._pending:
            if id(entry) in self._in_flight:
                continue
            if _chat_of(entry) in self._busy_chats:
                continue
            return entry
        return None

    def _post(self, url: str, update: dict[str, Any], secret: str | None) -> WebhookDelivery:
        """One HTTP POST, outside the lock (the bot answers by calling the fake)."""
        parts = urlsplit(url)
        connection_class = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers[SECRET_HEADER] = secret
        path = parts.path or "/"
        status, error = 0, ""
        connection = connection_class(
            parts.hostname or "", parts.port, timeout=self.webhook_timeout
        )
        try:
            body = json.dumps(update, ensure_ascii=False).encode("utf-8")
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            status = response.status
            if not 200 <= status < 300:
                error = f"Wrong response from the webhook: {status} {response.reason}"
        except OSError as e:
            error = f"Connection failed: {e}"
        finally:
            connection.close()
        return WebhookDelivery(update["update_id"], url, secret, status, error, time.monotonic())

    def _delivered(
        self,
        update: dict[str, Any],
        delivery: WebhookDelivery,
        entry: dict[str, Any] | None = None,
    ) -> None:
        """Record the POST; on a 2xx the queued update (``entry``, or else the oldest copy with
        that id no connection is sending) leaves the queue; a redelivered copy stays."""
        self.webhook_deliveries.append(delivery)
        if 200 <= delivery.status < 300:
            if entry is None:
                entry = next(
                    (u for u in self._pending
                     if u["update_id"] == update["update_id"] and id(u) not in self._in_flight),
                    None,
                )  # fmt: skip
            for n, queued in enumerate(self._pending):
                if queued is entry:
                    del self._pending[n]
                    break
        else:
            self._webhook_error = (int(time.time()), delivery.error)
        self._cond.notify_all()


def _chat_of(update: dict[str, Any]) -> int | None:
    """The chat (or else the user) an update belongs to, so its updates go out in order."""
    for key, value in update.items():
        if key == "update_id" or not isinstance(value, dict):
            continue
        chat = value.get("chat") or (value.get("message") or {}).get("chat")
        if isinstance(chat, dict) and "id" in chat:
            return int(chat["id"])
        sender = value.get("from")
        if isinstance(sender, dict) and "id" in sender:
            return int(sender["id"])
    return None


def _reserved(host: str) -> bool:
    """A literal private, loopback or otherwise reserved address (Telegram refuses those)."""
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return not address.is_global
