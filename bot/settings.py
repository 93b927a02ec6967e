"""Operator settings from the environment and `.env` (the names are the contract, DESIGN §4)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Everything an operator can configure. The token is a SecretStr so it never prints."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    telegram_bot_token: SecretStr | None = Field(default=None, alias="TELEGRAM_BOT_TOKEN")
    telegram_api_base_url: str = Field(
        default="https://api.telegram.org/bot", alias="TELEGRAM_API_BASE_URL"
    )
    database_url: str = Field(default="sqlite:///newsbot.db", alias="DATABASE_URL")
    newsbot_catalog: Path | None = Field(default=None, alias="NEWSBOT_CATALOG")
    admin_ids: Annotated[frozenset[int], NoDecode] = Field(default=frozenset(), alias="ADMIN_IDS")
    feed_refresh_seconds: int = Field(default=900, ge=60, alias="FEED_REFRESH_SECONDS")
    feed_fetch_enabled: bool = Field(default=True, alias="FEED_FETCH_ENABLED")
    send_max_rate: float = Field(default=30.0, gt=0, le=1000, alias="SEND_MAX_RATE")
    broadcast_max_rate: float = Field(default=30.0, gt=0, le=1000, alias="BROADCAST_MAX_RATE")
    allow_private_networks: bool = Field(default=False, alias="ALLOW_PRIVATE_NETWORKS")
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")
    webhook_listen: str = Field(default="0.0.0.0:8443", alias="WEBHOOK_LISTEN")
    webhook_secret: SecretStr | None = Field(default=None, alias="WEBHOOK_SECRET")
    # A Telegraph account's token: long stories also get a one-page version on telegra.ph.
    telegraph_token: SecretStr | None = Field(default=None, alias="TELEGRAPH_TOKEN")
    telegraph_api_url: str = Field(default="https://api.telegra.ph", alias="TELEGRAPH_API_URL")

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_admin_ids(cls, value: object) -> object:
        """ADMIN_IDS is "1, 2,3" in the environment; also accept a list from code."""
        if isinstance(value, str):
            return frozenset(int(part) for part in value.replace(" ", "").split(",") if part)
        if isinstance(value, int):
            return frozenset({value})
        return value

    @field_validator("webhook_secret", mode="before")
    @classmethod
    def _secret_charset(cls, value: object) -> object:
        """Telegram's rule for secret_token: 1-256 of A-Z a-z 0-9 _ - (empty: derive one)."""
        if value is None or value == "":
            return None
        shown = value.get_secret_value() if isinstance(value, SecretStr) else value
        if not isinstance(shown, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", shown):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("telegraph_token", mode="before")
    @classmethod
    def _empty_telegraph_token_is_off(cls, value: object) -> object:
        """``TELEGRAPH_TOKEN=`` (as in .env.example) means no Telegraph pages."""
        return None if value is None or (isinstance(value, str) and not value.strip()) else value

    @field_validator("newsbot_catalog", mode="before")
    @classmethod
    def _empty_catalog_is_default(cls, value: object) -> object:
        return None if value == "" else value
