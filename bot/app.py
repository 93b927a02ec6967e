"""The composition root: build every dependency once and hand it to the handlers."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.engine import Engine
from telegram import Bot, BotCommandScopeChat
from telegram.error import BadRequest
from telegram.ext import Application, ApplicationBuilder

from bot.interactive_limiter import InteractiveRateLimiter
from bot.jobs import (
    DeliveredPruning,
    schedule_broadcast_progress,
    schedule_ingest,
    schedule_pruning,
    schedule_pushes,
    schedule_related,
)
from bot.routes import routes
from bot.settings import Settings
from bot.telegraph import TelegraphPublisher
from bot.threads import widen_default_pool
from bot.update_processor import PerUserUpdateProcessor
from bot.webhook import AnsweringQueue
from digest.catalog import Catalog, load_catalog
from digest.clock import Clock, utcnow
from digest.feed_timing import FeedTiming
from digest.fetch import Fetcher
from digest.full_story import FullStoryService, make_page_fetcher
from digest.ingest import DEFAULT_RETENTION, Ingestor
from digest.related import RelatedFinder, RelatedIndex
from handlers import basics
from handlers.broadcast import Broadcasts
from handlers.digests import Digests
from handlers.follows import Follows
from handlers.headlines import Headlines
from handlers.membership import Membership
from handlers.mutes import Mutes
from handlers.search import SearchHandlers
from handlers.setup import SetupFlow
from handlers.stats import StatsHandler
from handlers.stories import Stories
from push.alerts import AlertDispatcher
from push.outbox_sender import OutboxSender
from push.push_request import PushRequest
from push.pusher import Pusher, worker_identity
from push.tick import DigestScheduler
from storage.alerts import AlertStore
from storage.article_texts import ArticleTextStore
from storage.articles import ArticleStore
from storage.broadcasts import BroadcastStore
from storage.db import make_engine, migrate
from storage.deliveries import DeliveryStore
from storage.feeds import FeedStore
from storage.follows import FollowStore
from storage.leases import LeaseStore
from storage.mutes import MuteStore
from storage.processed_updates import ProcessedUpdateStore
from storage.saved_searches import SavedSearchStore
from storage.search import ArticleSearch
from storage.stats import StatsStore
from storage.users import UserStore
from views.i18n import DEFAULT_UI_LANGUAGE, UI_LANGUAGES, translations
from views.mutes import TYPING_WORD

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member", "inline_query"]


@dataclass(frozen=True)
class Services:
    """What the running bot is made of; tests build it the same way the CLI does."""

    settings: Settings
    catalog: Catalog
    engine: Engine
    users: UserStore
    feeds: FeedStore
    articles: ArticleStore
    deliveries: DeliveryStore
    leases: LeaseStore


@dataclass(frozen=True)
class BotParts:
    """The application and the pieces tests drive directly (with their own clock)."""

    application: Application
    pusher: Pusher
    broadcasts: Broadcasts


def build_services(settings: Settings) -> Services:
    """Load the catalog, open the database and bring its schema up to date."""
    catalog = load_catalog(settings.newsbot_catalog)
    engine = make_engine(settings.database_url)
    migrate(engine)
    return Services(
        settings=settings,
        catalog=catalog,
        engine=engine,
        users=UserStore(engine),
        feeds=FeedStore(engine),
        articles=ArticleStore(engine),
        deliveries=DeliveryStore(engine),
        leases=LeaseStore(engine),
    )


def build_ingestor(services: Services, fetcher: Fetcher, clock: Clock = utcnow) -> Ingestor:
    """The ingest pass with keyword alerts after it (``push.alerts``)."""
    timing = FeedTiming(refresh=timedelta(seconds=services.settings.feed_refresh_seconds))
    alerts = AlertDispatcher(
        FollowStore(services.engine), AlertStore(services.engine), services.catalog
    )
    return Ingestor(
        services.catalog, services.feeds, services.articles, fetcher, timing=timing,
        clock=clock, after_pass=alerts,
    )  # fmt: skip


def build_bot(
    services: Services,
    clock: Clock = utcnow,
    *,
    run_jobs: bool = True,
    receive_only: bool = False,
    reply_pacing: InteractiveRateLimiter | None = None,
) -> BotParts:
    """The PTB application, pointed at ``TELEGRAM_API_BASE_URL``, with every route and job.

    ``reply_pacing`` replaces Telegram's pace for replies (1 message a second per chat): tests
    that are not about pacing talk to a fake that has no such limit and need not wait for it.

    ``receive_only`` (``newsbot run --receive-only``) answers updates and nothing else: no job
    (fetch, tick, outbox, pruning) and no send started by a handler (/digest and a confirmed
    broadcast only queue outbox rows, for the process that sends)."""
    settings = services.settings
    if settings.telegram_bot_token is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is required")
    token = settings.telegram_bot_token.get_secret_value()
    fetcher = Fetcher()
    page_fetcher = make_page_fetcher(settings.allow_private_networks)
    full_stories = FullStoryService(
        services.articles, ArticleTextStore(services.engine), page_fetcher, clock=clock
    )
    related = RelatedFinder(services.articles, RelatedIndex(), clock=clock)
    # Pushes pace and retry themselves (the outbox records it), so their bot has no rate limiter;
    # its timeouts fit Telegram's send latency and tell "not sent" from "maybe delivered".
    push_bot = Bot(token, base_url=settings.telegram_api_base_url, request=PushRequest())
    scheduler = DigestScheduler(
        services.users, services.articles, services.deliveries, services.catalog,
        mutes=MuteStore(services.engine),
    )  # fmt: skip
    worker = worker_identity()
    sender = OutboxSender(
        push_bot, services.deliveries, services.users, worker_id=worker,
        max_rate=settings.send_max_rate, paid_rate=settings.broadcast_max_rate, clock=clock,
    )  # fmt: skip
    pusher = Pusher(scheduler, sender, services.leases, services.deliveries, worker, clock)
    wake_sender = _nothing if receive_only else pusher.drain
    processed = ProcessedUpdateStore(services.engine)
    updates = AnsweringQueue()  # the webhook answers Telegram once an update is handled
    processor = PerUserUpdateProcessor(
        64, processed=processed, worker=worker, clock=clock, on_finished=updates.finished
    )
    updates.on_timeout = processor.park

    async def post_init(application: Application) -> None:
        widen_default_pool()
        await push_bot.initialize()
        await _register_commands(application, settings.admin_ids, services.users)
        if receive_only:
            log.info("receive-only: this process runs no background jobs and sends nothing")
        if not run_jobs or receive_only:
            return
        schedule_pushes(application, pusher)
        schedule_related(application, related)
        schedule_broadcast_progress(application, broadcasts)
        pruning = DeliveredPruning(
            services.deliveries, DEFAULT_RETENTION, clock, processed,
            AlertStore(services.engine),
        )  # fmt: skip
        schedule_pruning(application, pruning)
        if settings.feed_fetch_enabled:
            schedule_ingest(
                application, build_ingestor(services, fetcher, clock), settings.feed_refresh_seconds
            )

    async def post_shutdown(application: Application) -> None:
        await pusher.release()
        await fetcher.aclose()
        await page_fetcher.aclose()
        await push_bot.shutdown()

    application = (
        ApplicationBuilder()
        .token(token)
        .base_url(settings.telegram_api_base_url)
        .rate_limiter(reply_pacing or InteractiveRateLimiter())
        .update_queue(updates)
        .concurrent_updates(processor)
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .build()
    )
    processor.adopt_orphans_into(updates, application.bot)
    mute_store = MuteStore(services.engine)
    mutes = Mutes(services.users, mute_store, services.articles, services.catalog)
    setup = SetupFlow(
        services.users, services.catalog, clock, settings.admin_ids,
        typed_inputs={TYPING_WORD: mutes.receive_muted_word},
    )  # fmt: skip
    headlines = Headlines(services.users, services.articles, services.catalog, clock, mute_store)
    follow_store = FollowStore(services.engine)
    digests = Digests(
        services.users, scheduler.on_demand, wake_sender, clock,
        follows_of=lambda user_id: len(follow_store.for_user(user_id)),
    )  # fmt: skip
    stats = StatsHandler(
        StatsStore(services.engine), services.users, settings.admin_ids,
        refresh=timedelta(seconds=settings.feed_refresh_seconds), clock=clock,
    )  # fmt: skip
    broadcasts = Broadcasts(
        BroadcastStore(services.engine), services.deliveries, services.catalog,
        settings.admin_ids, users=services.users, max_rate=settings.broadcast_max_rate,
        wake_sender=wake_sender, clock=clock,
    )  # fmt: skip
    telegraph = (
        TelegraphPublisher(settings.telegraph_token.get_secret_value(), settings.telegraph_api_url)
        if settings.telegraph_token is not None
        else None
    )
    stories = Stories(
        services.users, services.articles, services.catalog, full_stories, related, clock,
        long_form=telegraph.page_url if telegraph is not None else None,
    )  # fmt: skip
    membership = Membership(services.users, clock)
    search = SearchHandlers(
        services.users, services.articles, ArticleSearch(services.engine),
        SavedSearchStore(services.engine), services.catalog, clock,
        mutes=mute_store.sources_and_words,
    )  # fmt: skip
    follows = Follows(services.users, follow_store)
    application.add_handlers(
        routes(setup, headlines, digests, stats, stories, broadcasts, membership, search,
               follows, mutes)
    )  # fmt: skip
    application.add_error_handler(basics.on_error)
    return BotParts(application=application, pusher=pusher, broadcasts=broadcasts)


async def _nothing() -> None:
    """A receive-only process wakes no sender: the sending process polls its outbox."""


async def _register_commands(
    application: Application, admin_ids: frozenset[int], users: UserStore
) -> None:
    """setMyCommands: the default list plus one per UI language that has a translation, and
    for each admin (BotCommandScopeChat) the list with /stats and /broadcast in the admin's own
    language of the bot, so admins see them in their menu and readers never do. An admin who
    never opened the chat cannot get a chat scope yet ("chat not found"): they get it at their
    first /start (SetupFlow); a refusal anyway is logged and the rest is still set."""
    bot = application.bot
    await bot.set_my_commands(basics.bot_commands(DEFAULT_UI_LANGUAGE))
    for language in UI_LANGUAGES:
        if language != DEFAULT_UI_LANGUAGE and translations(language).info():
            await bot.set_my_commands(basics.bot_commands(language), language_code=language)
    for admin in sorted(admin_ids):
        reader = await asyncio.to_thread(users.get, admin)
        if reader is None:  # never opened the chat: their /start sets the menu (handlers.setup)
            log.info("admin %d has not started the bot yet: no command menu", admin)
            continue
        language = reader.ui_language
        try:
            commands = basics.bot_commands(language, admin=True)
            await bot.set_my_commands(commands, BotCommandScopeChat(admin))
        except BadRequest as error:
            log.warning("admin %d: no command menu yet (%s)", admin, error.message)
    log.info("bot @%s is ready", application.bot.username)
