"""``newsbot``: the operator's entry point (also ``python -m bot``)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from datetime import timedelta

from pydantic import ValidationError
from telegram import Bot
from telegram.error import InvalidToken, TelegramError

from bot import heap
from bot.app import ALLOWED_UPDATES, Services, build_bot, build_ingestor, build_services
from bot.logging_setup import RedactTokenFilter, setup_logging
from bot.settings import Settings
from bot.webhook import WebhookConfig, derive_secret, run_webhook, webhook_config
from bot.worker import parse_roles, refusal, run_worker
from digest.catalog import CatalogError
from digest.fetch import Fetcher
from digest.ingest import IngestReport
from digest.redact import shown_url
from handlers.stats import print_stats
from push.tick import BATCH as COMPOSE_BATCH
from storage.errors import StorageError
from storage.stats import StatsStore

log = logging.getLogger("newsbot")

EXIT_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsbot", description="A Telegram bot that delivers news digests."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    run = commands.add_parser(
        "run", help="run the bot (long polling or a webhook, and the jobs) until stopped"
    )
    run.add_argument(
        "--webhook", metavar="URL",
        help="receive updates at this public HTTPS URL (setWebhook) instead of long polling",
    )  # fmt: skip
    run.add_argument(
        "--listen", metavar="HOST:PORT",
        help="where the webhook receiver listens (default: WEBHOOK_LISTEN or 0.0.0.0:8443)",
    )  # fmt: skip
    run.add_argument(
        "--receive-only", action="store_true",
        help="answer updates only: no feed fetching, digest tick or sending in this process",
    )  # fmt: skip
    fetch = commands.add_parser("fetch", help="fetch every catalog feed once, then exit")
    fetch.add_argument(
        "--json", action="store_true", help="print the counts as one JSON object (last line)"
    )
    worker = commands.add_parser(
        "worker",
        help="run background roles (fetch, compose, send) without Telegram updates; PostgreSQL",
    )
    worker.add_argument(
        "--role", action="append", required=True, metavar="ROLE",
        help="fetch, compose, send or all; repeat it or give a comma list",
    )  # fmt: skip
    worker.add_argument(
        "--tick-seconds", type=float, default=60.0, metavar="SECONDS",
        help="how often a compose worker looks for due readers (default 60)",
    )  # fmt: skip
    worker.add_argument(
        "--compose-batch", type=int, default=COMPOSE_BATCH, metavar="N",
        help=f"due readers a compose worker claims per transaction (default {COMPOSE_BATCH})",
    )  # fmt: skip
    sandbox = commands.add_parser(
        "sandbox", help="try the bot without a token: a local Bot API and a chat page"
    )
    sandbox.add_argument("--port", type=int, default=8080, help="the chat page's port (8080)")
    sandbox.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    sandbox.add_argument(
        "--offline", action="store_true", help="bundled sample news instead of the catalog's feeds"
    )
    sandbox.add_argument(
        "--live-if-token", action="store_true",
        help="run the live bot instead when TELEGRAM_BOT_TOKEN is set (what `make run` does)",
    )  # fmt: skip
    stats = commands.add_parser("stats", help="print reader, delivery and feed statistics")
    stats.add_argument(
        "--json", action="store_true", help="print them as one JSON object (last line)"
    )
    return parser


def _fail(message: str) -> int:
    print(f"newsbot: {message}", file=sys.stderr)
    return EXIT_CONFIG


def _settings() -> Settings | str:
    try:
        return Settings()
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors()
        )
        return f"invalid settings ({problems}); see .env.example"


def _services(settings: Settings) -> Services | str:
    try:
        return build_services(settings)
    except (CatalogError, StorageError) as e:
        return str(e)


def run(
    webhook_url: str | None = None, listen: str | None = None, receive_only: bool = False
) -> int:
    """Start the bot, long polling or (``webhook_url``) as a webhook receiver; configuration
    problems are one line on stderr and exit code 2."""
    settings = _settings()
    if isinstance(settings, str):
        return _fail(settings)
    if settings.telegram_bot_token is None or not settings.telegram_bot_token.get_secret_value():
        return _fail(
            "TELEGRAM_BOT_TOKEN is not set: put it in the environment or in .env (see .env.example)"
        )
    if listen is not None and webhook_url is None:
        return _fail("--listen is for the webhook receiver: give --webhook URL too")
    webhook = _webhook(settings, webhook_url, listen) if webhook_url is not None else None
    if isinstance(webhook, str):
        return _fail(webhook)
    setup_logging(settings.log_level, settings.telegram_bot_token.get_secret_value())
    if webhook is not None:  # PTB logs setWebhook's parameters at DEBUG, the secret among them
        for handler in logging.getLogger().handlers:
            handler.addFilter(RedactTokenFilter(webhook.secret))
    services = _services(settings)
    if isinstance(services, str):
        return _fail(services)
    log.info("catalog %s: %d sources", services.catalog.path, len(services.catalog.sources))
    token = settings.telegram_bot_token.get_secret_value()
    try:
        asyncio.run(_check_bot_api(token, settings.telegram_api_base_url))
        application = build_bot(services, receive_only=receive_only).application
        if webhook is None:
            application.run_polling(allowed_updates=ALLOWED_UPDATES)
        else:
            log.info("webhook %s, listening on %s:%d", shown_url(webhook.url), webhook.host,
                     webhook.port)  # fmt: skip
            run_webhook(application, webhook, ALLOWED_UPDATES)
    except TelegramError as e:  # a last resort too: whatever Telegram says, one line, no token
        return _fail(_start_up_error(e, settings))
    except OSError as e:  # the webhook's port is taken or not ours to bind
        return _fail(
            f"the webhook receiver cannot listen on {listen or settings.webhook_listen}: {e}"
        )
    return 0


def _webhook(settings: Settings, url: str, listen: str | None) -> WebhookConfig | str:
    """The receiver's settings, or a one-line reason they are unusable."""
    assert settings.telegram_bot_token is not None
    if settings.webhook_secret is not None:
        secret = settings.webhook_secret.get_secret_value()
    else:
        secret = derive_secret(settings.telegram_bot_token.get_secret_value())
    try:
        return webhook_config(url, listen or settings.webhook_listen, secret)
    except ValueError as e:
        return str(e)


