"""Code driven by the clock: the digest scheduler tick, the outbox sender and the pusher's lease.

Nothing here answers a Telegram update. ``push`` may import ``views`` (to render digests),
``digest`` and ``storage``, and ``telegram`` to send; it never imports ``handlers`` (its sibling)
or ``bot`` (the composition root, which builds these objects and starts their jobs).
"""
