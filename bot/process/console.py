"""`python -m bot console`: the real bot, offline, talking to an in-process Bot API stand-in.

The Application, handlers, poller, matcher and delivery are the production ones; only the
HTTP layer is swapped for `ConsoleRequest`, which answers Bot API methods from memory (with
objects valid for the Bot API version python-telegram-bot expects) and prints what the bot
sends. The console runs on a temporary database and a copy of the bundled sample feed
unless told otherwise, so a `.env` made for the real bot is never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import logging
import os
import signal
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from email.utils import formatdate
from importlib import resources
from pathlib import Path
from typing import IO, Any
from xml.sax.saxutils import escape as xml_escape

from pydantic import SecretStr
from telegram.request import BaseRequest, RequestData

from bot.app import build_application, running
from bot.config import Settings
from bot.context import BotApp, Services
from bot.delivery.limiter import Limits
from bot.formatting import html_to_console
from bot.process.logs import ConsoleLogHandler
from storage.lock import AlreadyRunningError, acquire_lock

log = logging.getLogger(__name__)

USER_ID = 1000
BOT_ID = 42
BOT_USER = {"id": BOT_ID, "is_bot": True, "first_name": "Headline Bot", "username": "headline_bot"}
EXIT_INTERRUPTED = 130  # what a shell reports for a program ended by Ctrl-C (128 + SIGINT)
CONSOLE_HELP = """Type a message (e.g. /start, /topic add bolivia, /latest 3, /search lithium).
A number presses the button shown with it. Any @name is a pretend channel you own, with
the bot as its admin: /topic @mychannel add lithium. Console commands:
  :publish <title> | <summary>   add an item to the console's own feed and poll it
  :poll                          poll every feed now
  :help                          this help
  :quit                          leave (Ctrl-D or end of input too; Ctrl-C leaves at once)"""
# A chat's full info (getChat) needs these on top of the chat itself (Bot API 10.0).
ACCEPTED_GIFT_TYPES = {
    "unlimited_gifts": False,
    "limited_gifts": False,
    "unique_gifts": False,
    "premium_subscription": False,
    "gifts_from_channels": False,
}
# The rights of the bot in a pretend channel: an administrator who may post.
BOT_ADMIN_RIGHTS = {
    "can_be_edited": False,
    "is_anonymous": False,
    "can_manage_chat": True,
    "can_delete_messages": True,
    "can_manage_video_chats": False,
    "can_restrict_members": False,
    "can_promote_members": False,
    "can_change_info": False,
    "can_invite_users": True,
    "can_post_stories": False,
    "can_edit_stories": False,
    "can_delete_stories": False,
    "can_post_messages": True,
    "can_edit_messages": True,
}


class ConsoleApiError(Exception):
    """A Bot API error answer (`ok: false`) from the console's stand-in."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def channel_id(username: str) -> int:
    """A stable pretend id for a channel username, in Telegram's -100... range."""
    return -(10**12 + zlib.crc32(username.lower().encode()) % 10**9)