async def _check_bot_api(token: str, base_url: str) -> None:
    """getMe once before polling, so a refused token or a wrong base URL is one line here rather
    than PTB's retry-loop traceback (which logging redacts, but which is no answer)."""
    async with Bot(token, base_url=base_url):
        pass


def _start_up_error(error: TelegramError, settings: Settings) -> str:
    """One line on why Telegram refused to start the bot, without the token (PTB's InvalidToken
    message quotes it in full)."""
    base = shown_url(settings.telegram_api_base_url)
    if isinstance(error, InvalidToken):
        return (
            f"the Bot API at {base} refused TELEGRAM_BOT_TOKEN (401 or 404): check the token, "
            "and that TELEGRAM_API_BASE_URL ends in /bot"
        )
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else None
    detail = RedactTokenFilter(token).redact(str(error))[:200]
    return f"the Bot API at {base} failed at start-up: {type(error).__name__}: {detail}"


def _one_shot_services(as_json: bool) -> Services | int:
    """Settings, quiet logging and services for a command that runs once (fetch, stats); an
    int is the exit code of a configuration problem, already reported on one line."""
    settings = _settings()
    if isinstance(settings, str):
        return _fail(settings)
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else None
    setup_logging("WARNING" if not as_json else "ERROR", token)
    services = _services(settings)
    return _fail(services) if isinstance(services, str) else services


def fetch(as_json: bool) -> int:
    """One ingest pass over every feed; exit code 0 even if some feeds failed (they are counted)."""
    services = _one_shot_services(as_json)
    if isinstance(services, int):
        return services
    report = asyncio.run(_fetch_once(services, show_progress=not as_json and sys.stderr.isatty()))
    if as_json:
        print(json.dumps(report.as_json(), ensure_ascii=False))
    else:
        print(_summary(report))
    return 0


