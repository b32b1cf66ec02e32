"""Settings: the only code that reads the environment (and a .env file)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.text.language import language_of

DEFAULT_FEED = "https://popularresistance.org/feed/"


def _split_list(value: Any) -> Any:
    """Accept `a,b` as well as a JSON list for list settings."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Every setting of the bot; see config.example.env for what each one means."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    bot_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    feed_urls: Annotated[list[str], NoDecode] = Field(default_factory=lambda: [DEFAULT_FEED])
    database_path: Path = Path("data/headlines.sqlite3")
    # postgresql://user:pass@host:port/db (or postgres://, as Heroku writes it): PostgreSQL
    # instead of the SQLite file at database_path
    database_url: SecretStr | None = None
    poll_interval_seconds: float = Field(default=300.0, ge=1)
    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    max_topics_per_chat: int = Field(default=50, ge=1, le=1000)
    default_language: str = "en"
    feed_alert_after_seconds: float = Field(default=3600.0, ge=0)
    allow_paid_broadcast: bool = False
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    port: int = Field(default=8080, ge=1, le=65535)
    fetch_timeout_seconds: float = Field(default=20.0, gt=0)
    max_feed_bytes: int = Field(default=10_000_000, ge=1024)
    allow_private_feeds: bool = False  # /feeds add may reach loopback and private addresses
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"

    @field_validator("feed_urls", mode="before")
    @classmethod
    def _feeds_list(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _admins_list(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("feed_urls")
    @classmethod
    def _feeds_valid(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one feed URL or file path is needed")
        for url in value:
            scheme = url.split("://", 1)[0].lower() if "://" in url else ""
            if scheme and scheme not in ("http", "https", "file"):
                raise ValueError(f"{url!r} is neither an http(s) URL nor a file path")
        return value

    @field_validator("telegram_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("default_language")
    @classmethod
    def _language(cls, value: str) -> str:
        code = language_of(value, "")
        if not code:
            raise ValueError("must be a language code such as en, es or pt-BR")
        return code

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.strip().upper()
        if not isinstance(logging.getLevelName(level), int):
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("webhook_url")
    @classmethod
    def _webhook(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        # Telegram posts updates over https only: an http:// URL would start the listener
        # and then fail at setWebhook.
        parts = urlsplit(value)
        if parts.scheme.lower() != "https" or not parts.hostname:
            raise ValueError("must be an https:// URL (Telegram sends updates only over https)")
        return value

    @field_validator("database_url", mode="before")
    @classmethod
    def _database_url(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None  # empty: SQLite at DATABASE_PATH
        text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
        text = text.strip()
        scheme, sep, rest = text.partition("://")
        if not sep or scheme.lower() not in ("postgres", "postgresql"):
            # the value may hold a password: never echo it
            raise ValueError("must be a postgresql:// (or postgres://) URL")
        return SecretStr("postgresql://" + rest)

    @field_validator("metrics_port", mode="before")
    @classmethod
    def _metrics_port(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None  # empty: no status server
        return value

    @property
    def token(self) -> str:
        """The bot token (raises when missing; callers check `has_token` first)."""
        if self.bot_token is None or not self.bot_token.get_secret_value().strip():
            raise MissingTokenError
        return self.bot_token.get_secret_value().strip()

    @property
    def has_token(self) -> bool:
        """Whether a non-empty BOT_TOKEN is set."""
        return self.bot_token is not None and bool(self.bot_token.get_secret_value().strip())

    @property
    def database(self) -> str | Path:
        """What storage.open_storage() opens: the PostgreSQL URL, else the SQLite path."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return self.database_path

    @property
    def database_name(self) -> str:
        """The database, safe to print: the SQLite path, or the URL without its password."""
        if self.database_url is None:
            return str(self.database_path)
        return redact_url(self.database_url.get_secret_value())

    @property
    def base_url(self) -> str:
        """What python-telegram-bot prefixes to `<token>/<method>`."""
        return f"{self.telegram_api_url}/bot"


def redact_url(url: str) -> str:
    """A database URL with its password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


class MissingTokenError(RuntimeError):
    """BOT_TOKEN is not set."""


class SettingsError(Exception):
    """A setting has an invalid value; the message is one readable line."""


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, turning validation errors into one readable line."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            name = str(err["loc"][0]).upper() if err["loc"] else "settings"
            msg = str(err["msg"]).removeprefix("Value error, ")
            parts.append(f"{name}: {msg}")
        raise SettingsError("invalid setting " + "; ".join(parts)) from None
    except (ValueError, json.JSONDecodeError) as exc:  # a malformed JSON list
        raise SettingsError(f"invalid setting: {exc}") from None
