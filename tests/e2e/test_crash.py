"""Crash safety: the real `python -m bot` process killed with SIGKILL and started again.

Delivery marks a unit 'sending' before its request and 'sent' after it, and a restart puts
'sending' rows back to pending, so a kill may repeat the one message in flight but never
loses one. These tests hold the process to that, on the same database across many kills.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO

import aiosqlite
import asyncpg
import pytest

from storage import open_storage
from tests.e2e import harness
from tests.e2e.harness import FEED, database_of, item
from tests.e2e.test_process import clean_env
from tests.fakes.feed_server import FeedServer, rss
from tests.fakes.telegram import Call, FakeTelegram

ADMIN = 900  # not one of the chats: its previews would look like repeats


class BotProcess:
    """The real bot process, started and SIGKILLed at will, always on the same database
    (tmp_path/bot.sqlite3, or the PostgreSQL database that stands for it)."""

    def __init__(
        self,
        fake: FakeTelegram,
        feeds: FeedServer,
        tmp_path: Path,
        *,
        name: str = "bot",
        **env: str,
    ) -> None:
        self.fake = fake
        self.tmp_path = tmp_path
        self.name = name
        self.db_path = tmp_path / "bot.sqlite3"
        self.env = clean_env(
            BOT_TOKEN=fake.token,
            TELEGRAM_API_URL=f"http://127.0.0.1:{fake.port}",
            FEED_URLS=feeds.url(FEED),
            DATABASE_PATH=str(self.db_path),
            POLL_INTERVAL_SECONDS="1",
            ADMIN_IDS=str(ADMIN),
            LOG_LEVEL="INFO",
            **env,
        )
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0
        self.kills = 0
        self._log: IO[str] | None = None

    @property
    def log_path(self) -> Path:
        return self.tmp_path / f"{self.name}.log"

    async def start(self) -> None:
        """Spawn `python -m bot` (its output appended to bot.log)."""
        assert self.proc is None
        self.starts += 1
        self._log = self.log_path.open("a")
        self._log.write(f"\n===== start {self.starts}\n")
        self._log.flush()
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            env=self.env,
            cwd=self.tmp_path,
            stdout=self._log,
            stderr=self._log,
        )

    async def wait_ready(self, polls_before: int, timeout: float = 30) -> None:
        """Wait until this process long-polls (its post_init, delivery included, has run)."""
        await self.fake.wait_calls("getUpdates", polls_before + 1, timeout=timeout)

    async def kill(self) -> None:
        """SIGKILL: no shutdown hook, no commit, nothing flushed."""
        assert self.proc is not None
        assert self.proc.returncode is None, f"the bot exited by itself:\n{self.log_tail()}"
        self.proc.send_signal(signal.SIGKILL)
        self.kills += 1
        await self.proc.wait()
        self.proc = None
        self._close_log()

    async def stop(self) -> None:
        """SIGTERM and wait for a clean exit (the end of a test)."""
        if self.proc is None:
            return
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                self.proc.send_signal(signal.SIGKILL)
                await self.proc.wait()
        self.proc = None
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text() if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def message_text(call: Call) -> str:
    return str(call.params.get("text", ""))


def repeats(calls: Iterable[Call]) -> int:
    """How many messages were exact repeats of an earlier one to the same chat."""
    seen = Counter((c.chat_id, message_text(c)) for c in calls)
    return sum(n - 1 for n in seen.values())


async def populate(
    db_path: Path,
    private: Sequence[int],
    groups: Sequence[int],
    topics: dict[int, str] | None = None,
) -> None:
    """Register chats (and their topics) straight in the database, before the bot starts."""
    storage = await open_storage(database_of(db_path))
    try:
        chats = storage.chats
        subs = storage.subscriptions
        now = time.time()
        for chat_id in private:
            await chats.upsert(chat_id, kind="private", title=f"User {chat_id}", now=now)
        for chat_id in groups:
            await chats.upsert(chat_id, kind="group", title=f"Group {chat_id}", now=now)
        for chat_id, topic in (topics or {}).items():
            await subs.add(chat_id, [topic], thread_id=None, max_topics=50, now=now)
    finally:
        await storage.close()


async def confirm_broadcast(fake: FakeTelegram, text: str) -> None:
    """The admin drafts `/broadcast text` and presses the first button of the confirmation."""
    before = len(fake.sent_to(ADMIN))
    fake.push_update(fake.message_update(ADMIN, f"/broadcast {text}"))
    await fake.wait_for(lambda: len(fake.sent_to(ADMIN)) >= before + 2, 20)
    confirm = fake.sent_to(ADMIN)[-1]
    keys = confirm.params["reply_markup"]["inline_keyboard"][0]
    answered = len(fake.calls_of("answerCallbackQuery"))
    fake.push_update(
        fake.callback_update(
            ADMIN, confirm.result["message_id"], keys[0]["callback_data"], from_user=ADMIN
        )
    )
    await fake.wait_calls("answerCallbackQuery", answered + 1, timeout=20)


TOPICS = (
    "lithium",
    "copper",
    "cobalt",
    "nickel",
    "zinc",
    "uranium",
    "graphite",
    "bauxite",
    "silver",
    "platinum",
    "tungsten",
    "manganese",
)
KILLS = 20


def title_of(n: int) -> str:
    """The headline published for topic n."""
    return f"Bulletin {n} on {TOPICS[n]} prices"


Row = tuple[int, int | None, int | None, str, str | None]


OUTBOX_ROWS = (
    "SELECT o.chat_id, p.headline_id, o.broadcast_id, o.status, h.title"
    " FROM outbox AS o LEFT JOIN outbox_pushes AS p ON p.outbox_id = o.id"
    " LEFT JOIN headlines AS h ON h.id = p.headline_id"
)


async def outbox_rows(db_path: Path) -> list[Row]:
    """(chat, headline, broadcast, status, headline title) of every push and broadcast."""
    if harness.postgres is not None:
        conn = await asyncpg.connect(harness.postgres.url_for(db_path))
        try:
            return [(r[0], r[1], r[2], r[3], r[4]) for r in await conn.fetch(OUTBOX_ROWS)]
        finally:
            await conn.close()
    # read-only: the next bot process, not this check, must recover the killed one's WAL
    async with aiosqlite.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
        cur = await conn.execute(OUTBOX_ROWS)
        return [(r[0], r[1], r[2], r[3], r[4]) for r in await cur.fetchall()]


async def integrity(db_path: Path) -> str:
    """SQLite's integrity check verdict, read without writing."""
    async with aiosqlite.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
        cur = await conn.execute("PRAGMA integrity_check")
        row = await cur.fetchone()
        return str(row[0]) if row else ""


