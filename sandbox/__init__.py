"""``newsbot sandbox``: the real bot against a local Bot API, and a web chat page to drive it.

Nobody has to register a bot with BotFather to see newsbot work: the sandbox runs the very
application ``newsbot run`` runs (``bot.app.build_services`` / ``build_bot``: the handlers, the
JobQueue jobs, the scheduler, the outbox, ingest), pointed at the strict fake Bot API the tests
use (one implementation of Telegram's rules), and serves a page on 127.0.0.1 that looks and
behaves like a Telegram chat: several simulated users, inline and reply keyboards, edits in
place, photos, the command menu, and a clock to move time to the next digest.

* ``runner``: the ``newsbot sandbox`` command: settings, the bot's event loop, start and stop.
* ``hub``: what the page shows, kept from the fake's calls (messages, toasts, commands, users).
* ``web``: the page's HTTP server (static files, a small JSON API, server-sent events).
* ``clock``: the sandbox's movable clock, the same ``digest.clock.Clock`` seam tests use.
* ``news``: ``--offline`` sample feeds and article pages, served locally with a catalog for them.
"""
