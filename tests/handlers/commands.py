"""The reader's command menu as Telegram should show it, in order: one list for every test
that checks the menu (setMyCommands), written out rather than read from the bot."""

READER_COMMANDS = [
    "start", "headlines", "search", "digest", "follow", "following", "settings", "pause",
    "resume", "help", "stop",
]  # fmt: skip