@pytest.mark.slow
async def test_kill_mid_broadcast_and_restart(tmp_path: Path, feed_server: FeedServer) -> None:
    private = range(1, 301)
    groups = range(-110, -100)
    everyone = [*private, *groups]
    text = "<b>Crash test</b> announcement"
    feed_server.set_feed(FEED, rss([item(1, "Old news", "x")]))
    await populate(tmp_path / "bot.sqlite3", private, groups)
    async with FakeTelegram(enforce_limits=True) as fake:
        bot = BotProcess(fake, feed_server, tmp_path)

        def got() -> list[Call]:
            return [
                c
                for c in fake.calls
                if c.ok and c.chat_id != ADMIN and "Crash test" in message_text(c)
            ]

        try:
            await bot.start()
            await bot.wait_ready(0)
            await confirm_broadcast(fake, text)
            # a third of the way through (about 3.5 s at 29/s), pull the plug
            await fake.wait_for(lambda: len(got()) >= 100, 30)
            await bot.kill()
            killed_at = len(got())
            assert killed_at < len(everyone), "the broadcast finished before the kill"
            polls = len(fake.calls_of("getUpdates"))
            await bot.start()
            await bot.wait_ready(polls)
            await fake.wait_for(lambda: {c.chat_id for c in got()} >= set(everyone), 40)
            await asyncio.sleep(1.5)  # nothing more may arrive
        finally:
            await bot.stop()
        violations = [v for v in fake.violations if "Connection lost" not in v]
        assert violations == [], violations
        calls = got()
        per_chat = Counter(c.chat_id for c in calls)
        assert set(per_chat) == set(everyone)
        twice = [chat for chat, n in per_chat.items() if n > 1]
        assert len(twice) <= bot.kills, f"repeated after {bot.kills} kill(s): {twice}"
        assert max(per_chat.values()) <= 2
        assert fake.too_many_requests == 0, bot.log_tail()
        print(f"killed after {killed_at} of {len(everyone)} chats; repeated: {twice}")
    # the admin, a reader too once it has talked to the bot, gets the announcement as well
    rows = [r for r in await outbox_rows(tmp_path / "bot.sqlite3") if r[0] != ADMIN]
    assert Counter(r[3] for r in rows) == Counter({"sent": len(everyone)})
    if harness.postgres is None:  # the file is whole (PostgreSQL keeps its own)
        assert await integrity(tmp_path / "bot.sqlite3") == "ok"


