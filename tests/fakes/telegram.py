"""FakeTelegram: a Bot API server on 127.0.0.1 that answers like Telegram does.

It serves `POST|GET /bot<token>/<method>` with form, multipart or JSON bodies (what
python-telegram-bot sends), keeps a small simulated world (chats, members, the
messages the bot sent), hands out updates through `getUpdates` or posts them to a
webhook, and can be told to misbehave the way the real service does: blocked users,
kicked bots, migrated groups, flood control, 5xx storms, a second poller.

Every request is checked against the Bot API 10.0 spec and Telegram's HTML and length
rules; a breach is recorded in `violations` and answered with the server's error, so a
test that ends with `fake.violations == []` knows the bot spoke valid Bot API.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import re
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

import aiohttp
from aiohttp import web

from tests.fakes import spec as api_spec
from tests.fakes import tg_html
from tests.fakes.spec import UploadedFile

__all__ = [
    "BOT_ID",
    "DEFAULT_TOKEN",
    "ApiError",
    "Call",
    "FakeTelegram",
    "StoredMessage",
    "UploadedFile",
]

DEFAULT_TOKEN = "123456:TEST-TOKEN"
BOT_ID = 123456
BOT_FIRST_NAME = "Headline Bot"
BOT_USERNAME = "headline_test_bot"
DEFAULT_USER_ID = 1001

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64
MAX_CALLBACK_ANSWER = 200
MAX_COMMANDS = 100

CONFLICT_POLL = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)

# Methods that put a message into a chat.
MESSAGE_METHODS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendAudio",
        "sendDocument",
        "sendVideo",
        "sendAnimation",
        "sendVoice",
        "sendVideoNote",
        "sendPaidMedia",
        "sendMediaGroup",
        "sendLocation",
        "sendVenue",
        "sendContact",
        "sendPoll",
        "sendChecklist",
        "sendDice",
        "sendSticker",
        "sendInvoice",
        "sendGame",
        "copyMessage",
        "copyMessages",
        "forwardMessage",
        "forwardMessages",
    }
)
EDIT_METHODS = frozenset(
    {
        "editMessageText",
        "editMessageCaption",
        "editMessageMedia",
        "editMessageReplyMarkup",
        "editMessageLiveLocation",
        "stopMessageLiveLocation",
        "editMessageChecklist",
        "stopPoll",
    }
)
# Methods that count against the flood limits.
LIMITED_METHODS = MESSAGE_METHODS | EDIT_METHODS
# A blocked user still lets the bot read the chat; only writing fails.
_READ_ONLY_CHAT_METHODS = frozenset(
    {"getChat", "getChatMember", "getChatAdministrators", "getChatMemberCount"}
)
_DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
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

Json = dict[str, Any]


class ApiError(Exception):
    """An error answer: HTTP status, description and optional ResponseParameters."""

    def __init__(self, status: int, description: str, parameters: Json | None = None) -> None:
        super().__init__(f"{status} {description}")
        self.status = status
        self.description = description
        self.parameters = parameters

    def body(self) -> Json:
        out: Json = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            out["parameters"] = self.parameters
        return out


@dataclass
class Call:
    """One request as the fake saw it and what it answered."""

    method: str
    params: dict[str, Any]
    at: float
    token: str = ""
    chat_id: int | None = None
    status: int = 0
    response: Json | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def result(self) -> Any:
        return None if self.response is None else self.response.get("result")

    @property
    def description(self) -> str | None:
        return None if self.response is None else self.response.get("description")


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
    deleted: bool = False
    edit_count: int = 0
    data: Json = field(default_factory=dict)  # the Message object last returned for it

    @property
    def source(self) -> str | None:
        """The text or caption exactly as sent (HTML markup included)."""
        return self.html if self.html is not None else self.caption_html


class _Window:
    """Sliding windows over arrival times: rules are (max requests, period seconds)."""

    __slots__ = ("rules", "times")

    def __init__(self, rules: Sequence[tuple[int, float]]) -> None:
        self.rules = tuple(rules)
        self.times: deque[float] = deque(maxlen=max(n for n, _ in self.rules))

    def wait(self, now: float) -> float:
        longest = 0.0
        times = self.times
        for n, period in self.rules:
            if len(times) >= n:
                free_at = times[-n] + period
                if free_at > now:
                    longest = max(longest, free_at - now)
        return longest


class _Notifier:
    """Wake every waiter on each change without holding a lock (generation events)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)


def _update_type(update: Mapping[str, Any]) -> str:
    for key in update:
        if key != "update_id":
            return key
    return ""


