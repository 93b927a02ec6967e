"""Code driven by a Telegram update: one class (or module) per feature, routed by bot/routes.py.

Handler methods are named ``verb_noun`` after what they answer (``show_headlines``,
``press_setup_button``), so the routes table reads as a list of what the bot does.

Database calls never block the event loop. Every call that reaches the database from a handler
(a store method, or digest or push code that reads or writes through one, such as
``top_stories`` or the on-demand digest queue) runs in a worker thread as
``await asyncio.to_thread(fn, *args)``. Where several calls belong together, a plain synchronous
method of the handler makes them and is itself called through ``asyncio.to_thread``; such a
method does no Telegram I/O and says in its docstring that it runs in a worker thread. While one
reader's query waits, the loop serves every other reader. Order is kept: one reader's updates
are handled one at a time (bot/update_processor.py), so a reader's writes still apply in the
order of their taps; only different readers' calls interleave, as they always could.
"""
