"""What a fan-out left behind, as the e2e fan-out tests count it: the digests each chat got
from the fake Bot API, and the delivery rows per status in the database."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from newsbot_testing.fakes.botapi import FakeBotAPI
from storage.db import make_engine
from storage.tables import Delivery


def digest_sends(fake: FakeBotAPI) -> Counter[int]:
    """Successful digest messages per chat."""
    return Counter(
        int(c.params["chat_id"])
        for c in fake.calls_to("sendMessage")
        if c.status == 200 and "🗞" in str(c.params.get("text", ""))
    )


def statuses(db_url: str) -> dict[str, int]:
    """Delivery rows per status."""
    engine = make_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all()
    engine.dispose()
    return {status: count for status, count in rows}
