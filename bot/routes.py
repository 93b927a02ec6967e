"""Every Telegram handler the bot has, in one table (the order is the matching order)."""

from __future__ import annotations

from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from handlers import basics
from handlers.broadcast import Broadcasts
from handlers.digests import CALLBACK_PATTERN as PAUSE_BUTTONS
from handlers.digests import Digests
from handlers.headlines import CALLBACK_PATTERN as HEADLINES_BUTTONS
from handlers.headlines import Headlines
from handlers.membership import Membership
from handlers.setup import SetupFlow
from handlers.stats import StatsHandler
from handlers.stories import CALLBACK_PATTERN as STORY_BUTTONS
from handlers.stories import Stories
from views.broadcast import CALLBACK_PATTERN as BROADCAST_BUTTONS

PRIVATE = filters.ChatType.PRIVATE


def routes(
    setup: SetupFlow,
    headlines: Headlines,
    digests: Digests,
    stats: StatsHandler,
    stories: Stories,
    broadcasts: Broadcasts,
    membership: Membership,
) -> list[BaseHandler]:
    return [
        ChatMemberHandler(membership.changed, ChatMemberHandler.MY_CHAT_MEMBER),
        CommandHandler("start", setup.start, filters=PRIVATE),
        CommandHandler("settings", setup.settings, filters=PRIVATE),
        CommandHandler("headlines", headlines.command, filters=PRIVATE),
        CommandHandler("digest", digests.digest_now, filters=PRIVATE),
        CommandHandler("pause", digests.pause, filters=PRIVATE),
        CommandHandler("resume", digests.resume, filters=PRIVATE),
        CommandHandler("help", basics.show_help, filters=PRIVATE),
        CommandHandler("stats", stats.stats, filters=PRIVATE),
        CommandHandler("broadcast", broadcasts.start_broadcast, filters=PRIVATE),
        CommandHandler("stop", setup.stop, filters=PRIVATE),
        CallbackQueryHandler(headlines.press, pattern=HEADLINES_BUTTONS),
        CallbackQueryHandler(digests.pause_chosen, pattern=PAUSE_BUTTONS),
        CallbackQueryHandler(stories.press, pattern=STORY_BUTTONS),
        CallbackQueryHandler(broadcasts.press, pattern=BROADCAST_BUTTONS),
        CallbackQueryHandler(setup.press),
        MessageHandler(PRIVATE & filters.COMMAND, basics.unknown_command),
        MessageHandler(PRIVATE & filters.TEXT & ~filters.COMMAND, setup.text),
    ]
