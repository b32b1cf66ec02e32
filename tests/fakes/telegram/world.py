"""The simulated world: the bot, users, chats and their members, messages, pending updates.

World is one part of FakeTelegram (see server.py). Besides its own state it reads which
chats the bot was kicked from, and a membership or migration update applied to the world
also scripts the matching fault (block, kick, migrate_chat: faults.py); push_update wakes
the server's long polls.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import defaultdict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.telegram.protocol import (
    BOT_FIRST_NAME,
    BOT_ID,
    BOT_USERNAME,
    DEFAULT_USER_ID,
    ApiError,
    Json,
)

__all__ = ["FakeFile", "StoredMessage", "World"]

_DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_ADMIN_RIGHTS = (
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_post_messages",
    "can_edit_messages",
    "can_pin_messages",
    "can_manage_topics",
)
_RESTRICTED_FIELDS = (
    "can_change_info",
    "can_invite_users",
    "can_pin_messages",
    "can_send_messages",
    "can_send_polls",
    "can_send_other_messages",
    "can_add_web_page_previews",
    "can_manage_topics",
    "can_send_audios",
    "can_send_documents",
    "can_send_photos",
    "can_send_videos",
    "can_send_video_notes",
    "can_send_voice_notes",
    "can_edit_tag",
)


@dataclass(frozen=True, slots=True)
class FakeFile:
    """A file the fake holds: a user's document, or one the bot uploaded."""

    file_id: str
    file_unique_id: str
    data: bytes
    file_name: str | None
    mime_type: str | None
    file_path: str

    def document(self) -> Json:
        """The Document object Telegram shows for it."""
        out: Json = {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.data),
        }
        if self.file_name is not None:
            out["file_name"] = self.file_name
        if self.mime_type is not None:
            out["mime_type"] = self.mime_type
        return out


@dataclass
class StoredMessage:
    """The current state of one message in the simulated world."""

    chat_id: int
    message_id: int
    date: int
    from_bot: bool
    kind: str = "text"
    text: str | None = None  # as Telegram shows it: entities parsed
    html: str | None = None  # as the bot sent it
    parse_mode: str | None = None
    caption: str | None = None
    caption_html: str | None = None
    reply_markup: Json | None = None
    message_thread_id: int | None = None
    copied_from: tuple[int, int] | None = None
    photo: str | None = None  # a photo sent by URL: the URL (or file_id) it was given
    photo_size: tuple[int, int] | None = None  # what the fetched picture measured
    deleted: bool = False
    edit_count: int = 0
    data: Json = field(default_factory=dict)  # the Message object last returned for it

    @property
    def source(self) -> str | None:
        """The text or caption exactly as sent (HTML markup included)."""
        return self.html if self.html is not None else self.caption_html