async def _fetch_once(services: Services, *, show_progress: bool) -> IngestReport:
    def progress(done: int, total: int) -> None:
        width = 30
        filled = width * done // max(total, 1)
        bar = "█" * filled + "·" * (width - filled)
        print(f"\r[{bar}] {done}/{total} feeds", end="", file=sys.stderr, flush=True)

    async with Fetcher() as fetcher:
        ingestor = build_ingestor(services, fetcher)
        report = await ingestor.run_once(
            only_due=False, progress=progress if show_progress else None
        )
    if show_progress:
        print(file=sys.stderr)
    return report


def _summary(report: IngestReport) -> str:
    lines = [
        f"{report.feeds} feeds in {report.seconds:.1f}s: {report.ok} ok, "
        f"{report.not_modified} not modified, {report.failed} failed",
        f"{report.new_articles} new articles, {report.updated_articles} updated, "
        f"{report.pruned} pruned",
    ]
    if report.skipped_entries or report.capped_entries:
        lines.append(
            f"{report.skipped_entries} entries skipped, "
            f"{report.capped_entries} beyond the per-feed cap"
        )
    lines += [
        f"  failed: {f['source']} {shown_url(f['url'])}: {f['error']}" for f in report.failures[:10]
    ]
    if len(report.failures) > 10:
        lines.append(f"  … and {len(report.failures) - 10} more")
    lines += [
        f"  slowest: {t['source']}/{t['category']} {t['seconds']}s ({t['outcome']})"
        for t in report.timings[:3]
    ]
    return "\n".join(lines)


def worker(role_args: list[str], tick_seconds: float, compose_batch: int = COMPOSE_BATCH) -> int:
    """Background roles in a process of their own (PostgreSQL only): exit code 0 after SIGTERM,
    2 with one line for a configuration problem (SQLite among them)."""
    try:
        roles = parse_roles(role_args)
    except ValueError as e:
        return _fail(str(e))
    if tick_seconds <= 0:
        return _fail("--tick-seconds must be positive")
    if compose_batch <= 0:
        return _fail("--compose-batch must be positive")
    settings = _settings()
    if isinstance(settings, str):
        return _fail(settings)
    if (why := refusal(settings.database_url)) is not None:
        return _fail(why)
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else None
    if "send" in roles and not token:
        return _fail("the send role needs TELEGRAM_BOT_TOKEN (see .env.example)")
    setup_logging(settings.log_level, token)
    services = _services(settings)
    if isinstance(services, str):
        return _fail(services)
    try:
        if token and "send" in roles:
            asyncio.run(_check_bot_api(token, settings.telegram_api_base_url))
        asyncio.run(
            run_worker(services, roles, tick_seconds=tick_seconds, compose_batch=compose_batch)
        )
    except TelegramError as e:
        return _fail(_start_up_error(e, settings))
    return 0


def stats(as_json: bool) -> int:
    """Print what /stats shows admins."""
    services = _one_shot_services(as_json)
    if isinstance(services, int):
        return services
    refresh = timedelta(seconds=services.settings.feed_refresh_seconds)
    return print_stats(StatsStore(services.engine), refresh=refresh, as_json=as_json)


def start_sandbox(args: argparse.Namespace) -> int:
    """``newsbot sandbox``: imported lazily, so ``run`` never loads the local Bot API."""
    settings = _settings()
    if isinstance(settings, str):
        return _fail(settings)
    token = settings.telegram_bot_token
    if args.live_if_token and token is not None and token.get_secret_value():
        return run()
    from sandbox.runner import Options, run_sandbox

    return run_sandbox(settings, Options(host=args.host, port=args.port, offline=args.offline))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command in ("run", "worker"):
        heap.limit_arenas()  # before the first thread: see bot.heap
    if args.command == "run":
        return run(args.webhook, args.listen, args.receive_only)
    if args.command == "fetch":
        return fetch(args.json)
    if args.command == "worker":
        return worker(args.role, args.tick_seconds, args.compose_batch)
    if args.command == "stats":
        return stats(args.json)
    if args.command == "sandbox":
        return start_sandbox(args)
    return EXIT_CONFIG  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
