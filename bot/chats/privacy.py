"""What /export hands a chat: everything the bot keeps about it, as a small JSON document (pure)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from storage.models import Chat, Subscription

if TYPE_CHECKING:  # the module stays pure: no database driver imported
    from storage.models import ChatPreferences

EXPORT_VERSION = 1


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def export_document(
    chat: Chat | None,
    topics: Sequence[Subscription],
    *,
    settings: Mapping[str, Any] | None = None,
    exported_at: float,
) -> dict[str, Any]:
    """The export as a JSON-ready dict: the chat as stored, its topics and its settings."""
    chat_part: dict[str, Any] | None = None
    if chat is not None:
        chat_part = {
            "id": chat.id,
            "kind": str(chat.kind),
            "title": chat.title,
            "username": chat.username,
            "is_forum": chat.is_forum,
            "pushes": "on" if chat.active else "off",
            "paused_because": chat.inactive_reason,
        }
    topic_rows = []
    for sub in topics:
        row = {k: v for k, v in dataclasses.asdict(sub).items() if k != "chat_id"}
        row["mute"] = sub.topic.startswith("-")
        topic_rows.append(row)
    return {
        "format": "headline-bot export",
        "version": EXPORT_VERSION,
        "exported_at": _iso(exported_at),
        "chat": chat_part,
        "topics": topic_rows,
        "settings": dict(settings or {}),
    }


def export_json(document: Mapping[str, Any]) -> bytes:
    """The export as UTF-8 JSON, indented for reading."""
    return (json.dumps(document, ensure_ascii=False, indent=2, default=str) + "\n").encode()


def export_filename(chat_id: int) -> str:
    """The document's file name."""
    return f"headline-bot-{str(chat_id).replace('-', 'm')}.json"


def settings_export(settings: ChatPreferences) -> dict[str, Any]:
    """A chat's settings as the export shows them (the defaults too, when it never chose)."""
    return {
        "digest": [f"{t.hour:02d}:{t.minute:02d}" for t in settings.digest_times] or "off",
        "timezone": settings.timezone,
        "quiet": (
            f"{settings.quiet_start:%H:%M}-{settings.quiet_end:%H:%M}"
            if settings.quiet_start is not None and settings.quiet_end is not None
            else "off"
        ),
        "language": settings.language,
        "format": str(settings.format),
        "previews": "on" if settings.previews else "off",
        "last_digest_at": (
            _iso(settings.last_digest_at) if settings.last_digest_at is not None else None
        ),
    }
