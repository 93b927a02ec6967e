"""Test support shared by ``tests/`` and ``bench/``: never installed, never imported by the bot.

Both the test suite and the benchmarks drive the real bot against local stand-ins, so they
need the same pieces; keeping them here (and not in ``tests/``) lets ``bench/`` use them
without importing the test suite (an import-linter contract says so).

* ``fakes``: the strict fake Telegram Bot API (``fakes.botapi.FakeBotAPI``) and its checks.
* ``feedserver``: the local HTTP server for feeds and pages, with programmable misbehaviour.
* ``launcher``: ``newsbot`` as a real subprocess (the environment it gets, ``run``, the CLI).
* ``seeding``: many set-up readers written to a database in bulk.
* ``balancer``: a round-robin load balancer with failover, in front of webhook receivers.

It is importable from the repository root (pytest's ``pythonpath = ["."]``; the benchmarks
run as ``python -m bench.x`` from there) and deliberately left out of the wheel.
"""
