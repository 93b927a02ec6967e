"""Database tables. Only storage modules import this; everyone else gets plain dataclasses.

A reader's preferences are rows rather than a JSON blob so that later features (segmented
broadcasts, "who reads source X", composing one digest per distinct preference set) are plain
indexed SQL. Every child row cascades on user deletion so that /stop → delete leaves nothing behind.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

metadata = SQLModel.metadata


def utcnow() -> datetime:
    """Timezone-aware now in UTC (naive datetimes are how time zone bugs start)."""
    return datetime.now(UTC)


def _user_fk() -> Column[int]:
    return Column(
        "user_id",
        BigInteger,
        ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    )


class User(SQLModel, table=True):
    """A Telegram user who has talked to the bot, with where they are in the setup flow."""

    __tablename__ = "users"
    # the digest tick claims due readers oldest due first, ties by id: with 100,000 readers due
    # in one minute, an index on the due time alone left every batch to sort all of them
    __table_args__ = (Index("ix_users_next_due_id", "next_due_at", "id"),)

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    first_name: str | None = Field(default=None, max_length=128)
    ui_language: str = Field(default="en", max_length=8)
    timezone: str | None = Field(default=None, max_length=64)
    flow_step: str | None = Field(default=None, max_length=32)
    flow_mode: str = Field(default="setup", max_length=16)
    menu_message_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    setup_complete: bool = Field(default=False)
    active: bool = Field(default=True)
    paused: bool = Field(default=False)
    paused_until: datetime | None = None
    next_due_at: datetime | None = None
    quiet_start: int | None = None
    quiet_end: int | None = None
    stories_per_digest: int = Field(default=5)
    empty_digest: str = Field(default="skip", max_length=8)
    # the five preference tables below as one text (``storage.due_readers``), refreshed by
    # whatever writes them: the digest tick reads 100,000 readers, one column each rather than
    # five aggregates; NULL = not computed (read from the tables instead)
    preferences: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class UserCountry(SQLModel, table=True):
    """A country the user follows; exactly one per user is primary."""

    __tablename__ = "user_countries"

    user_id: int = Field(sa_column=_user_fk())
    country: str = Field(primary_key=True, max_length=8)
    is_primary: bool = Field(default=False)
    position: int = Field(default=0, sa_column=Column(Integer, nullable=False, default=0))


class UserLanguage(SQLModel, table=True):
    """A news language chosen for one of the user's countries; one primary per country."""

    __tablename__ = "user_languages"

    user_id: int = Field(sa_column=_user_fk())
    country: str = Field(primary_key=True, max_length=8)
    language: str = Field(primary_key=True, max_length=8)
    is_primary: bool = Field(default=False)


class UserSource(SQLModel, table=True):
    """A news source chosen for one of the user's countries; one primary per country."""

    __tablename__ = "user_sources"

    user_id: int = Field(sa_column=_user_fk())
    country: str = Field(primary_key=True, max_length=8)
    source_id: str = Field(primary_key=True, max_length=64)
    is_primary: bool = Field(default=False)


class UserCategory(SQLModel, table=True):
    """A digest category the user subscribed to."""

    __tablename__ = "user_categories"

    user_id: int = Field(sa_column=_user_fk())
    category: str = Field(primary_key=True, max_length=16)


class UserDeliveryTime(SQLModel, table=True):
    """A local time of day (minutes after midnight) at which the user wants digests."""

    __tablename__ = "user_delivery_times"

    user_id: int = Field(sa_column=_user_fk())
    minute: int = Field(primary_key=True)


def _id_column() -> Column[int]:
    """64-bit ids on PostgreSQL; SQLite only auto-increments a column typed exactly INTEGER."""
    return Column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )


class FeedState(SQLModel, table=True):
    """One catalog feed and its health: what the next conditional GET sends, and when it is due."""

    __tablename__ = "feeds"
    __table_args__ = (UniqueConstraint("source_id", "url", name="uq_feeds_source_url"),)

    id: int | None = Field(default=None, sa_column=_id_column())
    source_id: str = Field(max_length=64, index=True)
    url: str = Field(max_length=2048)
    category: str = Field(max_length=16)
    etag: str | None = Field(default=None, max_length=512)
    last_modified: str | None = Field(default=None, max_length=128)
    last_fetch_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = Field(default=None, max_length=300)
    consecutive_failures: int = 0
    items_seen: int = 0
    next_fetch_at: datetime = Field(default_factory=utcnow, index=True)
    # A fetch worker's claim (`newsbot worker --role fetch`): held while it fetches the feed,
    # renewed meanwhile, cleared when the fetch is recorded; a dead worker's claim expires.
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_until: datetime | None = None