@pytest.mark.slow
async def test_crash_safety_across_pushes_and_a_broadcast(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    seed = int(os.environ.get("CRASH_SEED") or random.SystemRandom().randrange(10**6))
    print(f"crash test seed: {seed} (rerun with CRASH_SEED={seed})")
    rng = random.Random(seed)
    where = f"(CRASH_SEED={seed})"
    private = range(1, 601)
    groups = range(-210, -200)
    everyone = [*private, *groups]
    topic_of = {chat: i % len(TOPICS) for i, chat in enumerate(everyone)}
    announcement = "📣 <b>Maintenance</b> tonight"
    db_path = tmp_path / "bot.sqlite3"
    items = [item(0, "Old news", "Nothing to see")]
    feed_server.set_feed(FEED, rss(items))
    await populate(db_path, private, groups, {c: TOPICS[n] for c, n in topic_of.items()})
    gaps = [rng.uniform(0.5, 2.5) for _ in TOPICS]
    kill_plan = [
        ("early", rng.uniform(0.1, 1.5)) if rng.random() < 0.25 else ("ready", rng.uniform(0.1, 3))
        for _ in range(KILLS)
    ]
    broadcast_round = rng.randrange(3, 8)

    async with FakeTelegram() as fake:
        bot = BotProcess(fake, feed_server, tmp_path)

        def deliveries() -> list[Call]:
            return [
                c for c in fake.calls if c.ok and c.chat_id != ADMIN and c.method == "sendMessage"
            ]

        def inbox() -> dict[int | None, str]:
            """Every chat's received texts, joined (one pass over the calls)."""
            texts: dict[int | None, list[str]] = {}
            for call in deliveries():
                texts.setdefault(call.chat_id, []).append(message_text(call))
            return {chat: "\n\n".join(parts) for chat, parts in texts.items()}

        async def publish() -> None:
            for n, gap in enumerate(gaps, start=1):
                await asyncio.sleep(gap)
                items.insert(0, item(n, title_of(n - 1), f"Prices of {TOPICS[n - 1]} moved."))
                feed_server.set_feed(FEED, rss(items))

        # the first poll of a feed is its baseline (never pushed): take it before anything
        # is published, with the one-shot `python -m bot poll`
        baseline = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "poll",
            env=bot.env,
            cwd=tmp_path,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert await baseline.wait() == 0
        publisher = asyncio.create_task(publish())
        seen: set[tuple[int, int | None, int | None]] = set()
        try:
            for round_no, (when, delay) in enumerate(kill_plan):
                polls = len(fake.calls_of("getUpdates"))
                await bot.start()
                if round_no == broadcast_round:
                    await bot.wait_ready(polls)
                    await confirm_broadcast(fake, announcement)
                    await asyncio.sleep(delay)
                elif when == "early":
                    await asyncio.sleep(delay)
                else:
                    await bot.wait_ready(polls)
                    await asyncio.sleep(delay)
                await bot.kill()
                # what the dead process left behind: nothing lost, every 'sent' row delivered
                rows = await outbox_rows(db_path)
                keys = {(c, h, b) for c, h, b, _, _ in rows}
                assert keys >= seen, f"queued rows vanished after kill {bot.kills} {where}"
                seen = keys
                bad = [r for r in rows if r[3] not in ("pending", "sending", "sent")]
                assert not bad, f"rows given up after kill {bot.kills}: {bad[:5]} {where}"
                received = inbox()
                for chat, _, broadcast, status, title in rows:
                    if status == "sent":
                        marker = announcement if broadcast else str(title)
                        assert marker in received.get(chat, ""), (chat, marker, where)
                assert repeats(deliveries()) <= bot.kills, where
            await publisher
            polls = len(fake.calls_of("getUpdates"))
            await bot.start()
            await bot.wait_ready(polls)

            def complete() -> bool:
                received = inbox()
                return all(
                    title_of(topic_of[c]) in received.get(c, "")
                    and announcement in received.get(c, "")
                    for c in everyone
                )

            await fake.wait_for(complete, 90)
            await asyncio.sleep(1.5)  # nothing more may arrive
        finally:
            publisher.cancel()
            await bot.stop()
        # a request cut off by SIGKILL halfway through its body is the kill, not the bot
        violations = [v for v in fake.violations if "Connection lost" not in v]
        assert violations == [], violations
        calls = deliveries()
        texts_per_chat = Counter(c.chat_id for c in calls)
        distinct = {(c.chat_id, message_text(c)) for c in calls}
        assert len(distinct) == 2 * len(everyone), where  # one push and the announcement each
        extra = repeats(calls)
        assert extra <= bot.kills, f"{extra} repeats after {bot.kills} kills {where}"
        assert sum(texts_per_chat.values()) == 2 * len(everyone) + extra
        print(
            f"{bot.kills} kills, {bot.starts} starts, {len(calls)} messages, {extra} repeated, "
            f"{fake.too_many_requests} 429s"
        )
    rows = [r for r in await outbox_rows(db_path) if r[0] != ADMIN]
    assert Counter(r[3] for r in rows) == Counter({"sent": 2 * len(everyone)}), where
    if harness.postgres is None:
        assert await integrity(db_path) == "ok"
    assert bot.kills >= KILLS
