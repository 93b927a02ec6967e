"""Every Telegram handler the bot has, in one table (the order is the matching order)."""

from __future__ import annotations

from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    InlineQueryHandler,
    MessageHandler,
    filters,
)

from handlers import basics
from handlers.broadcast import Broadcasts
from handlers.digests import CALLBACK_PATTERN as PAUSE_BUTTONS
from handlers.digests import Digests
from handlers.follows import CALLBACK_PATTERN as FOLLOWING_BUTTONS
from handlers.follows import Follows
from handlers.headlines import CALLBACK_PATTERN as HEADLINES_BUTTONS
from handlers.headlines import Headlines
from handlers.membership import Membership
from handlers.mutes import CALLBACK_PATTERN as MUTE_BUTTONS
from handlers.mutes import Mutes
from handlers.search import SearchHandlers
from handlers.setup import SetupFlow
from handlers.stats import StatsHandler
from handlers.stories import CALLBACK_PATTERN as STORY_BUTTONS
from handlers.stories import Stories
from views.broadcast import CALLBACK_PATTERN as BROADCAST_BUTTONS
from views.search import CALLBACK_PATTERN as SEARCH_BUTTONS
from views.search import DEEP_LINK_PREFIX

SHARED_STORY = filters.Regex(rf"^/start {DEEP_LINK_PREFIX}")

PRIVATE = filters.ChatType.PRIVATE


def routes(
    setup: SetupFlow,
    headlines: Headlines,
    digests: Digests,
    stats: StatsHandler,
    stories: Stories,
    broadcasts: Broadcasts,
    membership: Membership,
    search: SearchHandlers,
    follows: Follows,
    mutes: Mutes,
) -> list[BaseHandler]:
    base = basics.Basics(setup.users)
    return [
        ChatMemberHandler(membership.record_block_status, ChatMemberHandler.MY_CHAT_MEMBER),
        CommandHandler("start", stories.open_shared_story, filters=PRIVATE & SHARED_STORY),
        CommandHandler("start", setup.start_setup, filters=PRIVATE),
        CommandHandler("settings", setup.show_settings, filters=PRIVATE),
        CommandHandler("headlines", headlines.show_headlines, filters=PRIVATE),
        CommandHandler("search", search.search_stories, filters=PRIVATE),
        CommandHandler("digest", digests.send_digest_now, filters=PRIVATE),
        CommandHandler("pause", digests.offer_pause, filters=PRIVATE),
        CommandHandler("resume", digests.resume_digests, filters=PRIVATE),
        CommandHandler("follow", follows.follow_phrase, filters=PRIVATE),
        CommandHandler("following", follows.show_following, filters=PRIVATE),
        CommandHandler("help", base.show_help, filters=PRIVATE),
        CommandHandler("stats", stats.show_stats, filters=PRIVATE),
        CommandHandler("broadcast", broadcasts.start_broadcast, filters=PRIVATE),
        CommandHandler("stop", setup.stop_deliveries, filters=PRIVATE),
        CallbackQueryHandler(headlines.answer_headlines_button, pattern=HEADLINES_BUTTONS),
        CallbackQueryHandler(digests.answer_pause_button, pattern=PAUSE_BUTTONS),
        CallbackQueryHandler(search.answer_search_button, pattern=SEARCH_BUTTONS),
        InlineQueryHandler(search.answer_inline_query),
        CallbackQueryHandler(stories.answer_story_button, pattern=STORY_BUTTONS),
        CallbackQueryHandler(follows.answer_following_button, pattern=FOLLOWING_BUTTONS),
        CallbackQueryHandler(mutes.answer_mute_button, pattern=MUTE_BUTTONS),
        CallbackQueryHandler(broadcasts.answer_broadcast_button, pattern=BROADCAST_BUTTONS),
        CallbackQueryHandler(setup.answer_setup_button),
        MessageHandler(PRIVATE & filters.COMMAND, base.answer_unknown_command),
        MessageHandler(PRIVATE & filters.TEXT & ~filters.COMMAND, setup.receive_typed_text),
    ]