class Article(SQLModel, table=True):
    """One story from one source; the same story from other sources shares ``cluster_id``."""

    __tablename__ = "articles"
    __table_args__ = (
        UniqueConstraint("source_id", "entry_key", name="uq_articles_source_entry"),
        Index("ix_articles_source_language_published", "source_id", "language", "published_at"),
        Index("ix_articles_language_published", "language", "published_at"),
    )

    id: int | None = Field(default=None, sa_column=_id_column())
    source_id: str = Field(max_length=64)
    entry_key: str = Field(max_length=600)
    url: str = Field(max_length=2048)
    title: str = Field(max_length=500)
    summary: str = Field(default="", max_length=1000)
    image_url: str | None = Field(default=None, max_length=2048)
    language: str = Field(max_length=8)
    published_at: datetime
    first_seen_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    cluster_id: int | None = Field(default=None, sa_column=Column(BigInteger, index=True))


class ArticleCategory(SQLModel, table=True):
    """A category an article belongs to (one article may come from several category feeds)."""

    __tablename__ = "article_categories"

    article_id: int = Field(
        sa_column=Column(
            BigInteger().with_variant(Integer, "sqlite"),
            ForeignKey("articles.id", ondelete="CASCADE"),
            primary_key=True,
            autoincrement=False,
        )
    )
    category: str = Field(primary_key=True, max_length=16, index=True)


ALERT_KIND = "alert"  # ``Delivery.kind`` of keyword alerts (pausing cancels the held ones)


class Delivery(SQLModel, table=True):
    """The outbox: one row per push (digest or broadcast) to one chat, written before sending.

    ``(user_id, kind, slot_key)`` is unique, so enqueueing the same digest slot twice is a no-op
    and a restart neither loses nor repeats a push. ``status`` moves pending → sending → sent (or
    failed / blocked / cancelled); a row stuck in ``sending`` after a crash is claimed again.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("user_id", "kind", "slot_key", name="uq_deliveries_user_kind_slot"),
        Index("ix_deliveries_status_next_attempt", "status", "next_attempt_at"),
        # Only broadcast rows: every lookup by broadcast is ``broadcast_id = x``, which both
        # databases answer from a partial index, and the digest tick's 200,000 rows (NULL
        # here) no longer each write an index entry nobody reads (0.15-0.2 s of its CPU).
        Index(
            "ix_deliveries_broadcast_id",
            "broadcast_id",
            sqlite_where=text("broadcast_id IS NOT NULL"),
            postgresql_where=text("broadcast_id IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, sa_column=_id_column())
    user_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    kind: str = Field(max_length=16)
    slot_key: str = Field(max_length=64)
    broadcast_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    payload: dict[str, object] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow)
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_at: datetime | None = None
    sent_at: datetime | None = None
    message_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    last_error: str | None = Field(default=None, max_length=300)
    created_at: datetime = Field(default_factory=utcnow)
    # A digest's message is shared (``digest_payloads``); ``payload`` is then left empty.
    digest_id: int | None = Field(default=None, sa_column=Column(BigInteger))


class DigestPayload(SQLModel, table=True):
    """One composed digest message, shared by every outbox row that sends it.

    Readers with the same selection, history and language get the same digest: storing its
    message once (not once per reader) keeps a 100,000-reader tick to a few thousand payloads,
    and ``story_keys`` is what those readers have then received in ``category``.
    """

    __tablename__ = "digest_payloads"

    id: int | None = Field(default=None, sa_column=_id_column())
    category: str = Field(max_length=16)
    story_keys: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    payload: dict[str, object] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, index=True)


class DeliveredArticle(SQLModel, table=True):
    """A story a reader has received in a category: digests never repeat it there."""

    __tablename__ = "delivered_articles"

    user_id: int = Field(sa_column=_user_fk())
    category: str = Field(primary_key=True, max_length=16)
    article_id: int = Field(
        sa_column=Column(BigInteger, primary_key=True, autoincrement=False, nullable=False)
    )
    delivered_at: datetime = Field(default_factory=utcnow, index=True)


class Lease(SQLModel, table=True):
    """A named lease held by one process (e.g. the scheduler), renewed while it lives."""

    __tablename__ = "leases"

    name: str = Field(primary_key=True, max_length=32)
    holder: str = Field(max_length=64)
    expires_at: datetime


class ArticleText(SQLModel, table=True):
    """The extracted full text of one article, or why there is none: fetched once, for everyone.

    No foreign key to ``articles``: article pruning and text pruning then need no ordering, and a
    text outliving its article for a while is harmless (nothing can reach it without the article).
    ``fetched_at`` is indexed for pruning and for the age of a cached failure.
    """

    __tablename__ = "article_texts"

    article_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    status: str = Field(max_length=8)
    reason: str | None = Field(default=None, max_length=32)
    title: str = Field(default="", max_length=500)
    author: str | None = Field(default=None, max_length=200)
    published_at: datetime | None = None
    paragraphs: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    final_url: str = Field(default="", max_length=2048)
    fetched_at: datetime = Field(default_factory=utcnow, index=True)


class SavedSearch(SQLModel, table=True):
    """A reader's /search words, kept so its Previous/Next buttons carry only this row's id (a
    query in any script would not fit 64 bytes of callback data). Pruned after a day."""

    __tablename__ = "saved_searches"

    id: int | None = Field(default=None, sa_column=_id_column())
    user_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    query: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, index=True)


class ProcessedUpdate(SQLModel, table=True):
    """A Telegram update some process has taken on, so a redelivery (Telegram retrying a webhook,
    a second receiver behind the load balancer) is dropped. ``received_at`` is indexed for the
    daily prune: Telegram keeps an update at most 24 hours, so older ids can never come back.

    ``taken_by`` / ``taken_at`` say which process is handling it (renewed while it works), and
    ``done_at`` that it was handled: a copy of an update whose taker went silent before it was
    done is handled again instead of dropped (a receiver killed mid-update loses nothing).
    ``payload`` holds the update's JSON while Telegram was answered before it was done (a slow
    handler), so a live process can adopt it if its taker dies: no copy will come then."""

    __tablename__ = "processed_updates"

    update_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    received_at: datetime = Field(default_factory=utcnow, index=True)
    taken_by: str | None = Field(default=None, max_length=64)
    taken_at: datetime | None = None
    done_at: datetime | None = None
    payload: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class Broadcast(SQLModel, table=True):
    """An admin's message to many readers: a draft until confirmed, then sent via the outbox.

    ``status`` moves draft → queued → sending → done, or to cancelled from any of the first three.
    The partial unique index below lets at most one broadcast be ``sending``: two confirmed at once
    queue up behind each other, and the database, not a process, decides which one goes first.
    ``progress_text`` is the text last put on the admin's progress message, so an edit is made
    only when it changes something (after a restart too, and from any process); ``reported_at``
    says the final report is on screen, so the progress job can forget the broadcast.
    """

    __tablename__ = "broadcasts"

    id: int | None = Field(default=None, sa_column=_id_column())
    admin_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    admin_chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    admin_language: str = Field(default="en", max_length=8)
    status: str = Field(default="draft", max_length=16)
    audience_kind: str | None = Field(default=None, max_length=16)
    audience_value: str | None = Field(default=None, max_length=16)
    payload: dict[str, object] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    total: int = 0
    progress_message_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    progress_text: str | None = Field(default=None, max_length=4096)
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    reported_at: datetime | None = None


_BROADCAST_STATUS = Broadcast.__table__.c.status  # type: ignore[attr-defined]
Index(
    "uq_broadcasts_one_sending",
    _BROADCAST_STATUS,
    unique=True,
    sqlite_where=_BROADCAST_STATUS == "sending",
    postgresql_where=_BROADCAST_STATUS == "sending",
)


def _user_ref() -> Column[int]:
    """A reader's id in a table with its own primary key; rows go with the reader."""
    return Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)


