"""The Bot API methods the fake models, each answered from the world (world.py).

Methods is one part of FakeTelegram: the server (server.py) dispatches a checked call to
the handler in `HANDLERS`; getUpdates long-polls on the server's notifier. Only the
methods the bot and the tests call are modelled; any other is a violation, unless a test
scripts its answer with respond().
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from tests.fakes.images import image_size
from tests.fakes.telegram.protocol import (
    CONFLICT_POLL,
    CONFLICT_WEBHOOK,
    NOT_MODIFIED,
    ApiError,
    Call,
    Json,
    Notifier,
)
from tests.fakes.telegram.spec import UploadedFile
from tests.fakes.telegram.validation import is_html, shown_text
from tests.fakes.telegram.world import StoredMessage

__all__ = ["HANDLERS", "Methods"]

MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # what a bot may upload
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # what getFile hands out
MAX_PHOTO_URL_BYTES = 5 * 1024 * 1024  # a photo Telegram fetches by URL
MAX_PHOTO_SIDES = 10_000  # width + height
MAX_PHOTO_RATIO = 20  # the longer side over the shorter
_ISSUED_PHOTO = re.compile(r"photo--?\d+-\d+")  # the file_ids the fake hands out

# Telegram's answers when it cannot use a photo given by URL or file_id.
WRONG_FILE = "Bad Request: wrong file identifier/HTTP URL specified"
URL_FAILED = "Bad Request: failed to get HTTP URL content"
WRONG_TYPE = "Bad Request: wrong type of the web page content"
IMAGE_FAILED = "Bad Request: IMAGE_PROCESS_FAILED"
BAD_DIMENSIONS = "Bad Request: PHOTO_INVALID_DIMENSIONS"


class Methods:
    """Answers to getMe, sends, edits, callbacks, commands, the webhook and getUpdates."""

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

    @staticmethod
    def _shown(call: Call, text: str) -> str:
        return shown_text(call.params.get("parse_mode"), text)

    def _send_message(self, call: Call) -> Json:
        text = call.params["text"]
        stored = self._store(call, kind="text", text=self._shown(call, text), html=text)
        return stored.data

    async def _send_photo(self, call: Call) -> Json:
        """A photo: an upload, a file_id the fake issued, or an http(s) URL that the fake
        fetches as Telegram does, refusing what it cannot use as a photo."""
        photo = call.params.get("photo")
        size: tuple[int, int] | None = None
        url: str | None = None
        if isinstance(photo, UploadedFile):
            if not photo.data:
                raise ApiError(400, "Bad Request: file must be non-empty")
        elif isinstance(photo, str) and photo.lower().startswith(("http://", "https://")):
            url = photo
            size = await self._fetch_photo(photo)
        elif isinstance(photo, str) and (photo in self.files or _ISSUED_PHOTO.fullmatch(photo)):
            url = photo
        else:
            raise ApiError(400, WRONG_FILE)
        caption = call.params.get("caption")
        stored = self._store(
            call,
            kind="photo",
            caption=self._shown(call, caption) if isinstance(caption, str) else None,
            caption_html=caption if isinstance(caption, str) else None,
            photo=url,
            photo_size=size,
        )
        return stored.data

    async def _fetch_photo(self, url: str) -> tuple[int, int]:
        """Fetch a photo's URL within photo_fetch_timeout and decode its size, or answer as
        Telegram does: a URL it cannot get, a page that is not an image, bytes it cannot read
        as a picture, or a picture of impossible dimensions."""
        self.photo_fetches.append(url)
        timeout = aiohttp.ClientTimeout(total=self.photo_fetch_timeout)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout, trust_env=False) as session,
                session.get(url, allow_redirects=True) as response,
            ):
                if response.status != 200:
                    raise ApiError(400, URL_FAILED)
                kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
                data = await response.content.read(MAX_PHOTO_URL_BYTES + 1)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            raise ApiError(400, URL_FAILED) from None
        if len(data) > MAX_PHOTO_URL_BYTES:
            raise ApiError(400, URL_FAILED)
        if not kind.startswith("image/"):
            raise ApiError(400, WRONG_TYPE)
        found = image_size(data)
        if found is None:
            raise ApiError(400, IMAGE_FAILED)
        _, width, height = found
        if (
            min(width, height) < 1
            or width + height > MAX_PHOTO_SIDES
            or max(width, height) > MAX_PHOTO_RATIO * min(width, height)
        ):
            raise ApiError(400, BAD_DIMENSIONS)
        return width, height

    def _send_document(self, call: Call) -> Json:
        """A document: a multipart upload (or a file_id / URL string), with a caption."""
        document = call.params.get("document")
        if isinstance(document, UploadedFile):
            name, mime, size = document.filename, document.content_type, len(document.data)
            if not call.content_type.startswith("multipart/form-data"):
                self._violation(call, f"a file upload must be multipart, got {call.content_type}")
            if not name:
                self._violation(call, "the uploaded document part has no filename")
            if not document.data:
                raise ApiError(400, "Bad Request: file must be non-empty")
            if size > MAX_UPLOAD_BYTES:
                raise ApiError(413, "Request Entity Too Large")
        elif isinstance(document, str) and document:
            name, mime, size = None, None, None
        else:
            raise ApiError(400, "Bad Request: there is no document in the request")
        caption = call.params.get("caption")
        stored = self._store(
            call,
            kind="document",
            caption=self._shown(call, caption) if isinstance(caption, str) else None,
            caption_html=caption if isinstance(caption, str) else None,
        )
        if isinstance(document, UploadedFile):  # held, so tests (and getFile) can read it
            held = self.add_file(document.data, file_name=name, mime_type=mime)
            info = held.document()
        elif isinstance(document, str) and document in self.files:
            info = self.files[document].document()
        else:
            uid = f"document-{stored.chat_id}-{stored.message_id}"
            info = {"file_id": uid, "file_unique_id": uid}
        stored.data["document"] = info
        return stored.data

    def _get_file(self, call: Call) -> Json:
        """getFile: where a held file can be downloaded (at most 20 MB, as Telegram)."""
        held = self.files.get(str(call.params.get("file_id", "")))
        if held is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if len(held.data) > MAX_DOWNLOAD_BYTES:
            raise ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": held.file_id,
            "file_unique_id": held.file_unique_id,
            "file_size": len(held.data),
            "file_path": held.file_path,
        }

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
        new_key = (shown, text if is_html(mode) else None)
        old_key = (stored.text, stored.html if is_html(stored.parse_mode) else None)
        if new_key == old_key and markup == stored.reply_markup:
            raise ApiError(400, NOT_MODIFIED)
        stored.text = shown
        stored.html = text
        stored.parse_mode = call.params.get("parse_mode")
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

    def inline_query_update(
        self, user_id: int, query: str, *, offset: str = "", chat_type: str = "private"
    ) -> Json:
        """An inline_query: a user typed `@bot query` in some chat."""
        answers: dict[str, dict[str, Any]] = self.__dict__.setdefault("inline_answers", {})
        opened: set[str] = self.__dict__.setdefault("_open_inline", set())
        query_id = f"iq{next(self._callback_ids)}"
        opened.add(query_id)
        del answers  # created here so tests can read `inline_answers` before any answer
        return {
            "inline_query": {
                "id": query_id,
                "from": self.user(user_id),
                "query": query,
                "offset": offset,
                "chat_type": chat_type,
            }
        }

    def _answer_inline_query(self, call: Call) -> bool:
        query_id = str(call.params["inline_query_id"])
        opened: set[str] = self.__dict__.setdefault("_open_inline", set())
        if query_id not in opened:
            raise ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        opened.discard(query_id)
        answers: dict[str, dict[str, Any]] = self.__dict__.setdefault("inline_answers", {})
        answers[query_id] = dict(call.params)
        return True

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
            notifier = self._updates_arrived or Notifier()
            await notifier.wait(remaining)
            if self.terminate_overlapping_polls and generation != self._poll_generation:
                raise ApiError(409, CONFLICT_POLL)


# The methods answered at once; getUpdates (a long poll) is awaited by the server itself.
HANDLERS: dict[str, Callable[[Any, Call], Any]] = {
    "getMe": Methods._get_me,
    "getChat": Methods._get_chat,
    "getChatMember": Methods._get_chat_member,
    "sendMessage": Methods._send_message,
    "sendPhoto": Methods._send_photo,
    "sendDocument": Methods._send_document,
    "getFile": Methods._get_file,
    "copyMessage": Methods._copy_message,
    "editMessageText": Methods._edit_message_text,
    "editMessageReplyMarkup": Methods._edit_message_reply_markup,
    "deleteMessage": Methods._delete_message,
    "answerCallbackQuery": Methods._answer_callback_query,
    "answerInlineQuery": Methods._answer_inline_query,
    "setMyCommands": Methods._set_my_commands,
    "getMyCommands": Methods._get_my_commands,
    "deleteMyCommands": Methods._delete_my_commands,
    "setWebhook": Methods._set_webhook,
    "deleteWebhook": Methods._delete_webhook,
    "getWebhookInfo": Methods._get_webhook_info,
}
