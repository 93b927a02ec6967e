"""Database tables. Only storage modules import this; everyone else gets plain dataclasses.

A reader's preferences are rows rather than a JSON blob so that later features (segmented
broadcasts, "who reads source X", composing one digest per distinct preference set) are plain
indexed SQL. Every child row cascades on user deletion so that /stop → delete leaves nothing behind.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Column, ForeignKey, Integer
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
