"""Channel benchmark: a channel in the post format following `*`, beside 1,500 readers.

    python benchmarks/channel.py [--readers 1500 --items 200 --interval 60 --minutes 5
                                  --commands 2]

Two runs of the real bot (the same child process as benchmarks/load.py: the Application from
``build_application`` with Telegram's limits, against FakeTelegram enforcing them and a
FeedServer whose feed gains ``--items`` items before every poll, every ``--interval`` wall
seconds), on the same seed and the same schedule of commands:

* with the channel: one more chat, a channel in the post format that follows `*`, so every
  headline of every poll is a post of its own (far more than Telegram's 20 a minute allow);
* without it: the readers alone.

Meanwhile private readers send `/latest 3` (``--commands`` a second, the same chats at the
same moments in both runs), and each reply's time from the update to the bot's answer is
measured at the fake.

Printed: the channel's posts and their sustained rate against Telegram's 20 a minute (posts
after the first window over the time they took, so the first burst of 20 does not flatter
it), the busiest 60 s, the 429s, and the replies' p50 / p95 / max in both runs with the p95
ratio (target: within 10 %).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.load import Child, FeedWriter, seed  # noqa: E402
from benchmarks.matching import Zipf, make_subscriptions, vocabulary  # noqa: E402

FEED_PATH = "/feed.xml"
CHANNEL = -1_009_999_999_999
CHANNEL_LIMIT = 20  # posts a minute Telegram allows a channel
LOAD = ROOT / "benchmarks" / "load.py"


@dataclass
class Run:
    """What one run measured."""

    with_channel: bool
    posts: list[float]  # the channel's accepted posts (fake's clock)
    replies: list[float]  # seconds from each command to its answer
    unanswered: int
    floods: int
    channel_floods: int
    reader_messages: int
    polls: int
    violations: list[str]


def seed_channel(db_path: Path) -> None:
    """The channel: following `*` in the post format, pictures on (the defaults)."""
    now = time.time()
    conn = sqlite3.connect(db_path)
    try:
        with conn:
            conn.execute(
                "INSERT INTO chats (id, kind, title, is_forum, active, created_at, updated_at)"
                " VALUES (?, 'channel', 'Wire', 0, 1, ?, ?)",
                (CHANNEL, now, now),
            )
            conn.execute(
                "INSERT INTO subscriptions (chat_id, topic, display, thread_id, created_at)"
                " VALUES (?, '*', '*', NULL, ?)",
                (CHANNEL, now),
            )
            conn.execute(
                "INSERT INTO chat_settings (chat_id, format, updated_at) VALUES (?, 'post', ?)",
                (CHANNEL, now),
            )
    finally:
        conn.close()


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of values, by nearest rank."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))
    return ordered[rank]


def sustained_per_minute(times: Sequence[float], window: int = CHANNEL_LIMIT) -> float:
    """Posts a minute once the first window's burst is past: the posts after the first
    `window` over the time from the window-th to the last."""
    if len(times) <= window:
        return float("nan")
    span = times[-1] - times[window - 1]
    return (len(times) - window) / span * 60 if span > 0 else float("nan")


def busiest(times: Sequence[float], period: float = 60.0) -> int:
    """The most posts in any `period` seconds."""
    best = start = 0
    for end, t in enumerate(times):
        while times[start] <= t - period:
            start += 1
        best = max(best, end - start + 1)
    return best


async def one_run(args: argparse.Namespace, *, with_channel: bool) -> Run:
    from tests.fakes.feed_server import FeedServer, rss
    from tests.fakes.telegram import FakeTelegram

    rng = random.Random(args.seed)
    vocab = vocabulary()
    workdir = Path(tempfile.mkdtemp(prefix="headline-channel-"))
    db_path = workdir / "bot.sqlite3"
    subs = make_subscriptions(args.readers, args.topics, Zipf(vocab, args.zipf, rng), rng)
    await seed(db_path, subs)
    if with_channel:
        seed_channel(db_path)
    readers = [chat_id for chat_id, _ in subs if chat_id > 0]
    writer = FeedWriter(Zipf(vocab, args.news_zipf, rng), rng, 2 * args.items)
    writer.add(2 * args.items)  # the feed's baseline
    schedule = random.Random(args.seed + 1)  # the same commands at the same times in both runs
    async with FakeTelegram(enforce_limits=True) as fake, FeedServer() as feeds:
        feeds.set_feed(FEED_PATH, rss(writer.items, title="Load feed"))
        cfg = {
            "token": fake.token,
            "telegram_api_url": f"http://127.0.0.1:{fake.port}",
            "feed_url": feeds.url(FEED_PATH),
            "db": str(db_path),
            "clock_start": None,
            "slot": None,
        }
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")} | {
            "PYTHONPATH": str(ROOT)
        }
        with open(workdir / "bot.log", "wb") as log_file:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                str(LOAD),
                "--child",
                json.dumps(cfg),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log_file,
                env=env,
                cwd=str(workdir),
            )
        child = Child(proc)
        asked: list[tuple[int, float]] = []
        try:
            await child.read()  # ready: the baseline is read
            started = time.monotonic()
            end = started + args.minutes * 60
            polls = 0
            next_poll = started
            next_command = started + schedule.expovariate(args.commands)
            polling: asyncio.Task[Any] | None = None

            async def poll() -> None:
                writer.add(args.items)
                feeds.set_feed(FEED_PATH, rss(writer.items, title="Load feed"))
                await child.send("poll")
                await child.read()

            while time.monotonic() < end:
                now = time.monotonic()
                if now >= next_poll and (polling is None or polling.done()):
                    # in the background: commands keep coming while the bot polls
                    polling = asyncio.create_task(poll())
                    polls += 1
                    next_poll += args.interval
                    continue
                if now >= next_command:
                    chat_id = schedule.choice(readers)
                    fake.push_update(fake.message_update(chat_id, "/latest 3"))
                    asked.append((chat_id, time.monotonic()))
                    next_command += schedule.expovariate(args.commands)
                    continue
                wake = min(next_poll, next_command) - time.monotonic()
                await asyncio.sleep(min(max(0.0, wake), 0.5))
            if polling is not None:
                await polling
            await asyncio.sleep(5)  # the last replies
        finally:
            if proc.returncode is None:
                await child.send("quit")
                try:
                    await asyncio.wait_for(proc.wait(), 60)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
        replies: list[float] = []
        unanswered = 0
        answers = [
            c
            for c in fake.calls
            if c.method == "sendMessage" and c.ok and "Latest headlines" in str(c.params["text"])
        ]
        by_chat: dict[int, list[float]] = {}
        for call in answers:
            assert call.chat_id is not None
            by_chat.setdefault(call.chat_id, []).append(call.at)
        for chat_id, at in asked:
            times = by_chat.get(chat_id, [])
            later = [t for t in times if t >= at]
            if not later:
                unanswered += 1
                continue
            replies.append(later[0] - at)
            times.remove(later[0])
        posts = [
            c.at
            for c in fake.calls
            if c.ok
            and c.chat_id == CHANNEL
            and c.method
            in (
                "sendMessage",
                "sendPhoto",
            )
        ]
        channel_floods = sum(1 for c in fake.calls if c.chat_id == CHANNEL and c.status == 429)
        reader_messages = sum(
            1 for c in fake.calls if c.ok and c.chat_id is not None and c.chat_id != CHANNEL
        )
        return Run(
            with_channel=with_channel,
            posts=posts,
            replies=replies,
            unanswered=unanswered,
            floods=fake.too_many_requests,
            channel_floods=channel_floods,
            reader_messages=reader_messages,
            polls=polls,
            violations=list(fake.violations),
        )


def report(run: Run) -> None:
    name = "with the channel" if run.with_channel else "without the channel"
    print(f"\n{name}: {run.polls} polls, {run.reader_messages:,} messages to readers")
    if run.with_channel:
        rate = sustained_per_minute(run.posts)
        print(
            f"  channel: {len(run.posts)} posts; sustained {rate:.2f} a minute ="
            f" {rate / CHANNEL_LIMIT:.3f} of Telegram's {CHANNEL_LIMIT} (target >= 0.95);"
            f" busiest 60 s: {busiest(run.posts)}; its 429s: {run.channel_floods}"
        )
    print(
        f"  replies to /latest: {len(run.replies)} (unanswered {run.unanswered}),"
        f" p50 {statistics.median(run.replies) * 1000:.0f} ms,"
        f" p95 {percentile(run.replies, 0.95) * 1000:.0f} ms,"
        f" max {max(run.replies) * 1000:.0f} ms; 429s in all: {run.floods};"
        f" Bot API violations: {len(run.violations)}"
    )


async def main_async(args: argparse.Namespace) -> int:
    print(
        f"{args.readers:,} readers x {args.topics} topics; a feed adding {args.items} items every"
        f" {args.interval:g} s; {args.commands:g} commands a second; {args.minutes:g} minutes a run"
    )
    runs = []
    for with_channel in (True, False):
        run = await one_run(args, with_channel=with_channel)
        report(run)
        runs.append(run)
    channel, alone = runs
    ratio = percentile(channel.replies, 0.95) / percentile(alone.replies, 0.95)
    print(
        f"\nreplies' p95 with the channel / without: {ratio:.2f}"
        f" ({'within' if ratio <= 1.10 else 'NOT within'} 10 %)"
    )
    bad = channel.channel_floods or channel.violations or alone.violations
    return 1 if bad else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--readers", type=int, default=1500)
    parser.add_argument("--topics", type=int, default=5, help="topics per reader")
    parser.add_argument("--items", type=int, default=200, help="new feed items per poll")
    parser.add_argument("--interval", type=float, default=60.0, help="wall seconds between polls")
    parser.add_argument("--minutes", type=float, default=5.0, help="length of each run")
    parser.add_argument("--commands", type=float, default=2.0, help="commands a second")
    parser.add_argument("--zipf", type=float, default=1.0)
    parser.add_argument("--news-zipf", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