def _update_type(update: Mapping[str, Any]) -> str:
    for key in update:
        if key != "update_id":
            return key
    return ""


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class World:
    """Users, chats, members and admins, stored messages and the update queue."""

    def _init_world(self, token: str) -> None:
        head = token.split(":", 1)[0]
        self.bot_id = int(head) if head.isdigit() else BOT_ID
        self.bot_username = BOT_USERNAME
        self.chats: dict[int, Json] = {}
        self.users: dict[int, Json] = {}
        self._usernames: dict[str, int] = {}
        self._owners: dict[int, int] = {}
        self._admins: defaultdict[int, set[int]] = defaultdict(set)
        self._member_status: dict[tuple[int, int], str] = {}
        self._bot_admin: dict[int, bool] = {}
        self._messages: defaultdict[int, dict[int, StoredMessage]] = defaultdict(dict)
        self._next_message_id: defaultdict[int, int] = defaultdict(lambda: 1)
        self.commands: dict[tuple[str, str], list[Json]] = {}
        self.callback_answers: dict[str, dict[str, Any]] = {}
        self._open_callbacks: set[str] = set()
        self._callback_ids = itertools.count(1)
        self._pending: deque[Json] = deque()
        self._next_update_id = 1
        self._allowed_updates: frozenset[str] | None = None
        self.files: dict[str, FakeFile] = {}  # by file_id
        self.file_downloads: list[str] = []  # file paths fetched from /file/bot<token>/
        # sendPhoto with a URL: the fake fetches it as Telegram does (within this time)
        self.photo_fetch_timeout = 3.0
        self.photo_fetches: list[str] = []  # the URLs fetched, in order

    # ------------------------------------------------------------------ users and chats

    @property
    def bot_user(self) -> Json:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": BOT_FIRST_NAME,
            "username": self.bot_username,
        }

    def add_user(
        self,
        user_id: int,
        first_name: str = "User",
        username: str | None = None,
        *,
        last_name: str | None = None,
        language_code: str | None = None,
        is_bot: bool = False,
    ) -> Json:
        """Register (or update) a user and return its User object."""
        user: Json = {"id": user_id, "is_bot": is_bot, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        self.users[user_id] = user
        return dict(user)

    def user(
        self, user_id: int, first_name: str | None = None, username: str | None = None
    ) -> Json:
        """A User object; known users keep their names unless new ones are given."""
        known = self.users.get(user_id)
        if known is not None and first_name is None and username is None:
            return dict(known)
        return self.add_user(user_id, first_name or f"User{user_id}", username)

    def add_chat(
        self,
        chat_id: int,
        type: str | None = None,
        title: str | None = None,
        username: str | None = None,
        is_forum: bool = False,
        *,
        first_name: str | None = None,
    ) -> Json:
        """Register (or update) a chat; the type defaults from the id's sign and size."""
        if type is None:
            if chat_id > 0:
                type = "private"
            elif chat_id <= -1_000_000_000_000:
                type = "supergroup"
            else:
                type = "group"
        if type not in {"private", "group", "supergroup", "channel"}:
            raise ValueError(f"unknown chat type {type!r}")
        chat: Json = {"id": chat_id, "type": type}
        if type == "private":
            user = self.user(chat_id, first_name)
            chat["first_name"] = user["first_name"]
            if username or user.get("username"):
                chat["username"] = username or user["username"]
        else:
            chat["title"] = title or f"Chat {chat_id}"
            if username:
                chat["username"] = username
        if is_forum:
            chat["is_forum"] = True
        old = self.chats.get(chat_id)
        if old and old.get("username"):
            self._usernames.pop(old["username"].lower(), None)
        self.chats[chat_id] = chat
        if chat.get("username"):
            self._usernames["@" + chat["username"].lower()] = chat_id
            self._usernames[chat["username"].lower()] = chat_id
        return dict(chat)

    def chat(self, chat_id: int) -> Json:
        """The Chat object, creating a plausible chat for an unknown id."""
        known = self.chats.get(chat_id)
        if known is None:
            return self.add_chat(chat_id)
        return dict(known)

    def set_admins(self, chat_id: int, user_ids: Sequence[int], owner: int | None = None) -> None:
        """Make these users administrators (and optionally one the owner) of a chat."""
        self.chat(chat_id)
        self._admins[chat_id] = set(user_ids)
        if owner is not None:
            self._owners[chat_id] = owner

    def set_member(self, chat_id: int, user_id: int, status: str) -> None:
        """Force one member's status: creator, administrator, member, restricted, left, kicked."""
        self._member_status[(chat_id, user_id)] = status

    def set_bot_admin(self, chat_id: int, is_admin: bool = True) -> None:
        self.chat(chat_id)
        self._bot_admin[chat_id] = is_admin

    def member_status(self, chat_id: int, user_id: int) -> str:
        forced = self._member_status.get((chat_id, user_id))
        if forced is not None:
            return forced
        if user_id == self.bot_id:
            if self._is_kicked(chat_id):
                return "kicked"
            return "administrator" if self._bot_admin.get(chat_id) else "member"
        if self._owners.get(chat_id) == user_id:
            return "creator"
        if user_id in self._admins.get(chat_id, ()):
            return "administrator"
        return "member"

    def chat_member(self, chat_id: int, user_id: int, status: str | None = None) -> Json:
        """A ChatMember object that python-telegram-bot can de_json for any status."""
        status = status or self.member_status(chat_id, user_id)
        user = self.bot_user if user_id == self.bot_id else self.user(user_id)
        member: Json = {"status": status, "user": user}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            is_channel = self.chat(chat_id)["type"] == "channel"
            member["can_be_edited"] = False
            member["is_anonymous"] = False
            for right in _ADMIN_RIGHTS:
                member[right] = True
            if not is_channel:
                member.pop("can_post_messages")
                member.pop("can_edit_messages")
        elif status == "restricted":
            member["is_member"] = True
            member["until_date"] = 0
            for flag in _RESTRICTED_FIELDS:
                member[flag] = False
        elif status == "kicked":
            member["until_date"] = 0
        return member

    # ------------------------------------------------------------------ messages

    def _new_message_id(self, chat_id: int) -> int:
        mid = self._next_message_id[chat_id]
        self._next_message_id[chat_id] = mid + 1
        return mid

    def messages(self, chat_id: int, *, include_users: bool = False) -> list[StoredMessage]:
        """Messages currently in a chat (not deleted), oldest first; the bot's by default."""
        return [
            m
            for m in self._messages.get(chat_id, {}).values()
            if not m.deleted and (include_users or m.from_bot)
        ]

    def message(self, chat_id: int, message_id: int) -> StoredMessage:
        return self._messages[chat_id][message_id]

    def texts(self, chat_id: int) -> list[str]:
        """Visible text (or caption) of the bot's current messages in a chat."""
        return [m.text or m.caption or "" for m in self.messages(chat_id)]

    def _message_json(self, stored: StoredMessage) -> Json:
        chat = self.chat(stored.chat_id)
        data: Json = {"message_id": stored.message_id, "date": stored.date, "chat": chat}
        if stored.from_bot:
            if chat["type"] == "channel":
                data["sender_chat"] = chat
            else:
                data["from"] = self.bot_user
        if stored.message_thread_id is not None:
            data["message_thread_id"] = stored.message_thread_id
            if chat.get("is_forum"):
                data["is_topic_message"] = True
        if stored.text is not None:
            data["text"] = stored.text
        if stored.caption is not None:
            data["caption"] = stored.caption
        if stored.kind == "photo":
            uid = f"photo-{stored.chat_id}-{stored.message_id}"
            width, height = stored.photo_size or (320, 240)
            data["photo"] = [
                {"file_id": uid, "file_unique_id": uid, "width": width, "height": height}
            ]
        if stored.reply_markup is not None:
            data["reply_markup"] = stored.reply_markup
        if stored.edit_count:
            data["edit_date"] = int(time.time())
        stored.data = data
        return data

    # ------------------------------------------------------------------ updates

    def push_update(self, update: Mapping[str, Any]) -> Json:
        """Queue an update for getUpdates; assigns update_id. Returns the queued dict."""
        queued = dict(update)
        queued["update_id"] = self._next_update_id
        self._next_update_id += 1
        self._pending.append(queued)
        if self._updates_arrived is not None:
            self._updates_arrived.notify()
        self._notify()
        return queued

    @property
    def pending_updates(self) -> list[Json]:
        return list(self._pending)

    def _user_message(
        self,
        chat_id: int,
        text: str,
        *,
        from_user: Json | int | None = None,
        sender_chat: Json | int | None = None,
        message_thread_id: int | None = None,
        is_topic_message: bool = False,
        reply_to: int | Json | None = None,
        date: int | None = None,
    ) -> Json:
        chat = self.chat(chat_id)
        mid = self._new_message_id(chat_id)
        msg: Json = {"message_id": mid, "date": date or int(time.time()), "chat": chat}
        if isinstance(sender_chat, int):
            sender_chat = self.chat(sender_chat)
        if chat["type"] == "channel":
            msg["sender_chat"] = sender_chat or chat
        else:
            if from_user is None:
                from_user = chat_id if chat["type"] == "private" else DEFAULT_USER_ID
            msg["from"] = self.user(from_user) if isinstance(from_user, int) else from_user
            if sender_chat is not None:
                msg["sender_chat"] = sender_chat
        if message_thread_id is not None:
            msg["message_thread_id"] = message_thread_id
        if is_topic_message:
            msg["is_topic_message"] = True
        if reply_to is not None:
            if isinstance(reply_to, int):
                known = self._messages.get(chat_id, {}).get(reply_to)
                reply_to = (
                    dict(known.data)
                    if known and known.data
                    else {"message_id": reply_to, "date": msg["date"], "chat": chat}
                )
            msg["reply_to_message"] = reply_to
        msg["text"] = text
        if text.startswith("/"):
            word = text.split(maxsplit=1)[0]
            msg["entities"] = [{"type": "bot_command", "offset": 0, "length": _utf16_len(word)}]
        stored = StoredMessage(
            chat_id=chat_id,
            message_id=mid,
            date=msg["date"],
            from_bot=False,
            text=text,
            message_thread_id=message_thread_id,
            data=msg,
        )
        self._messages[chat_id][mid] = stored
        return msg

    def add_file(
        self, data: bytes, *, file_name: str | None = None, mime_type: str | None = None
    ) -> FakeFile:
        """Hold a file; getFile and /file/bot<token>/<file_path> then serve it."""
        n = len(self.files) + 1
        suffix = (file_name or "").rsplit(".", 1)[-1] if file_name and "." in file_name else "bin"
        stored = FakeFile(
            file_id=f"BQACAgfake{n:06d}",
            file_unique_id=f"AgADfake{n:06d}",
            data=data,
            file_name=file_name,
            mime_type=mime_type,
            file_path=f"documents/file_{n}.{suffix}",
        )
        self.files[stored.file_id] = stored
        return stored

    def _file_by_path(self, path: str) -> FakeFile | None:
        return next((f for f in self.files.values() if f.file_path == path), None)

    def document_update(
        self,
        chat_id: int,
        data: bytes,
        *,
        file_name: str = "feeds.opml",
        mime_type: str | None = "text/x-opml+xml",
        caption: str | None = None,
        from_user: Json | int | None = None,
        reply_to: int | Json | None = None,
    ) -> Json:
        """An update with a document a user sent (with an optional caption).

        A caption starting with '/' carries the bot_command caption entity Telegram adds.
        """
        msg = self._user_message(chat_id, "", from_user=from_user, reply_to=reply_to)
        stored_file = self.add_file(data, file_name=file_name, mime_type=mime_type)
        del msg["text"]
        msg.pop("entities", None)
        msg["document"] = stored_file.document()
        if caption is not None:
            msg["caption"] = caption
            if caption.startswith("/"):
                word = caption.split(maxsplit=1)[0]
                msg["caption_entities"] = [
                    {"type": "bot_command", "offset": 0, "length": _utf16_len(word)}
                ]
        stored = self._messages[chat_id][msg["message_id"]]
        stored.kind = "document"
        stored.text = None
        stored.caption = caption
        key = "channel_post" if msg["chat"]["type"] == "channel" else "message"
        return {key: msg}

    def message_update(
        self,
        chat_id: int,
        text: str,
        *,
        from_user: Json | int | None = None,
        sender_chat: Json | int | None = None,
        message_thread_id: int | None = None,
        is_topic_message: bool = False,
        reply_to: int | Json | None = None,
        date: int | None = None,
    ) -> Json:
        """An update with a text message (a channel_post when the chat is a channel).

        Text starting with '/' carries the bot_command entity Telegram adds.
        """
        msg = self._user_message(
            chat_id,
            text,
            from_user=from_user,
            sender_chat=sender_chat,
            message_thread_id=message_thread_id,
            is_topic_message=is_topic_message,
            reply_to=reply_to,
            date=date,
        )
        key = "channel_post" if msg["chat"]["type"] == "channel" else "message"
        return {key: msg}

    def channel_post_update(
        self, chat_id: int, text: str, *, author_signature: str | None = None
    ) -> Json:
        """A channel post: no `from`, `sender_chat` is the channel itself."""
        if self.chat(chat_id)["type"] != "channel":
            self.add_chat(chat_id, "channel", title=self.chats[chat_id].get("title"))
        update = self.message_update(chat_id, text)
        if author_signature:
            update["channel_post"]["author_signature"] = author_signature
        return update

    def callback_update(
        self,
        chat_id: int,
        message_id: int,
        data: str,
        from_user: Json | int | None = None,
    ) -> Json:
        """A callback_query from pressing an inline button under a message."""
        if from_user is None:
            from_user = chat_id if chat_id > 0 else DEFAULT_USER_ID
        user = self.user(from_user) if isinstance(from_user, int) else from_user
        known = self._messages.get(chat_id, {}).get(message_id)
        message = (
            dict(known.data)
            if known is not None and known.data
            else {"message_id": message_id, "date": int(time.time()), "chat": self.chat(chat_id)}
        )
        query_id = str(next(self._callback_ids))
        self._open_callbacks.add(query_id)
        return {
            "callback_query": {
                "id": query_id,
                "from": user,
                "message": message,
                "chat_instance": str(abs(chat_id)),
                "data": data,
            }
        }

    def my_chat_member_update(
        self,
        chat_id: int,
        from_user: Json | int | None,
        old_status: str,
        new_status: str,
        *,
        apply: bool = True,
    ) -> Json:
        """The bot's own membership changed; with apply, later requests see the change."""
        if from_user is None:
            from_user = chat_id if chat_id > 0 else DEFAULT_USER_ID
        user = self.user(from_user) if isinstance(from_user, int) else from_user
        chat = self.chat(chat_id)
        if apply:
            self._apply_bot_status(chat_id, new_status)
        return {
            "my_chat_member": {
                "chat": chat,
                "from": user,
                "date": int(time.time()),
                "old_chat_member": self.chat_member(chat_id, self.bot_id, old_status),
                "new_chat_member": self.chat_member(chat_id, self.bot_id, new_status),
            }
        }

    def _apply_bot_status(self, chat_id: int, status: str) -> None:
        if status in {"left", "kicked"}:
            if chat_id > 0:
                self.block(chat_id)
            else:
                self.kick(chat_id)
            self._bot_admin[chat_id] = False
        else:
            self.unblock(chat_id)
            self._bot_admin[chat_id] = status in {"administrator", "creator"}

    def migrate_update(self, old_chat_id: int, new_chat_id: int, *, apply: bool = True) -> Json:
        """The service message in the old group saying it became a supergroup."""
        if old_chat_id not in self.chats:
            self.add_chat(old_chat_id, "group")
        chat = self.chat(old_chat_id)
        msg: Json = {
            "message_id": self._new_message_id(old_chat_id),
            "date": int(time.time()),
            "chat": chat,
            "from": self.user(DEFAULT_USER_ID),
            "migrate_to_chat_id": new_chat_id,
        }
        if apply:
            self.migrate_chat(old_chat_id, new_chat_id)
        return {"message": msg}

    async def send_text(self, chat_id: int, text: str, **kwargs: Any) -> Json:
        """Deliver a user's text message to the bot (push_update(message_update(...)))."""
        update = self.push_update(self.message_update(chat_id, text, **kwargs))
        await asyncio.sleep(0)
        return update

    def _resolve_chat(self, raw: Any) -> int:
        if isinstance(raw, int):
            return raw
        if isinstance(raw, str):
            text = raw.strip()
            if text.lstrip("-").isdigit():
                return int(text)
            found = self._usernames.get(text.lower())
            if found is None:
                raise ApiError(400, "Bad Request: chat not found")
            return found
        raise ApiError(400, "Bad Request: chat_id is empty")

    # ------------------------------------------------------------------ commands

    @staticmethod
    def _commands_key(params: Mapping[str, Any]) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    def my_commands(self, scope: Json | None = None, language_code: str = "") -> list[Json]:
        """Commands set for a scope (default scope by default), as getMyCommands answers."""
        return list(
            self.commands.get(
                self._commands_key({"scope": scope, "language_code": language_code}), []
            )
        )

    # ------------------------------------------------------------------ update queue

    def _set_allowed(self, allowed: Any) -> None:
        if isinstance(allowed, list) and allowed:
            self._allowed_updates = frozenset(str(a) for a in allowed)
        elif isinstance(allowed, list):
            self._allowed_updates = None

    def _is_allowed(self, update: Json) -> bool:
        kind = _update_type(update)
        if self._allowed_updates is None:
            return kind not in _DEFAULT_EXCLUDED_UPDATES
        return kind in self._allowed_updates

    def _take_updates(self, offset: int | None, limit: int) -> list[Json]:
        pending = self._pending
        if offset is not None:
            if offset < 0:
                while len(pending) > -offset:
                    pending.popleft()
            else:
                while pending and pending[0]["update_id"] < offset:
                    pending.popleft()
        batch: list[Json] = []
        kept: deque[Json] = deque()
        for update in pending:
            if not self._is_allowed(update):
                continue  # the server never stores updates of kinds nobody asked for
            kept.append(update)
            if len(batch) < limit:
                batch.append(update)
        self._pending = kept
        return batch