class FollowedPhrase(SQLModel, table=True):
    """A phrase a reader follows (/follow): new stories containing it are pushed as alerts.

    ``phrase`` is what the reader typed (shown back to them), ``key`` its normalised tokens
    (``digest.phrases.phrase_key``): unique per reader, and indexed because a fetch pass looks
    up the followers of the phrases it found."""

    __tablename__ = "followed_phrases"
    __table_args__ = (
        UniqueConstraint("user_id", "key", name="uq_followed_phrases_user_key"),
        Index("ix_followed_phrases_key", "key"),
    )

    id: int | None = Field(default=None, sa_column=_id_column())
    user_id: int = Field(sa_column=_user_ref())
    phrase: str = Field(max_length=64)
    key: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class MutedSource(SQLModel, table=True):
    """A source a reader never wants to see (digests, headlines, alerts, search)."""

    __tablename__ = "muted_sources"

    user_id: int = Field(sa_column=_user_fk())
    source_id: str = Field(primary_key=True, max_length=64)


class MutedWord(SQLModel, table=True):
    """A word or phrase whose stories a reader never wants to see; ``key`` as for phrases."""

    __tablename__ = "muted_words"
    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_muted_words_user_key"),)

    id: int | None = Field(default=None, sa_column=_id_column())
    user_id: int = Field(sa_column=_user_ref())
    word: str = Field(max_length=64)
    key: str = Field(max_length=200)


class SentAlert(SQLModel, table=True):
    """A story a reader has been alerted to: never twice (the primary key is the dedupe).
    ``story_key`` is the story's cluster id, else its article id, as for digests."""

    __tablename__ = "sent_alerts"

    user_id: int = Field(sa_column=_user_fk())
    story_key: int = Field(
        sa_column=Column(BigInteger, primary_key=True, autoincrement=False, nullable=False)
    )
    created_at: datetime = Field(default_factory=utcnow, index=True)
