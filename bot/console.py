"""`python -m bot console`: the real bot, offline, talking to an in-process Bot API stand-in.

The Application, handlers, poller, matcher and delivery are the production ones; only the
HTTP layer is swapped for `ConsoleRequest`, which answers Bot API methods from memory and
prints what the bot sends.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import tempfile
import time
from collections.abc import Callable
from email.utils import formatdate
from importlib import resources
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from pydantic import SecretStr
from telegram.request import BaseRequest, RequestData

from bot.app import build_application, running
from bot.context import BotApp, Services
from bot.formatting import html_to_console
from bot.ratelimit import Limits
from bot.settings import Settings

USER_ID = 1000
BOT_USER = {"id": 42, "is_bot": True, "first_name": "Headline Bot", "username": "headline_bot"}
CONSOLE_HELP = """Type a message (e.g. /start, /topic add bolivia, /latest 3, /search lithium).
A number presses the button shown with it. Console commands:
  :publish <title> | <summary>   add an item to the console's own feed and poll it
  :poll                          poll every feed now
  :help                          this help
  :quit                          leave (end of input works too)"""


class ConsoleWorld:
    """The state of the offline Bot API: one private chat, its messages and pending updates."""

    def __init__(self, show: Callable[[str], None]) -> None:
        self.show = show
        self.updates: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.update_ids = itertools.count(1)
        self.message_ids = itertools.count(1)
        self.last_pushed = 0
        self.confirmed = 0
        self.last_request = time.monotonic()
        self.buttons: list[tuple[int, str]] = []  # (message_id, callback_data) by number
        self.texts: dict[int, str] = {}
        self.chat = {"id": USER_ID, "type": "private", "first_name": "You"}
        self.user = {"id": USER_ID, "is_bot": False, "first_name": "You"}

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

    def _push(self, update: dict[str, Any]) -> None:
        update["update_id"] = next(self.update_ids)
        self.last_pushed = update["update_id"]
        self.updates.put_nowait(update)

    # -- what the bot does ----------------------------------------------------------------
    async def answer(self, method: str, params: dict[str, Any]) -> Any:
        """The result of one Bot API call."""
        self.last_request = time.monotonic()
        handler = getattr(self, f"api_{method}", None)
        if handler is None:
            return True
        return await handler(params)

    async def api_getMe(self, params: dict[str, Any]) -> Any:
        return {
            **BOT_USER,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def api_getUpdates(self, params: dict[str, Any]) -> Any:
        offset = int(params.get("offset") or 0)
        self.confirmed = max(self.confirmed, offset - 1)
        timeout = float(params.get("timeout") or 0)
        batch: list[dict[str, Any]] = []
        try:
            batch.append(await asyncio.wait_for(self.updates.get(), timeout=max(timeout, 0.01)))
        except TimeoutError:
            return []
        while not self.updates.empty():
            batch.append(self.updates.get_nowait())
        return batch

    def _message(self, text: str, params: dict[str, Any], message_id: int | None = None) -> Any:
        message_id = message_id or next(self.message_ids)
        self.texts[message_id] = text
        markup = params.get("reply_markup")
        if isinstance(markup, str):
            markup = json.loads(markup)
        rendered = html_to_console(text) if params.get("parse_mode") == "HTML" else text
        lines = [("✏️ " if "message_id" in params else "🤖 ") + rendered.replace("\n", "\n   ")]
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
            "chat": self.chat,
            "from": BOT_USER,
            "text": text,
        }

    async def api_sendMessage(self, params: dict[str, Any]) -> Any:
        return self._message(str(params.get("text", "")), params)

    async def api_editMessageText(self, params: dict[str, Any]) -> Any:
        return self._message(str(params.get("text", "")), params, int(params["message_id"]))

    async def api_copyMessage(self, params: dict[str, Any]) -> Any:
        text = self.texts.get(int(params["message_id"]), "")
        self.show("🤖 " + html_to_console(text))
        return {"message_id": next(self.message_ids)}

    async def api_answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        if params.get("text"):
            self.show(f"   ({params['text']})")
        return True

    async def api_getChatMember(self, params: dict[str, Any]) -> Any:
        return {"status": "creator", "user": self.user, "is_anonymous": False}

    async def api_getChat(self, params: dict[str, Any]) -> Any:
        return {
            **self.chat,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
            },
        }

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
        result = await self.world.answer(api_method, params)
        return 200, json.dumps({"ok": True, "result": result}).encode()


class ConsoleFeed:
    """The console's own RSS file, to which :publish adds items."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: list[str] = []
        self._write()

    def publish(self, title: str, summary: str) -> None:
        """Add one item (newest first) and rewrite the file."""
        n = len(self.items) + 1
        self.items.insert(
            0,
            f"<item><title>{xml_escape(title)}</title>"
            f"<link>https://example.org/console/{n}</link>"
            f'<guid isPermaLink="false">console-{n}-{time.time_ns()}</guid>'
            f"<description>{xml_escape(summary)}</description>"
            f"<pubDate>{formatdate(usegmt=True)}</pubDate></item>",
        )
        self._write()

    def _write(self) -> None:
        body = "".join(self.items)
        self.path.write_text(
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            "<title>Console feed</title><link>https://example.org/console/</link>"
            f"<description>Items published in the console</description>{body}</channel></rss>",
            encoding="utf-8",
        )


async def settle(app: BotApp, world: ConsoleWorld, services: Services, limit: float = 30.0) -> None:
    """Wait until the bot has handled every update and sent everything it queued."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        if world.confirmed < world.last_pushed and not world.updates.empty():
            continue
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


async def run_console(settings: Settings, *, admin: bool = False) -> int:
    """Chat with the bot in the terminal until :quit or end of input."""
    interactive = sys.stdin.isatty()

    def show(text: str) -> None:
        print(text, flush=True)

    with tempfile.TemporaryDirectory(prefix="headline-console-") as tmp:
        feed = ConsoleFeed(Path(tmp) / "console_feed.xml")
        sample = resources.files("bot.data").joinpath("sample_digest.xml")
        explicit = settings.model_fields_set
        feeds = list(settings.feed_urls) if "feed_urls" in explicit else [str(sample)]
        updates: dict[str, Any] = {
            "bot_token": SecretStr("0:console"),
            "telegram_api_url": "http://console.invalid",
            "feed_urls": [*feeds, str(feed.path)],
            "poll_interval_seconds": 3600.0,
            "webhook_url": None,
        }
        if "database_path" not in explicit:
            updates["database_path"] = Path(tmp) / "console.sqlite3"
        if admin:
            updates["admin_ids"] = [*settings.admin_ids, USER_ID]
        console_settings = settings.model_copy(update=updates)
        world = ConsoleWorld(show)
        app = build_application(
            console_settings,
            requests=(ConsoleRequest(world), ConsoleRequest(world)),
            limits=Limits.unlimited(),
        )
        async with running(app) as services:
            await services.poller.poll_all(force=True)
            count = await services.headlines.count()
            show(
                f"headline-bot console: {count} headlines from {len(feeds)} feed(s). "
                "Type :help for help."
            )
            await _loop(app, world, services, feed, interactive=interactive)
    return 0


async def _loop(
    app: BotApp, world: ConsoleWorld, services: Services, feed: ConsoleFeed, *, interactive: bool
) -> None:
    while True:
        if interactive:
            print("> ", end="", flush=True)
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line:
            return
        text = line.strip()
        if not text:
            continue
        if not interactive:
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