class ConsoleWorld:
    """The state of the offline Bot API: the person's private chat, pretend channels,
    the messages shown and the pending updates."""

    def __init__(self, show: Callable[[str], None]) -> None:
        self.show = show
        self.updates: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.update_ids = itertools.count(1)
        self.message_ids = itertools.count(1)
        self.last_pushed = 0
        self.confirmed = 0
        self.last_request = time.monotonic()
        self.closed = False
        self.buttons: list[tuple[int, str]] = []  # (message_id, callback_data) by number
        self.texts: dict[int, str] = {}
        self.user = {"id": USER_ID, "is_bot": False, "first_name": "You"}
        self.chat = {"id": USER_ID, "type": "private", "first_name": "You"}
        self.chats: dict[int, dict[str, Any]] = {USER_ID: self.chat}

    # -- what the person does -------------------------------------------------------------
    def type_text(self, text: str) -> None:
        """A message from the console user."""
        message: dict[str, Any] = {
            "message_id": next(self.message_ids),
            "date": int(time.time()),
            "chat": self.chat,
            "from": self.user,
            "text": text,
        }
        if text.startswith("/"):
            length = len(text.split(maxsplit=1)[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        self._push({"message": message})

    def press(self, number: int) -> bool:
        """Press button `number` of the last keyboard shown."""
        if not 1 <= number <= len(self.buttons):
            return False
        message_id, data = self.buttons[number - 1]
        message = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": self.chat,
            "from": BOT_USER,
            "text": self.texts.get(message_id, ""),
        }
        self._push(
            {
                "callback_query": {
                    "id": str(next(self.update_ids)),
                    "from": self.user,
                    "chat_instance": "console",
                    "message": message,
                    "data": data,
                }
            }
        )
        return True

    def close(self) -> None:
        """Stop long polls at once: every later getUpdates answers an empty list."""
        self.closed = True
        self.updates.put_nowait(None)

    def _push(self, update: dict[str, Any]) -> None:
        update["update_id"] = next(self.update_ids)
        self.last_pushed = update["update_id"]
        self.updates.put_nowait(update)

    # -- the chats ------------------------------------------------------------------------
    def chat_for(self, chat_id: object) -> dict[str, Any]:
        """The chat a call names: the person's, a pretend channel ('@name') or one already
        known; a chat of another database (--database) is taken at its word."""
        if isinstance(chat_id, str) and chat_id.startswith("@") and len(chat_id) > 1:
            name = chat_id[1:]
            cid = channel_id(name)
            return self.chats.setdefault(
                cid, {"id": cid, "type": "channel", "title": name, "username": name}
            )
        try:
            cid = int(str(chat_id))
        except ValueError:
            raise ConsoleApiError(400, "Bad Request: chat not found") from None
        known = self.chats.get(cid)
        if known is not None:
            return known
        if cid > 0:
            return {"id": cid, "type": "private", "first_name": f"user {cid}"}
        return {"id": cid, "type": "supergroup", "title": f"chat {cid}"}

    def _where(self, chat: dict[str, Any]) -> str:
        if chat["id"] == USER_ID:
            return ""
        name = f"@{chat['username']}" if chat.get("username") else str(chat["id"])
        return f"→ {name}: "

    def _member(self, chat: dict[str, Any], user_id: int) -> dict[str, Any]:
        if chat["type"] == "private":
            user = self.user if user_id == USER_ID else BOT_USER
            return {"status": "member", "user": user}
        if chat["type"] == "channel" and user_id == USER_ID:
            return {"status": "creator", "user": self.user, "is_anonymous": False}
        if chat["type"] == "channel" and user_id == BOT_ID:
            return {"status": "administrator", "user": BOT_USER, **BOT_ADMIN_RIGHTS}
        user = {"id": user_id, "is_bot": False, "first_name": f"user {user_id}"}
        return {"status": "left", "user": user}

    # -- what the bot does ----------------------------------------------------------------
    async def answer(self, method: str, params: dict[str, Any]) -> Any:
        """The result of one Bot API call; raises ConsoleApiError for an error answer."""
        self.last_request = time.monotonic()
        handler = getattr(self, f"api_{method}", None)
        if handler is None:
            # answering True to a method that returns an object would break the caller
            raise ConsoleApiError(400, f"Bad Request: the console does not offer {method}")
        return await handler(params)

    async def api_getMe(self, params: dict[str, Any]) -> Any:
        return {
            **BOT_USER,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def api_deleteWebhook(self, params: dict[str, Any]) -> Any:
        return True

    async def api_setMyCommands(self, params: dict[str, Any]) -> Any:
        return True

    async def api_getUpdates(self, params: dict[str, Any]) -> Any:
        offset = int(params.get("offset") or 0)
        self.confirmed = max(self.confirmed, offset - 1)
        timeout = float(params.get("timeout") or 0)
        if self.closed:
            return []
        try:
            first = await asyncio.wait_for(self.updates.get(), timeout=max(timeout, 0.01))
        except TimeoutError:
            return []
        batch: list[dict[str, Any]] = []
        item: dict[str, Any] | None = first
        while item is not None:
            batch.append(item)
            if self.updates.empty():
                return batch
            item = self.updates.get_nowait()
        self.updates.put_nowait(None)  # closed: keep answering at once
        return batch

    def _message(self, text: str, params: dict[str, Any], message_id: int | None = None) -> Any:
        chat = self.chat_for(params.get("chat_id", USER_ID))
        message_id = message_id or next(self.message_ids)
        self.texts[message_id] = text
        markup = params.get("reply_markup")
        if isinstance(markup, str):
            markup = json.loads(markup)
        rendered = html_to_console(text) if params.get("parse_mode") == "HTML" else text
        mark = "✏️ " if "message_id" in params else "🤖 "
        lines = [mark + self._where(chat) + rendered.replace("\n", "\n   ")]
        keyboard = (markup or {}).get("inline_keyboard") or []
        if keyboard:
            self.buttons = []
            labels = []
            for row in keyboard:
                for button in row:
                    if "callback_data" in button:
                        self.buttons.append((message_id, button["callback_data"]))
                        labels.append(f"[{len(self.buttons)}] {button['text']}")
                    elif "url" in button:
                        labels.append(f"{button['text']} <{button['url']}>")
            lines.append("   " + "  ".join(labels))
        self.show("\n".join(lines))
        return {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": chat,
            "from": BOT_USER,
            "text": text,
        }

    async def api_sendMessage(self, params: dict[str, Any]) -> Any:
        return self._message(str(params.get("text", "")), params)

    async def api_sendPhoto(self, params: dict[str, Any]) -> Any:
        """A post with its picture: the picture's address, then its caption."""
        photo = xml_escape(str(params.get("photo", "")))
        caption = str(params.get("caption") or "")
        message = self._message(f"🖼 {photo}\n{caption}", params)
        del message["text"]
        return {
            **message,
            "caption": caption,
            "photo": [{"file_id": "console", "file_unique_id": "console", "width": 1, "height": 1}],
        }

    async def api_editMessageText(self, params: dict[str, Any]) -> Any:
        return self._message(str(params.get("text", "")), params, int(params["message_id"]))

    async def api_copyMessage(self, params: dict[str, Any]) -> Any:
        chat = self.chat_for(params.get("chat_id", USER_ID))
        text = self.texts.get(int(params["message_id"]), "")
        self.show("🤖 " + self._where(chat) + html_to_console(text))
        return {"message_id": next(self.message_ids)}

    async def api_answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        if params.get("text"):
            self.show(f"   ({params['text']})")
        return True

    async def api_getChat(self, params: dict[str, Any]) -> Any:
        chat = self.chat_for(params.get("chat_id"))
        return {
            **chat,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": ACCEPTED_GIFT_TYPES,
        }

    async def api_getChatMember(self, params: dict[str, Any]) -> Any:
        chat = self.chat_for(params.get("chat_id"))
        return self._member(chat, int(params.get("user_id") or 0))

    async def api_getChatAdministrators(self, params: dict[str, Any]) -> Any:
        chat = self.chat_for(params.get("chat_id"))
        if chat["type"] == "private":
            raise ConsoleApiError(
                400, "Bad Request: there are no administrators in the private chat"
            )
        return [self._member(chat, USER_ID), self._member(chat, BOT_ID)]

    def idle_for(self) -> float:
        """Seconds since the bot last called the API."""
        return time.monotonic() - self.last_request


class ConsoleRequest(BaseRequest):
    """A Bot API 'connection' that never leaves the process."""

    def __init__(self, world: ConsoleWorld) -> None:
        self.world = world

    @property
    def read_timeout(self) -> float | None:
        """No network, so no timeout of its own."""
        return None

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Answer the call from the console world."""
        api_method = url.rsplit("/", 1)[-1]
        params = dict(request_data.parameters) if request_data else {}
        try:
            result = await self.world.answer(api_method, params)
        except ConsoleApiError as exc:
            body = {"ok": False, "error_code": exc.code, "description": exc.description}
            return exc.code, json.dumps(body).encode()
        return 200, json.dumps({"ok": True, "result": result}).encode()


def banner(headlines: int, feeds: int) -> str:
    """The console's first line: the headlines and the feeds, counted as /stats counts them."""
    stored = f"{headlines} {'headline' if headlines == 1 else 'headlines'}"
    read = f"{feeds} {'feed' if feeds == 1 else 'feeds'}"
    return f"headline-bot console: {stored} from {read}. Type :help for help."


def feed_item(title: str, summary: str, *, n: int, guid: str, published: str) -> str:
    """One RSS <item> published in the console."""
    return (
        f"<item><title>{xml_escape(title)}</title>"
        f"<link>https://example.org/console/{n}</link>"
        f'<guid isPermaLink="false">{xml_escape(guid)}</guid>'
        f"<description>{xml_escape(summary)}</description>"
        f"<pubDate>{published}</pubDate></item>"
    )


def add_item(feed_xml: str, item: str) -> str:
    """The feed with `item` first among its items (or last in its channel when it has none)."""
    at = feed_xml.find("<item>")
    if at < 0:
        at = feed_xml.rfind("</channel>")
    if at < 0:
        raise ValueError("not an RSS feed: no <channel>")
    return feed_xml[:at] + item + "\n    " + feed_xml[at:]


EMPTY_FEED = (
    '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
    "<title>Console feed</title><link>https://example.org/console/</link>"
    "<description>Items published in the console</description>\n</channel></rss>\n"
)


class ConsoleFeed:
    """The RSS file :publish adds items to: a copy of the sample digest, or an empty feed."""

    def __init__(self, path: Path, text: str = EMPTY_FEED) -> None:
        self.path = path
        self.published = 0
        self.path.write_text(text, encoding="utf-8")

    def publish(self, title: str, summary: str) -> None:
        """Add one item (newest first) and rewrite the file."""
        self.published += 1
        item = feed_item(
            title,
            summary,
            n=self.published,
            guid=f"console-{self.published}-{time.time_ns()}",
            published=formatdate(usegmt=True),
        )
        text = self.path.read_text(encoding="utf-8")
        self.path.write_text(add_item(text, item), encoding="utf-8")


class LineReader:
    """Reads lines in a thread of its own, so the bot keeps running while a person types.

    A terminal gets `input()`, with line editing and history through `readline` where the
    platform has it; piped input is read line by line. The thread is a daemon: a person who
    leaves with Ctrl-C in the middle of a line does not keep the process alive.
    """

    def __init__(self, stream: IO[str], *, interactive: bool) -> None:
        self.stream = stream
        self.interactive = interactive
        self.prompt: str | None = None  # while a person is typing a line at the terminal
        self._readline: Any = None
        if interactive:
            try:
                import readline  # importing it gives input() line editing and history
            except ImportError:  # e.g. Windows
                pass
            else:
                self._readline = readline

    @property
    def editing(self) -> bool:
        """Whether lines are edited with readline (arrow keys, history)."""
        return self._readline is not None

    def show(self, text: str, *, stream: IO[str] | None = None) -> None:
        """Print `text` on lines of its own; a line being typed is redrawn below it."""
        out = stream or sys.stdout
        prompt = self.prompt
        if prompt is None:
            print(text, file=out, flush=True)
            return
        typed = self._readline.get_line_buffer() if self._readline is not None else ""
        sys.stdout.write("\r\x1b[K")  # back to the start of the prompt's line, cleared
        sys.stdout.flush()
        print(text, file=out, flush=True)
        sys.stdout.write(prompt + typed)
        sys.stdout.flush()

    async def read(self, prompt: str) -> str | None:
        """The next line without its newline, or None at the end of input."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str | None] = loop.create_future()

        def deliver(line: str | None) -> None:
            self.prompt = None
            if not future.done():
                future.set_result(line)

        def work() -> None:
            line: str | None
            try:
                if self.interactive:
                    line = input(prompt)
                else:
                    raw = self.stream.readline()
                    line = raw.rstrip("\r\n") if raw else None
            except (EOFError, OSError, ValueError):
                line = None
            with contextlib.suppress(RuntimeError):  # the loop is gone: the console left
                loop.call_soon_threadsafe(deliver, line)

        if self.interactive:
            self.prompt = prompt
        threading.Thread(target=work, name="console-input", daemon=True).start()
        return await future


class TerminalModes:
    """The terminal's modes at the start, to put back on the way out: readline changes them
    while a line is edited, and Ctrl-C may leave in the middle of one."""

    def __init__(self, stream: IO[str]) -> None:
        self._saved: Callable[[], None] | None = None
        try:
            import termios  # POSIX only
        except ImportError:
            return
        try:
            fd = stream.fileno()
            saved = termios.tcgetattr(fd)
        except (termios.error, OSError, ValueError):  # not a terminal
            return

        def put_back() -> None:
            with contextlib.suppress(termios.error, OSError):
                termios.tcsetattr(fd, termios.TCSADRAIN, saved)

        self._saved = put_back

    def restore(self) -> None:
        """Put the saved modes back (nothing when there was no terminal)."""
        if self._saved is not None:
            self._saved()


async def settle(app: BotApp, world: ConsoleWorld, services: Services, limit: float = 30.0) -> None:
    """Wait until the bot has handled every update and sent everything it queued."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        if world.confirmed < world.last_pushed:
            continue
        if app.update_queue.qsize() or app.update_processor.current_concurrent_updates:
            continue
        backlog = await services.outbox.backlog()
        ready = await services.outbox.ready_chats(now=time.time(), limit=1)
        if backlog.get("total", 0) and ready:
            continue
        if world.idle_for() >= 0.25:
            return


async def run_console(
    settings: Settings,
    *,
    admin: bool = False,
    database: Path | None = None,
    feeds: Sequence[str] = (),
) -> int:
    """Chat with the bot in the terminal until :quit, Ctrl-D or end of input (0), or Ctrl-C
    (130, at once).

    The console uses a temporary database and a copy of the bundled sample feed, whatever
    the settings say, unless `database` or `feeds` are given.
    """
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    modes = TerminalModes(sys.stdin)
    interrupted = False

    def on_interrupt() -> None:
        nonlocal interrupted
        if interrupted:
            # a second Ctrl-C while stopping: leave now (the database thread would keep
            # the process alive if its stop were cut short)
            modes.restore()
            print(flush=True)
            os._exit(EXIT_INTERRUPTED)
        interrupted = True
        if main is not None:
            main.cancel()

    try:
        loop.add_signal_handler(signal.SIGINT, on_interrupt)
    except (NotImplementedError, RuntimeError):  # no signal handlers here: KeyboardInterrupt
        log.debug("Ctrl-C falls back to KeyboardInterrupt")
    reader = LineReader(sys.stdin, interactive=sys.stdin.isatty())
    log_handlers = [h for h in logging.getLogger().handlers if isinstance(h, ConsoleLogHandler)]
    writers = [handler.write for handler in log_handlers]
    for handler in log_handlers:
        handler.write = functools.partial(reader.show, stream=sys.stderr)
    try:
        return await _session(settings, reader, admin=admin, database=database, feeds=feeds)
    except asyncio.CancelledError:
        if not interrupted:
            raise
        if main is not None:
            main.uncancel()
        print(flush=True)
        return EXIT_INTERRUPTED
    finally:
        for handler, write in zip(log_handlers, writers, strict=True):
            handler.write = write
        modes.restore()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGINT)


async def _session(
    settings: Settings,
    reader: LineReader,
    *,
    admin: bool,
    database: Path | None,
    feeds: Sequence[str],
) -> int:
    show = reader.show
    with tempfile.TemporaryDirectory(prefix="headline-console-") as tmp:
        if feeds:
            feed = ConsoleFeed(Path(tmp) / "console_feed.xml")
            feed_urls = [*feeds, str(feed.path)]
            feed_note = f"feeds: {', '.join(feeds)} (and {feed.path} for :publish)"
        else:
            sample = resources.files("bot.data").joinpath("sample_digest.xml")
            feed = ConsoleFeed(Path(tmp) / "sample_digest.xml", sample.read_text(encoding="utf-8"))
            feed_urls = [str(feed.path)]
            feed_note = f"feed: {feed.path} (a copy of the bundled sample; :publish adds to it)"
        lock = None
        if database is not None:
            try:
                lock = acquire_lock(database)
            except AlreadyRunningError as exc:
                print(f"headline-bot console: {exc}", file=sys.stderr)
                return 1
            database_note = f"database: {database}"
        else:
            database = Path(tmp) / "console.sqlite3"
            database_note = f"database: {database} (temporary, deleted on exit)"
        console_settings = settings.model_copy(
            update={
                "bot_token": SecretStr("0:console"),
                "telegram_api_url": "http://console.invalid",
                "feed_urls": feed_urls,
                "database_path": database,
                "poll_interval_seconds": 3600.0,
                "webhook_url": None,
                # the console has one person; admins of a real deployment are not here
                "admin_ids": [USER_ID] if admin else [],
            }
        )
        world = ConsoleWorld(show)
        app = build_application(
            console_settings,
            requests=(ConsoleRequest(world), ConsoleRequest(world)),
            limits=Limits.unlimited(),
        )
        try:
            async with running(app) as services:
                try:
                    await services.poller.poll_all(force=True)
                    show(
                        banner(await services.headlines.count(), len(await services.feeds.all()))
                        + f"\n  {database_note}\n  {feed_note}"
                    )
                    await _loop(app, world, services, feed, reader)
                finally:
                    world.close()
        finally:
            if lock is not None:
                lock.close()
    return 0


async def _loop(
    app: BotApp, world: ConsoleWorld, services: Services, feed: ConsoleFeed, reader: LineReader
) -> None:
    while True:
        line = await reader.read("> ")
        if line is None:
            if reader.interactive:
                print(flush=True)  # Ctrl-D: the shell's prompt on a line of its own
            return
        text = line.strip()
        if not text:
            continue
        if not reader.interactive:
            print(f"> {text}", flush=True)
        if text in (":quit", ":q", ":exit"):
            return
        if text == ":help":
            print(CONSOLE_HELP, flush=True)
            continue
        if text == ":poll":
            for report in await services.poller.poll_all(force=True):
                print(f"   {report.describe()}", flush=True)
        elif text.startswith(":publish"):
            title, _, summary = text.removeprefix(":publish").partition("|")
            if not title.strip():
                print("   usage: :publish <title> | <summary>", flush=True)
                continue
            feed.publish(title.strip(), summary.strip())
            print(f"   (published “{title.strip()}” to the console feed; polling)", flush=True)
            await services.poller.poll_all(force=True)
        elif text.startswith(":"):
            print("   unknown console command; :help lists them", flush=True)
            continue
        elif text.isdigit() and world.buttons:
            if not world.press(int(text)):
                print(f"   no button {text}", flush=True)
                continue
        else:
            world.type_text(text)
        await settle(app, world, services)
