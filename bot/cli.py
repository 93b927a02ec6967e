"""``newsbot``: the operator's entry point (also ``python -m bot``)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from bot.app import ALLOWED_UPDATES, build_application, build_services
from bot.logging_setup import setup_logging
from bot.settings import Settings
from digest.catalog import CatalogError
from storage.errors import StorageError

log = logging.getLogger("newsbot")

EXIT_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsbot", description="A Telegram bot that delivers news digests."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands.add_parser("run", help="run the bot (long polling) until interrupted")
    return parser


def _fail(message: str) -> int:
    print(f"newsbot: {message}", file=sys.stderr)
    return EXIT_CONFIG


def run() -> int:
    """Start the bot; configuration problems are one line on stderr and exit code 2."""
    try:
        settings = Settings()
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors()
        )
        return _fail(f"invalid settings ({problems}); see .env.example")
    if settings.telegram_bot_token is None or not settings.telegram_bot_token.get_secret_value():
        return _fail(
            "TELEGRAM_BOT_TOKEN is not set: put it in the environment or in .env (see .env.example)"
        )
    token = settings.telegram_bot_token.get_secret_value()
    setup_logging(settings.log_level, token)
    try:
        services = build_services(settings)
    except (CatalogError, StorageError) as e:
        return _fail(str(e))
    log.info("catalog %s: %d sources", services.catalog.path, len(services.catalog.sources))
    application = build_application(services)
    application.run_polling(allowed_updates=ALLOWED_UPDATES)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "run":
        return run()
    return EXIT_CONFIG  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
