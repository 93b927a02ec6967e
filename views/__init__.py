"""Pure rendering: message text, inline keyboards (the callback codec), translations, labels,
the setup flow table and input parsing. No I/O and no driver: nothing here is called by
Telegram or by the clock directly.

``views`` may import ``digest`` and ``storage`` (for their data types) and ``telegram`` (to build
markup objects, never to call the Bot API); ``handlers`` and ``push`` import it, never the
reverse.
"""