def _is_html(mode: Any) -> bool:
    return isinstance(mode, str) and mode.lower() == "html"


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class FakeTelegram:
    """An in-process Bot API server for end-to-end tests."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        enforce_limits: bool = False,
        overall_limit: int = 30,
        overall_period: float = 1.0,
        private_limits: Sequence[tuple[int, float]] = ((3, 3.0), (2, 1.0)),
        group_limits: Sequence[tuple[int, float]] = ((20, 60.0),),
        paid_limit: int = 1000,
        paid_period: float = 1.0,
        validate: bool = True,
        terminate_overlapping_polls: bool = True,
    ) -> None:
        self.token = token
        head = token.split(":", 1)[0]
        self.bot_id = int(head) if head.isdigit() else BOT_ID
        self.bot_username = BOT_USERNAME
        self.enforce_limits = enforce_limits
        self.overall_rules = ((overall_limit, overall_period),)
        self.private_rules = tuple(private_limits)
        self.group_rules = tuple(group_limits)
        self.paid_rules = ((paid_limit, paid_period),)
        self.validate = validate
        self.terminate_overlapping_polls = terminate_overlapping_polls

        self.calls: list[Call] = []
        self.violations: list[str] = []
        self.too_many_requests = 0
        self._by_method: defaultdict[str, list[Call]] = defaultdict(list)
        self._revoked: set[str] = set()

        # world
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
        self._canned: dict[str, Any] = {}

        # faults
        self._blocked: dict[int, str] = {}
        self._kicked: dict[int, str] = {}
        self._migrated: dict[int, int] = {}
        self._not_found: set[int] = set()
        self._floods: dict[int, list[int]] = {}
        self._fails: defaultdict[str, deque[tuple[int, str]]] = defaultdict(deque)
        self._delays: dict[str, float] = {}
        self._conflicts = 0

        # limits
        self._overall = _Window(self.overall_rules)
        self._paid = _Window(self.paid_rules)
        self._per_chat: dict[int, _Window] = {}

        # updates and webhook
        self._pending: deque[Json] = deque()
        self._next_update_id = 1
        self._allowed_updates: frozenset[str] | None = None
        self.webhook_url = ""
        self.webhook_secret: str | None = None
        self.webhook_params: dict[str, Any] = {}
        self._poll_generation = 0

        self._changed: _Notifier | None = None
        self._updates_arrived: _Notifier | None = None
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._client: aiohttp.ClientSession | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Listen on 127.0.0.1 on a free port."""
        self._changed = _Notifier()
        self._updates_arrived = _Notifier()
        self._closing = False
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server  # aiohttp exposes the bound port only through the server
        assert server is not None
        sockets = getattr(server, "sockets", None)
        assert sockets
        self._port = int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Release long polls and close the server."""
        self._closing = True
        if self._updates_arrived is not None:
            self._updates_arrived.notify()
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeTelegram is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """What to pass to ApplicationBuilder.base_url / Bot(base_url=...)."""
        return f"http://127.0.0.1:{self.port}/bot"

    def url(self, method: str, token: str | None = None) -> str:
        return f"{self.base_url}{token or self.token}/{method}"

    def revoke_token(self) -> None:
        """Make the current token answer 401, as after /revoke in BotFather."""
        self._revoked.add(self.token)

    # ------------------------------------------------------------------ recorded calls

    def calls_of(self, method: str) -> list[Call]:
        return list(self._by_method.get(method, ()))

    def sent_to(self, chat_id: int | str) -> list[Call]:
        """Successful message-creating calls (send*, copyMessage, ...) to one chat."""
        target = self._usernames.get(chat_id.lower(), None) if isinstance(chat_id, str) else chat_id
        return [
            c for c in self.calls if c.ok and c.chat_id == target and c.method in MESSAGE_METHODS
        ]

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.notify()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until predicate() holds; it is re-checked after every request (and 20 times/s)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {timeout}s")
            notifier = self._changed or _Notifier()
            await notifier.wait(min(remaining, 0.05))

    async def wait_calls(self, method: str, n: int = 1, timeout: float = 10.0) -> list[Call]:
        """Wait until at least n calls of method arrived; return them all."""
        try:
            await self.wait_for(lambda: len(self._by_method.get(method, ())) >= n, timeout)
        except TimeoutError:
            got = len(self._by_method.get(method, ()))
            raise TimeoutError(
                f"expected {n} {method} calls within {timeout}s, got {got}"
            ) from None
        return self.calls_of(method)

    @contextlib.contextmanager
    def expect_violation(self) -> Iterator[list[str]]:
        """Take the violations made inside the block out of `violations`; fail if none."""
        start = len(self.violations)
        caught: list[str] = []
        yield caught
        caught.extend(self.violations[start:])
        del self.violations[start:]
        if not caught:
            raise AssertionError("expected a Bot API violation, none was recorded")

    # ------------------------------------------------------------------ world

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
            if chat_id in self._kicked:
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

    def add_message(
        self, chat_id: int, text: str, *, from_user: Json | int | None = None
    ) -> StoredMessage:
        """Put a user's message into a chat without delivering an update (e.g. to copy it)."""
        msg = self._user_message(chat_id, text, from_user=from_user)
        return self._messages[chat_id][msg["message_id"]]

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
            data["photo"] = [{"file_id": uid, "file_unique_id": uid, "width": 320, "height": 240}]
        elif stored.kind == "document":
            uid = f"doc-{stored.chat_id}-{stored.message_id}"
            data["document"] = {"file_id": uid, "file_unique_id": uid}
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
                self._blocked[chat_id] = "Forbidden: bot was blocked by the user"
            else:
                self.kick(chat_id)
            self._bot_admin[chat_id] = False
        else:
            self._blocked.pop(chat_id, None)
            self._kicked.pop(chat_id, None)
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

    # ------------------------------------------------------------------ webhook

    async def post_update(
        self,
        url: str | None,
        update: Mapping[str, Any],
        secret_token: str | None = None,
    ) -> int:
        """POST an update to the bot's webhook like Telegram does; return the HTTP status.

        url None means the one given to setWebhook; secret_token None means the one
        given to setWebhook.
        """
        target = url or self.webhook_url
        if not target:
            raise RuntimeError("no webhook url: pass one or call setWebhook first")
        body = dict(update)
        if "update_id" not in body:
            body["update_id"] = self._next_update_id
            self._next_update_id += 1
        headers = {"Content-Type": "application/json"}
        secret = secret_token if secret_token is not None else self.webhook_secret
        if secret:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        if self._client is None:
            self._client = aiohttp.ClientSession()
        async with self._client.post(target, data=json.dumps(body), headers=headers) as resp:
            await resp.read()
            return resp.status

    # ------------------------------------------------------------------ faults

    def block(
        self, chat_id: int, description: str = "Forbidden: bot was blocked by the user"
    ) -> None:
        """Sends to this chat answer 403 ('Forbidden: user is deactivated' for deleted users)."""
        self._blocked[chat_id] = description

    def unblock(self, chat_id: int) -> None:
        self._blocked.pop(chat_id, None)
        self._kicked.pop(chat_id, None)

    def kick(self, chat_id: int, description: str | None = None) -> None:
        """The bot was removed from a group, supergroup or channel: every call there is 403."""
        if description is None:
            kind = self.chat(chat_id)["type"]
            if kind == "channel":
                description = "Forbidden: bot is not a member of the channel chat"
            elif kind == "supergroup":
                description = "Forbidden: bot was kicked from the supergroup chat"
            else:
                description = "Forbidden: bot was kicked from the group chat"
        self._kicked[chat_id] = description

    def migrate_chat(self, chat_id: int, new_id: int) -> None:
        """The group became supergroup new_id: calls to the old id answer ChatMigrated."""
        old = self.chats.get(chat_id) or self.add_chat(chat_id, "group")
        self._migrated[chat_id] = new_id
        if new_id not in self.chats:
            self.add_chat(new_id, "supergroup", title=old.get("title"))
        if chat_id in self._admins:
            self._admins[new_id] = set(self._admins[chat_id])
        if chat_id in self._owners:
            self._owners[new_id] = self._owners[chat_id]
        if chat_id in self._bot_admin:
            self._bot_admin[new_id] = self._bot_admin[chat_id]

    def chat_not_found(self, chat_id: int) -> None:
        self._not_found.add(chat_id)

    def flood(self, chat_id: int, retry_after: int, times: int = 1) -> None:
        """The next `times` limited calls to this chat answer 429 retry_after."""
        self._floods[chat_id] = [retry_after, times]

    def fail(
        self, method: str, status: int = 502, times: int = 1, description: str | None = None
    ) -> None:
        """The next `times` calls of method (or '*' for any but getUpdates) fail with status."""
        if description is None:
            description = {
                500: "Internal Server Error",
                502: "Bad Gateway",
                503: "Service Unavailable",
                504: "Gateway Timeout",
            }.get(status, f"Error {status}")
        key = "*" if method == "*" else method.lower()
        self._fails[key].extend([(status, description)] * times)

    def delay(self, method: str, seconds: float) -> None:
        """Answer method only after a pause (0 removes the delay)."""
        if seconds <= 0:
            self._delays.pop(method.lower(), None)
        else:
            self._delays[method.lower()] = seconds

    def conflict_get_updates(self, times: int = 1) -> None:
        """The next `times` getUpdates answer 409, as when a second instance polls."""
        self._conflicts += times

    def respond(self, method: str, result: Any) -> None:
        """Answer method with a fixed result (for methods the fake does not model)."""
        self._canned[method.lower()] = result

    def clear_faults(self) -> None:
        self._blocked.clear()
        self._kicked.clear()
        self._migrated.clear()
        self._not_found.clear()
        self._floods.clear()
        self._fails.clear()
        self._delays.clear()
        self._conflicts = 0

    # ------------------------------------------------------------------ limits

    def lift_limits(self) -> None:
        self.enforce_limits = False

    def impose_limits(self) -> None:
        self.enforce_limits = True

    def reset_limits(self) -> None:
        """Forget every request counted so far (windows start empty)."""
        self._overall = _Window(self.overall_rules)
        self._paid = _Window(self.paid_rules)
        self._per_chat.clear()

    def _check_limits(self, chat_id: int | None, paid: bool, now: float) -> None:
        windows: list[_Window] = [self._paid if paid else self._overall]
        if chat_id is not None:
            window = self._per_chat.get(chat_id)
            if window is None:
                rules = self.private_rules if chat_id > 0 else self.group_rules
                window = self._per_chat[chat_id] = _Window(rules)
            windows.append(window)
        wait = max(w.wait(now) for w in windows)
        if wait > 0:
            self.too_many_requests += 1
            retry = max(1, math.ceil(wait))
            raise ApiError(429, f"Too Many Requests: retry after {retry}", {"retry_after": retry})
        for w in windows:
            w.times.append(now)

    # ------------------------------------------------------------------ HTTP

    async def _read_params(self, request: web.Request, method: str) -> dict[str, Any]:
        params: dict[str, Any] = {}
        spec = api_spec.load_spec()
        for key, value in request.query.items():
            params[key] = api_spec.decode_value(method, key, value, spec)
        if not request.body_exists:
            return params
        ctype = request.content_type
        if ctype == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise ApiError(400, "Bad Request: can't parse JSON request body") from None
            if not isinstance(body, dict):
                raise ApiError(400, "Bad Request: JSON request body must be an object")
            params.update(body)
            return params
        form = await request.post()
        for name, item in form.items():
            if isinstance(item, web.FileField):
                params[name] = UploadedFile(
                    name, item.filename, item.content_type, item.file.read()
                )
            elif isinstance(item, bytes | bytearray):
                params[name] = api_spec.decode_value(method, name, item.decode(), spec)
            else:
                params[name] = api_spec.decode_value(method, name, item, spec)
        return params

    async def _handle(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        raw_method = request.match_info["method"]
        if token != self.token or token in self._revoked:
            body: Json = {"ok": False, "error_code": 401, "description": "Unauthorized"}
            return web.json_response(body, status=401)
        method = api_spec.canonical_method(raw_method) or raw_method
        call = Call(method=method, params={}, at=time.monotonic(), token=token)
        try:
            try:
                call.params = await self._read_params(request, method)
            finally:
                self.calls.append(call)
                self._by_method[method].append(call)
            result = await self._dispatch(call)
            response: Json = {"ok": True, "result": result}
            call.status = 200
        except ApiError as err:
            response = err.body()
            call.status = err.status
        except Exception as exc:  # a request the fake cannot model must fail the test loudly
            self.violations.append(f"{method}: the fake could not answer: {exc!r}")
            response = ApiError(500, "Internal Server Error").body()
            call.status = 500
        call.response = response
        self._notify()
        return web.Response(
            body=json.dumps(response).encode(), status=call.status, content_type="application/json"
        )

    def _violation(self, call: Call, problem: str) -> None:
        self.violations.append(f"{call.method}: {problem}")

    async def _dispatch(self, call: Call) -> Any:
        method = call.method
        params = call.params
        lower = method.lower()
        if api_spec.canonical_method(method) is None and lower not in self._canned:
            self._violation(call, "unknown method")
            raise ApiError(404, "Not Found")

        delay = self._delays.get(lower)
        if delay:
            await asyncio.sleep(delay)
        self._raise_method_faults(lower)

        if self.validate:
            self._validate(call)

        raw_chat = params.get("chat_id")
        if raw_chat is not None and not isinstance(raw_chat, bool):
            chat_id = self._resolve_chat(raw_chat)
            call.chat_id = chat_id
            self._raise_chat_faults(method, chat_id)
        limited = method in LIMITED_METHODS and "inline_message_id" not in params
        if limited and call.chat_id is not None:
            flood = self._floods.get(call.chat_id)
            if flood:
                retry, left = flood
                if left <= 1:
                    del self._floods[call.chat_id]
                else:
                    flood[1] = left - 1
                raise ApiError(
                    429, f"Too Many Requests: retry after {retry}", {"retry_after": retry}
                )
        if limited and self.enforce_limits:
            self._check_limits(
                call.chat_id, params.get("allow_paid_broadcast") is True, time.monotonic()
            )

        if lower in self._canned:
            return self._canned[lower]
        handler = self._HANDLERS.get(method)
        if handler is not None:
            return handler(self, call)
        if method == "getUpdates":
            return await self._get_updates(call)
        if method == "sendMediaGroup":
            media = params.get("media")
            return [self._send_other(call) for _ in media or [None]]
        if method in {"copyMessages", "forwardMessages"}:
            assert call.chat_id is not None
            ids = params.get("message_ids") or []
            return [{"message_id": self._new_message_id(call.chat_id)} for _ in ids]
        if method.startswith("send") and method in MESSAGE_METHODS:
            return self._send_other(call)
        return True

    def _raise_method_faults(self, lower: str) -> None:
        if lower == "getupdates":
            if self._conflicts > 0:
                self._conflicts -= 1
                raise ApiError(409, CONFLICT_POLL)
            queue = self._fails.get(lower)
        else:
            queue = self._fails.get(lower) or self._fails.get("*")
        if queue:
            status, description = queue.popleft()
            raise ApiError(status, description)

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

    def _raise_chat_faults(self, method: str, chat_id: int) -> None:
        if chat_id in self._not_found:
            raise ApiError(400, "Bad Request: chat not found")
        new_id = self._migrated.get(chat_id)
        if new_id is not None:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": new_id},
            )
        kicked = self._kicked.get(chat_id)
        if kicked is not None:
            raise ApiError(403, kicked)
        blocked = self._blocked.get(chat_id)
        if blocked is not None and method not in _READ_ONLY_CHAT_METHODS:
            raise ApiError(403, blocked)

    # ------------------------------------------------------------------ validation

    def _validate(self, call: Call) -> None:
        """Record every breach; answer with the first one the server would report."""
        params = call.params
        errors: list[ApiError] = []
        for problem in api_spec.validate(call.method, params):
            self._violation(call, problem)
            if "missing required parameter" in problem:
                name = problem.rsplit("'", 2)[1]
                desc = "message text is empty" if name == "text" else f"{name} is empty"
                errors.append(ApiError(400, f"Bad Request: {desc}"))
            elif "must be" in problem:
                name = problem.split("'", 2)[1]
                errors.append(ApiError(400, f"Bad Request: can't parse {name}: wrong type"))
            # unknown parameters are ignored by the server: recorded, not refused
        errors.extend(self._content_errors(call))
        if errors:
            raise errors[0]

    def _check_markup(self, call: Call, text: str, limit: int, what: str) -> list[ApiError]:
        if _is_html(call.params.get("parse_mode")):
            problems = tg_html.check_html(text)
            if problems:
                for problem in problems:
                    self._violation(call, f"can't parse entities in {what}: {problem}")
                return [ApiError(400, f"Bad Request: can't parse entities: {problems[0]}")]
            shown = tg_html.visible_text(text).strip()
        else:
            shown = text.strip()
        if what == "text":
            if not text:
                self._violation(call, "message text is empty")
                return [ApiError(400, "Bad Request: message text is empty")]
            if not shown:
                self._violation(call, "text must be non-empty")
                return [ApiError(400, "Bad Request: text must be non-empty")]
            if len(shown) > limit:
                self._violation(call, f"message is too long ({len(shown)} > {limit} characters)")
                return [ApiError(400, "Bad Request: message is too long")]
        elif len(shown) > limit:
            self._violation(call, f"caption is too long ({len(shown)} > {limit} characters)")
            return [ApiError(400, "Bad Request: message caption is too long")]
        return []

    def _content_errors(self, call: Call) -> list[ApiError]:
        params = call.params
        method = call.method
        errors: list[ApiError] = []
        text = params.get("text")
        if method in {"sendMessage", "editMessageText"} and isinstance(text, str):
            errors += self._check_markup(call, text, MAX_TEXT, "text")
        caption = params.get("caption")
        if isinstance(caption, str):
            errors += self._check_markup(call, caption, MAX_CAPTION, "caption")
        markup = params.get("reply_markup")
        if isinstance(markup, dict):
            errors += self._check_reply_markup(call, markup)
        if (
            method == "answerCallbackQuery"
            and isinstance(text, str)
            and len(text) > MAX_CALLBACK_ANSWER
        ):
            self._violation(call, f"callback answer text too long ({len(text)} > 200)")
            errors.append(ApiError(400, "Bad Request: MESSAGE_TOO_LONG"))
        if method == "setMyCommands":
            errors += self._check_commands(call)
        return errors

    def _check_reply_markup(self, call: Call, markup: Json) -> list[ApiError]:
        keyboard = markup.get("inline_keyboard")
        if keyboard is None:
            return []
        if not isinstance(keyboard, list) or not all(isinstance(r, list) for r in keyboard):
            self._violation(call, "inline_keyboard must be an array of button rows")
            return [ApiError(400, "Bad Request: can't parse inline keyboard button: wrong type")]
        errors: list[ApiError] = []
        for row in keyboard:
            for button in row:
                if not isinstance(button, dict) or not button.get("text"):
                    self._violation(call, f"inline button without text: {button!r}")
                    errors.append(
                        ApiError(
                            400, "Bad Request: text buttons are unallowed in the inline keyboard"
                        )
                    )
                    continue
                data = button.get("callback_data")
                if data is not None:
                    size = len(str(data).encode("utf-8"))
                    if not 1 <= size <= MAX_CALLBACK_DATA:
                        self._violation(
                            call, f"callback_data must be 1-64 bytes, got {size}: {data!r:.80}"
                        )
                        errors.append(ApiError(400, "Bad Request: BUTTON_DATA_INVALID"))
        return errors

    def _check_commands(self, call: Call) -> list[ApiError]:
        commands = call.params.get("commands")
        if not isinstance(commands, list):
            return []
        errors: list[ApiError] = []
        if len(commands) > MAX_COMMANDS:
            self._violation(call, f"{len(commands)} commands, at most {MAX_COMMANDS}")
            errors.append(ApiError(400, "Bad Request: BOT_COMMANDS_TOO_MUCH"))
        for cmd in commands:
            name = cmd.get("command") if isinstance(cmd, dict) else None
            desc = cmd.get("description") if isinstance(cmd, dict) else None
            if not isinstance(name, str) or not _COMMAND_RE.fullmatch(name):
                self._violation(call, f"bad command name {name!r}: 1-32 of [a-z0-9_]")
                errors.append(ApiError(400, "Bad Request: BOT_COMMAND_INVALID"))
            if not isinstance(desc, str) or not 1 <= len(desc.strip()) <= 256:
                self._violation(call, f"bad description for {name!r}: 1-256 characters")
                errors.append(ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID"))
        return errors

    # ------------------------------------------------------------------ method handlers

    def _get_me(self, call: Call) -> Json:
        me = self.bot_user
        me.update(
            {
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            }
        )
        return me

    def _get_chat(self, call: Call) -> Json:
        assert call.chat_id is not None
        chat = self.chat(call.chat_id)
        chat["accent_color_id"] = 0
        chat["max_reaction_count"] = 11
        chat["accepted_gift_types"] = {
            "unlimited_gifts": False,
            "limited_gifts": False,
            "unique_gifts": False,
            "premium_subscription": False,
            "gifts_from_channels": False,
        }
        return chat

    def _get_chat_member(self, call: Call) -> Json:
        assert call.chat_id is not None
        return self.chat_member(call.chat_id, int(call.params["user_id"]))

    def _get_chat_administrators(self, call: Call) -> list[Json]:
        assert call.chat_id is not None
        chat_id = call.chat_id
        ids: list[int] = []
        if chat_id in self._owners:
            ids.append(self._owners[chat_id])
        ids += sorted(self._admins.get(chat_id, set()) - set(ids))
        if self._bot_admin.get(chat_id):
            ids.append(self.bot_id)
        return [self.chat_member(chat_id, uid) for uid in ids]

    def _get_chat_member_count(self, call: Call) -> int:
        assert call.chat_id is not None
        return 2 + len(self._admins.get(call.chat_id, ()))

    def _store(self, call: Call, **fields: Any) -> StoredMessage:
        assert call.chat_id is not None
        chat_id = call.chat_id
        thread = call.params.get("message_thread_id")
        stored = StoredMessage(
            chat_id=chat_id,
            message_id=self._new_message_id(chat_id),
            date=int(time.time()),
            from_bot=True,
            parse_mode=call.params.get("parse_mode"),
            reply_markup=call.params.get("reply_markup"),
            message_thread_id=thread if isinstance(thread, int) else None,
            **fields,
        )
        self._messages[chat_id][stored.message_id] = stored
        self._message_json(stored)
        return stored

    def _shown(self, call: Call, text: str) -> str:
        if _is_html(call.params.get("parse_mode")):
            return tg_html.visible_text(text).strip()
        return text.strip()

    def _send_message(self, call: Call) -> Json:
        text = call.params["text"]
        stored = self._store(call, kind="text", text=self._shown(call, text), html=text)
        return stored.data

    def _send_photo(self, call: Call) -> Json:
        caption = call.params.get("caption")
        stored = self._store(
            call,
            kind="photo",
            caption=self._shown(call, caption) if isinstance(caption, str) else None,
            caption_html=caption if isinstance(caption, str) else None,
        )
        return stored.data

    def _send_other(self, call: Call) -> Json:
        caption = call.params.get("caption")
        kind = "document" if call.method == "sendDocument" else call.method[4:].lower()
        stored = self._store(
            call,
            kind=kind,
            caption=self._shown(call, caption) if isinstance(caption, str) else None,
            caption_html=caption if isinstance(caption, str) else None,
        )
        return stored.data

    def _source_message(self, call: Call, not_found: str) -> StoredMessage:
        from_chat = self._resolve_chat(call.params.get("from_chat_id"))
        source = self._messages.get(from_chat, {}).get(int(call.params["message_id"]))
        if source is None or source.deleted:
            raise ApiError(400, f"Bad Request: {not_found}")
        return source

    def _copy_message(self, call: Call) -> Json:
        source = self._source_message(call, "message to copy not found")
        caption = call.params.get("caption")
        fields: dict[str, Any] = {
            "kind": source.kind,
            "copied_from": (source.chat_id, source.message_id),
        }
        if source.kind == "text":
            fields["text"] = source.text
            fields["html"] = source.html
        elif isinstance(caption, str):
            fields["caption"] = self._shown(call, caption)
            fields["caption_html"] = caption
        else:
            fields["caption"] = source.caption
            fields["caption_html"] = source.caption_html
        stored = self._store(call, **fields)
        return {"message_id": stored.message_id}

    def _forward_message(self, call: Call) -> Json:
        source = self._source_message(call, "message to forward not found")
        stored = self._store(
            call,
            kind=source.kind,
            text=source.text,
            html=source.html,
            caption=source.caption,
            caption_html=source.caption_html,
            copied_from=(source.chat_id, source.message_id),
        )
        return stored.data

    def _editable(self, call: Call) -> StoredMessage | None:
        if "inline_message_id" in call.params:
            return None
        if call.chat_id is None or "message_id" not in call.params:
            raise ApiError(400, "Bad Request: message identifier is not specified")
        stored = self._messages.get(call.chat_id, {}).get(int(call.params["message_id"]))
        if stored is None or stored.deleted:
            raise ApiError(400, "Bad Request: message to edit not found")
        if not stored.from_bot:
            raise ApiError(400, "Bad Request: message can't be edited")
        return stored

    def _edit_message_text(self, call: Call) -> Json | bool:
        stored = self._editable(call)
        if stored is None:
            return True
        if stored.text is None:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        text = call.params["text"]
        markup = call.params.get("reply_markup")
        shown = self._shown(call, text)
        mode = call.params.get("parse_mode")
        # Telegram compares text and entities; the HTML source stands in for the entities.
        new_key = (shown, text if _is_html(mode) else None)
        old_key = (stored.text, stored.html if _is_html(stored.parse_mode) else None)
        if new_key == old_key and markup == stored.reply_markup:
            raise ApiError(400, NOT_MODIFIED)
        stored.text = shown
        stored.html = text
        stored.parse_mode = call.params.get("parse_mode")
        stored.reply_markup = markup
        stored.edit_count += 1
        return self._message_json(stored)

    def _edit_message_caption(self, call: Call) -> Json | bool:
        stored = self._editable(call)
        if stored is None:
            return True
        caption = call.params.get("caption")
        markup = call.params.get("reply_markup")
        if caption == stored.caption_html and markup == stored.reply_markup:
            raise ApiError(400, NOT_MODIFIED)
        stored.caption_html = caption if isinstance(caption, str) else None
        stored.caption = self._shown(call, caption) if isinstance(caption, str) else None
        stored.reply_markup = markup
        stored.edit_count += 1
        return self._message_json(stored)

    def _edit_message_reply_markup(self, call: Call) -> Json | bool:
        stored = self._editable(call)
        if stored is None:
            return True
        markup = call.params.get("reply_markup")
        if markup == stored.reply_markup:
            raise ApiError(400, NOT_MODIFIED)
        stored.reply_markup = markup
        stored.edit_count += 1
        return self._message_json(stored)

    def _delete_message(self, call: Call) -> bool:
        assert call.chat_id is not None
        stored = self._messages.get(call.chat_id, {}).get(int(call.params["message_id"]))
        if stored is None or stored.deleted:
            raise ApiError(400, "Bad Request: message to delete not found")
        stored.deleted = True
        return True

    def _delete_messages(self, call: Call) -> bool:
        assert call.chat_id is not None
        for mid in call.params.get("message_ids", []):
            stored = self._messages.get(call.chat_id, {}).get(int(mid))
            if stored is not None:
                stored.deleted = True
        return True

    def _answer_callback_query(self, call: Call) -> bool:
        query_id = str(call.params["callback_query_id"])
        if query_id not in self._open_callbacks:
            raise ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        self._open_callbacks.discard(query_id)
        self.callback_answers[query_id] = dict(call.params)
        return True

    @staticmethod
    def _commands_key(params: Mapping[str, Any]) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    def _set_my_commands(self, call: Call) -> bool:
        commands = call.params.get("commands") or []
        self.commands[self._commands_key(call.params)] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    def _get_my_commands(self, call: Call) -> list[Json]:
        return list(self.commands.get(self._commands_key(call.params), []))

    def _delete_my_commands(self, call: Call) -> bool:
        self.commands.pop(self._commands_key(call.params), None)
        return True

    def my_commands(self, scope: Json | None = None, language_code: str = "") -> list[Json]:
        """Commands set for a scope (default scope by default), as getMyCommands answers."""
        return list(
            self.commands.get(
                self._commands_key({"scope": scope, "language_code": language_code}), []
            )
        )

    def _set_webhook(self, call: Call) -> bool:
        url = str(call.params.get("url", ""))
        if url and not url.startswith("https://"):
            # Telegram delivers only over HTTPS; the bot's local listener is reached with
            # post_update(url=...) instead.
            self._violation(call, f"webhook url must be https: {url!r}")
            raise ApiError(
                400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        self.webhook_url = url
        self.webhook_secret = call.params.get("secret_token") or None
        self.webhook_params = dict(call.params)
        if call.params.get("drop_pending_updates"):
            self._pending.clear()
        if "allowed_updates" in call.params:
            self._set_allowed(call.params["allowed_updates"])
        self._poll_generation += 1
        if self._updates_arrived is not None:
            self._updates_arrived.notify()
        return True

    def _delete_webhook(self, call: Call) -> bool:
        self.webhook_url = ""
        self.webhook_secret = None
        self.webhook_params = {}
        if call.params.get("drop_pending_updates"):
            self._pending.clear()
        return True

    def _get_webhook_info(self, call: Call) -> Json:
        info: Json = {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if self.webhook_url and self._allowed_updates is not None:
            info["allowed_updates"] = sorted(self._allowed_updates)
        return info

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

    async def _get_updates(self, call: Call) -> list[Json]:
        if self.webhook_url:
            raise ApiError(409, CONFLICT_WEBHOOK)
        params = call.params
        if "allowed_updates" in params:
            self._set_allowed(params["allowed_updates"])
        offset = params.get("offset")
        limit = int(params.get("limit") or 100)
        limit = min(max(limit, 1), 100)
        timeout = float(params.get("timeout") or 0)
        self._poll_generation += 1
        generation = self._poll_generation
        if self._updates_arrived is not None:
            self._updates_arrived.notify()  # an older long poll learns it was superseded
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            batch = self._take_updates(offset if isinstance(offset, int) else None, limit)
            if batch or self._closing:
                return batch
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            notifier = self._updates_arrived or _Notifier()
            await notifier.wait(remaining)
            if self.terminate_overlapping_polls and generation != self._poll_generation:
                raise ApiError(409, CONFLICT_POLL)

    _HANDLERS: ClassVar[dict[str, Callable[[FakeTelegram, Call], Any]]] = {
        "getMe": _get_me,
        "getChat": _get_chat,
        "getChatMember": _get_chat_member,
        "getChatAdministrators": _get_chat_administrators,
        "getChatMemberCount": _get_chat_member_count,
        "sendMessage": _send_message,
        "sendPhoto": _send_photo,
        "copyMessage": _copy_message,
        "forwardMessage": _forward_message,
        "editMessageText": _edit_message_text,
        "editMessageCaption": _edit_message_caption,
        "editMessageReplyMarkup": _edit_message_reply_markup,
        "deleteMessage": _delete_message,
        "deleteMessages": _delete_messages,
        "answerCallbackQuery": _answer_callback_query,
        "setMyCommands": _set_my_commands,
        "getMyCommands": _get_my_commands,
        "deleteMyCommands": _delete_my_commands,
        "setWebhook": _set_webhook,
        "deleteWebhook": _delete_webhook,
        "getWebhookInfo": _get_webhook_info,
    }
