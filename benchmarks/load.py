"""Load benchmark: the whole bot under 100,000 chats and a busy feed, for an hour of polls.

    python benchmarks/load.py [--chats 100000 --topics 5 --items 200 --polls 12
                               --interval 300 --speedup 30 --window 60] [--digest 08:00]

What runs where:

* This process seeds the database and runs the fakes: FakeTelegram (a Bot API server that
  enforces Telegram's flood limits: 30/s overall, ~1/s per private chat, 20/min per group)
  and FeedServer (one RSS feed that gains ``--items`` new items before every poll and keeps
  the newest ``--feed-size``).
* The bot runs in a child process (this file with ``--child``): the real Application from
  ``build_application`` started with ``running`` -- Bot API client, sliding-window limiter,
  long-polling updater, job queue, delivery worker -- exactly as the console and the
  end-to-end tests run it. Its poll job is given a very long interval, so the child's driver
  calls ``services.poller.poll_all(force=True)`` once per simulated interval instead: the
  hour is compressed (``--interval / --speedup`` wall seconds between polls; 0 runs them
  back to back) while delivery is paced in real time. Its memory (VmRSS / VmHWM from
  /proc/<pid>/status) and CPU are the bot's alone.

Seeding writes 100,000 chats and their subscriptions with one bulk ``executemany`` per
table (the same columns ``ChatRepo.upsert`` and ``SubscriptionRepo.add`` write; going
through the repositories row by row would take minutes and measures nothing of the bot).
Topics come from the realistic vocabulary of benchmarks/matching.py (countries, people,
places, subjects, two-word phrases), drawn Zipf-like; headlines are generated the same way.

Printed per poll: CPU seconds of the bot process during ``poll_all`` (fetch + parse + store
+ route + enqueue; the delivery worker keeps sending meanwhile, its share is estimated from
the quiet window and shown), pushes (chat x headline) queued, new outbox rows (a chat already
owed a message has the new headlines added to it), chats matched (= push messages that poll
needs), outbox backlog, RSS. Then the delivery rate over a
fixed window against the 30/s limit, and the real-time arithmetic for the backlog.

With ``--stall`` the bot's delivery worker is stopped once the bot is up: nothing is sent,
so pending rows only fill (towards the newest KEEP_PER_ROW headlines each, then overflow),
and the last poll's CPU against the first shows whether a poll costs more as rows fill.
Use it with ``--speedup 0`` (polls back to back) and ``--window 0``.

With ``--trace-memory`` the bot process runs under tracemalloc and writes where its Python
memory is (by file and by line, the 25 largest each) at start and at the traced peak of the
polls to ``memory.txt`` beside the database; tracemalloc slows the bot several times, so the
other figures of such a run are not comparable. Its RSS covers what tracemalloc does not see
(the interpreter and libraries, SQLite's page cache).

With ``--digest 08:00`` every chat takes a digest at 08:00 UTC (``/digest 08:00``, seeded in
preferences). The bot's clock starts an hour before, so the polls only hold headlines
(nothing may be sent), then it is moved to 08:00: 100,000 rows fall due at once, and the
window measures the send rate against 30/s, the 429s, and how many digests went out.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import email.utils
import json
import logging
import os
import pstats
import random
import sqlite3
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.matching import (  # noqa: E402
    Zipf,
    make_headlines,
    make_subscriptions,
    vocabulary,
)

FEED_PATH = "/feed.xml"
TELEGRAM_LIMIT = 30  # messages per second, all chats together (Telegram's free limit)
MARK = "@@"  # prefix of the child's protocol lines on stdout

# --------------------------------------------------------------------------------- helpers


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM (bytes) of a process from /proc."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(rest.split()[0]) * 1024
    return out


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads) from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def mib(n: float) -> str:
    return f"{n / 2**20:.0f} MiB"


# --------------------------------------------------------------------------------- the bot


def tree_cpu() -> float:
    """CPU seconds of this process and of its children still running (the feed parser's
    worker processes): what the bot costs, wherever its work runs."""
    total = time.process_time()
    ticks = os.sysconf("SC_CLK_TCK")
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/children") as fh:
                children = fh.read().split()
        except OSError:
            continue
        for pid in children:
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


class MemoryTrace:
    """tracemalloc snapshots of the bot process: one at start, and the largest one taken
    while polls run: each time a routing pass has matched its headlines (what it holds then
    is a poll's largest transient) and every two seconds."""

    def __init__(self, frames: int) -> None:
        tracemalloc.start(frames)
        self.start: tracemalloc.Snapshot | None = None
        self.peak: tracemalloc.Snapshot | None = None
        self.peak_bytes = 0
        self._task: asyncio.Task[None] | None = None

    def mark_start(self) -> None:
        self.start = tracemalloc.take_snapshot()

    def sample(self) -> None:
        current, _ = tracemalloc.get_traced_memory()
        if current > self.peak_bytes:
            self.peak_bytes = current
            self.peak = tracemalloc.take_snapshot()

    def watch(self, router: Any) -> None:
        """Sample each time the router's pass has matched its headlines."""
        route_pass = router.route_pass

        async def traced(*args: Any, **kwargs: Any) -> Any:
            routed = await route_pass(*args, **kwargs)
            self.sample()
            return routed

        router.route_pass = traced

    async def _sample(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(2.0)

    def polling(self, on: bool) -> None:
        if on and self._task is None:
            self._task = asyncio.create_task(self._sample())
        elif not on and self._task is not None:
            self._task.cancel()
            self._task = None

    def write(self, path: Path) -> None:
        lines: list[str] = []
        for label, snap in (("at start", self.start), ("at the polls' traced peak", self.peak)):
            if snap is None:
                continue
            snap = snap.filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
            total = sum(stat.size for stat in snap.statistics("filename"))
            lines.append(f"== {label}: {total / 2**20:.1f} MiB traced")
            for key in ("filename", "lineno"):
                lines.append(f"-- by {key}")
                for stat in snap.statistics(key)[:25]:
                    frame = stat.traceback[0]
                    where = (
                        frame.filename if key == "filename" else f"{frame.filename}:{frame.lineno}"
                    )
                    for root in (str(ROOT) + "/", sys.prefix + "/"):
                        where = where.replace(root, "")
                    lines.append(f"{stat.size / 2**20:8.1f} MiB {stat.count:>9,}  {where}")
        path.write_text("\n".join(lines) + "\n")


async def child_main(cfg: dict[str, Any]) -> None:
    """The bot process: the real Application, polls on command from stdin."""
    from bot.app import build_application, running
    from bot.config import Settings
    from bot.delivery.limiter import Limits

    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("httpx", "httpcore", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    def say(kind: str, **data: Any) -> None:
        print(MARK, json.dumps({"kind": kind, **data}), flush=True)

    class Clock:
        """Epoch seconds running with real time from the driver's chosen moment."""

        offset = float(cfg["clock_start"]) - time.time() if cfg.get("clock_start") else 0.0

        def __call__(self) -> float:
            return time.time() + self.offset

    clock = Clock()
    trace = MemoryTrace(1) if cfg.get("trace") else None
    settings = Settings(
        bot_token=cfg["token"],
        telegram_api_url=cfg["telegram_api_url"],
        feed_urls=[cfg["feed_url"]],
        database_path=Path(cfg["db"]),
        # The poll job's timer never comes round during the run: the driver below polls.
        poll_interval_seconds=10**9,
        admin_ids=[],
        log_level="WARNING",
    )
    started = time.perf_counter()
    cpu_start = time.process_time()
    app = build_application(settings, limits=Limits(), clock=clock)
    async with running(app) as services:
        if cfg.get("stall"):  # nothing is ever sent: pending rows only fill
            await services.delivery.stop()
        # The feed's first read is its baseline (stored, nothing pushed). The poll job was
        # meant to do it at start-up, but an interval job added before the scheduler starts
        # has its first run skipped (see the report), so the driver does it here.
        baseline_cpu = tree_cpu()
        baseline_wall = time.perf_counter()
        await services.poller.poll_all(force=True)
        if trace is not None:
            trace.mark_start()
            trace.watch(services.poller.router)
        say(
            "ready",
            baseline_cpu=tree_cpu() - baseline_cpu,
            baseline_wall=time.perf_counter() - baseline_wall,
            subscriptions=len(services.index),
            chats=len(services.index.chat_ids()),
            seconds=time.perf_counter() - started,
            cpu=time.process_time() - cpu_start,
        )
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while True:
            line = (await reader.readline()).decode().strip()
            if not line or line == "quit":
                break
            if line.startswith("poll"):
                profile = line == "poll profile"
                profiler = cProfile.Profile() if profile else None
                cpu0 = tree_cpu()
                wall0 = time.perf_counter()
                if profiler is not None:
                    profiler.enable()
                if trace is not None:
                    trace.polling(True)
                reports = await services.poller.poll_all(force=True)
                if trace is not None:
                    trace.polling(False)
                if profiler is not None:
                    profiler.disable()
                wall = time.perf_counter() - wall0
                cpu = tree_cpu() - cpu0
                if profiler is not None:
                    stats = pstats.Stats(profiler, stream=sys.stderr)
                    stats.sort_stats("cumulative").print_stats(30)
                    stats.sort_stats("tottime").print_stats(20)
                backlog = await services.outbox.backlog()
                say(
                    "polled",
                    cpu=cpu,
                    wall=wall,
                    new=sum(r.new for r in reports),
                    queued=sum(r.queued for r in reports),
                    unchanged=sum(r.unchanged for r in reports),
                    errors=[r.error for r in reports if not r.ok],
                    backlog=backlog["total"],
                )
            elif line == "jump":  # the digest time: every held row falls due
                clock.offset = float(cfg["slot"]) - time.time()
                services.delivery.wake()
                say("jumped", now=clock())
            elif line == "backlog":
                backlog = await services.outbox.backlog()
                say("backlog", backlog=backlog["total"])
            elif line == "memory":
                if trace is not None:
                    trace.write(Path(cfg["db"]).parent / "memory.txt")
                say("memory")
    say("stopped")


# --------------------------------------------------------------------------------- seeding


async def seed(
    db_path: Path,
    subs: Sequence[tuple[int, list[str]]],
    *,
    digest: str | None = None,
    digest_since: float = 0.0,
) -> None:
    """Write chats and subscriptions in two bulk inserts (after migrating an empty file);
    with `digest`, every chat takes a digest at that UTC time of day."""
    from storage.sqlite.db import Database

    db = await Database.open(db_path)
    await db.close()
    now = time.time()
    conn = sqlite3.connect(db_path)
    try:
        with conn:
            conn.executemany(
                "INSERT INTO chats (id, kind, title, is_forum, active, created_at, updated_at)"
                " VALUES (?, ?, ?, 0, 1, ?, ?)",
                (
                    (
                        chat_id,
                        "private" if chat_id > 0 else "supergroup",
                        None if chat_id > 0 else f"Group {-chat_id}",
                        now,
                        now,
                    )
                    for chat_id, _ in subs
                ),
            )
            conn.executemany(
                "INSERT INTO subscriptions (chat_id, topic, thread_id, created_at)"
                " VALUES (?, ?, NULL, ?)",
                ((chat_id, topic, now) for chat_id, topics in subs for topic in topics),
            )
            if digest:
                conn.executemany(
                    "INSERT INTO chat_settings (chat_id, digest_times, timezone, digest_since,"
                    " updated_at) VALUES (?, ?, 'UTC', ?, ?)",
                    ((chat_id, digest, digest_since, now) for chat_id, _ in subs),
                )
    finally:
        conn.close()


# --------------------------------------------------------------------------------- the feed


class FeedWriter:
    """Generates feed items from the vocabulary; the feed keeps the newest `size` items."""

    def __init__(self, zipf: Zipf, rng: random.Random, size: int) -> None:
        self.zipf = zipf
        self.rng = rng
        self.size = size
        self.items: list[dict[str, Any]] = []
        self.n = 0
        self.base = time.time() - 86400

    def add(self, count: int) -> None:
        fresh = []
        for title, summary in make_headlines(count, self.zipf, self.rng):
            self.n += 1
            fresh.append(
                {
                    "title": title,
                    "link": f"https://news.example/{self.n}",
                    "guid": f"load-{self.n}",
                    "description": summary,
                    "pubDate": email.utils.formatdate(self.base + self.n * 2, usegmt=True),
                }
            )
        self.items[:0] = reversed(fresh)
        del self.items[self.size :]


# --------------------------------------------------------------------------------- driver


@dataclass
class PollRow:
    n: int
    cpu: float
    wall: float
    new: int
    pushes: int
    queued: int
    matched: int
    backlog_rows: int
    backlog_messages: int
    sent_so_far: int
    rss: int
    errors: list[str] = field(default_factory=list)


class Child:
    """The bot subprocess and its line protocol."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        assert proc.pid is not None
        self.pid = proc.pid

    async def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        while True:
            raw = await self.proc.stdout.readline()
            if not raw:
                raise RuntimeError("the bot process ended unexpectedly (see its log)")
            line = raw.decode().rstrip("\n")
            if line.startswith(MARK + " "):
                data: dict[str, Any] = json.loads(line[len(MARK) + 1 :])
                return data

    async def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((line + "\n").encode())
        await self.proc.stdin.drain()


def pending_messages(db: sqlite3.Connection) -> tuple[int, int]:
    """Pending push rows and the messages they make (one per chat and thread: a chat's
    waiting pushes merge into one message, whatever poll queued them)."""
    rows = db.execute("SELECT count(*) FROM outbox WHERE status = 'pending'").fetchone()[0]
    units = db.execute(
        "SELECT count(*) FROM (SELECT DISTINCT chat_id, thread_id FROM outbox"
        " INDEXED BY outbox_chat_pending WHERE status = 'pending' AND priority = 1)"
    ).fetchone()[0]
    return int(rows), int(units)


def last_ids(db: sqlite3.Connection) -> tuple[int, int]:
    """The newest headline and outbox row."""
    headline = db.execute("SELECT coalesce(max(id), 0) FROM headlines").fetchone()[0]
    row = db.execute("SELECT coalesce(max(id), 0) FROM outbox").fetchone()[0]
    return int(headline), int(row)


def routed_since(db: sqlite3.Connection, headline_id: int, row_id: int) -> tuple[int, int]:
    """Chats that were sent a headline newer than headline_id, and outbox rows newer than
    row_id (a chat already owed a message gets its new headlines added to that row)."""
    chats = db.execute("SELECT count(*) FROM chats WHERE pushed_upto > ?", (headline_id,))
    rows = db.execute("SELECT count(*) FROM outbox WHERE id > ?", (row_id,))
    return int(chats.fetchone()[0]), int(rows.fetchone()[0])


def ok_sends(fake: Any, since: float = 0.0) -> list[float]:
    return [c.at for c in fake.calls if c.method == "sendMessage" and c.ok and c.at >= since]


def max_in_one_second(times: Sequence[float]) -> int:
    best = 0
    start = 0
    for end, t in enumerate(times):
        while times[start] <= t - 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


async def parent_main(args: argparse.Namespace) -> int:
    from tests.fakes.feed_server import FeedServer, rss
    from tests.fakes.telegram import FakeTelegram

    rng = random.Random(args.seed)
    vocab = vocabulary()
    workdir = Path(tempfile.mkdtemp(prefix="headline-load-"))
    db_path = workdir / "bot.sqlite3"
    log_path = workdir / "bot.log"

    t0 = time.perf_counter()
    t0_monotonic = time.monotonic()
    subs = make_subscriptions(args.chats, args.topics, Zipf(vocab, args.zipf, rng), rng)
    slot = clock_start = None
    if args.digest:
        hour, minute = (int(x) for x in args.digest.split(":"))
        today = time.time() // 86400 * 86400
        slot = today + hour * 3600 + minute * 60
        if slot < time.time():
            slot += 86400
        clock_start = slot - 3600  # the polls run in the hour before the digest time
    await seed(
        db_path,
        subs,
        digest=args.digest,
        digest_since=(clock_start or 0.0) - 86400,
    )
    n_subs = sum(len(t) for _, t in subs)
    privates = sum(1 for c, _ in subs if c > 0)
    del subs
    print(
        f"seeded {args.chats:,} chats ({privates:,} private, {args.chats - privates:,} groups)"
        f" x {args.topics} topics = {n_subs:,} subscriptions from {len(vocab)} distinct topics"
        f" (bulk executemany) in {time.perf_counter() - t0:.1f} s"
    )

    writer = FeedWriter(Zipf(vocab, args.news_zipf, rng), rng, args.feed_size)
    writer.add(args.feed_size)  # what the feed already holds: read once as the baseline

    gap = args.interval / args.speedup if args.speedup > 0 else 0.0
    async with FakeTelegram(enforce_limits=True) as fake, FeedServer() as feeds:
        feeds.set_feed(FEED_PATH, rss(writer.items, title="Load feed"))
        cfg = {
            "token": fake.token,
            "telegram_api_url": f"http://127.0.0.1:{fake.port}",
            "feed_url": feeds.url(FEED_PATH),
            "db": str(db_path),
            "clock_start": clock_start,
            "slot": slot,
            "trace": args.trace_memory,
            "stall": args.stall,
        }
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")} | {
            "PYTHONPATH": str(ROOT)
        }
        with open(log_path, "wb") as log_file:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                str(Path(__file__).resolve()),
                "--child",
                json.dumps(cfg),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log_file,
                env=env,
                cwd=str(workdir),
            )
        child = Child(proc)
        try:
            ready = await child.read()
            status = proc_status(child.pid)
            print(
                f"bot process {child.pid}: started in {ready['seconds']:.1f} s"
                f" ({ready['cpu']:.1f} CPU s; {ready['subscriptions']:,} subscriptions of"
                f" {ready['chats']:,} chats in the matcher), RSS {mib(status['VmRSS'])};"
                f" baseline read of {args.feed_size} items: {ready['baseline_cpu']:.2f} CPU s"
            )
            print(
                f"feed: {args.items} new items per poll, {args.feed_size} items in the feed;"
                f" {args.polls} polls at POLL_INTERVAL {args.interval:g} s,"
                + (f" one every {gap:g} s of wall time" if gap else " back to back")
                + f" (x{args.speedup:g}); Telegram limits enforced by the fake\n"
            )
            reader = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
            reader.execute("PRAGMA busy_timeout = 5000")
            rows: list[PollRow] = []
            header = (
                f"{'poll':>4} {'CPU s':>7} {'wall s':>7} {'new':>5} {'pushes':>10}"
                f" {'new rows':>12}"
                f" {'chats matched':>14} {'backlog rows':>13} {'backlog msgs':>13}"
                f" {'sent so far':>12} {'RSS':>8}"
            )
            print(header)
            run_started = time.monotonic()
            next_at = time.monotonic()
            budget_end = t0_monotonic + args.budget * 60 - args.window - 30
            for n in range(1, args.polls + 1):
                last_wall = rows[-1].wall if rows else 0.0
                if rows and max(next_at, time.monotonic()) + last_wall > budget_end:
                    print(
                        f"stopping after {len(rows)} of {args.polls} polls: the next one would"
                        f" overrun the {args.budget:g}-minute budget (--budget, or scale down"
                        " with --chats / --items)"
                    )
                    break
                delay = next_at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                next_at = time.monotonic() + gap
                writer.add(args.items)
                feeds.set_feed(FEED_PATH, rss(writer.items, title="Load feed"))
                last_headline, last_row = last_ids(reader)
                await child.send("poll profile" if n == args.profile else "poll")
                result = await child.read()
                status = proc_status(child.pid)
                # rows added to the outbox, whichever poll stored the headlines they route
                matched, added = routed_since(reader, last_headline, last_row)
                backlog_rows, backlog_msgs = pending_messages(reader)
                row = PollRow(
                    n=n,
                    cpu=result["cpu"],
                    wall=result["wall"],
                    new=result["new"],
                    pushes=result["queued"],
                    queued=added,
                    matched=matched,
                    backlog_rows=backlog_rows,
                    backlog_messages=backlog_msgs,
                    sent_so_far=len(ok_sends(fake)),
                    rss=status["VmRSS"],
                    errors=result["errors"],
                )
                rows.append(row)
                print(
                    f"{n:>4} {row.cpu:>7.2f} {row.wall:>7.2f} {row.new:>5} {row.pushes:>10,}"
                    f" {row.queued:>12,}"
                    f" {row.matched:>14,} {row.backlog_rows:>13,} {row.backlog_messages:>13,}"
                    f" {row.sent_so_far:>12,} {mib(row.rss):>8}"
                    + (f"  errors: {row.errors}" if row.errors else "")
                )
            polls_wall = time.monotonic() - run_started
            held_sends = len(ok_sends(fake))
            if args.digest:
                backlog_rows, _ = pending_messages(reader)
                print(
                    f"\nbefore {args.digest}: {held_sends} messages sent while the polls ran"
                    f" (all held: expected 0); {backlog_rows:,} rows wait for {args.digest}."
                    f" Moving the bot's clock to {args.digest} UTC."
                )
                await child.send("jump")
                await child.read()

            # Delivery alone, over a fixed window, with the backlog the polls left behind.
            await asyncio.sleep(1.0)
            window_start = time.monotonic()
            cpu_start = proc_cpu(child.pid)
            floods_start = fake.too_many_requests
            await asyncio.sleep(args.window)
            window_cpu = proc_cpu(child.pid) - cpu_start
            window_sends = ok_sends(fake, window_start)
            window_digests = sum(
                "Your digest" in str(c.params.get("text", ""))
                for c in fake.calls
                if c.method == "sendMessage" and c.ok and c.at >= window_start
            )
            floods = fake.too_many_requests - floods_start
            status = proc_status(child.pid)
            await child.send("backlog")
            after = await child.read()
            if args.trace_memory:
                await child.send("memory")
                await child.read()
        finally:
            if proc.returncode is None:
                await child.send("quit")
                try:
                    await asyncio.wait_for(proc.wait(), 60)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
        violations = list(fake.violations)

    # ----------------------------------------------------------------- summary
    rate = len(window_sends) / args.window if args.window else 0.0
    delivery_cpu_per_s = window_cpu / args.window if args.window else 0.0
    cpus = [r.cpu for r in rows]
    mean_cpu = sum(cpus) / len(cpus)
    mean_wall = sum(r.wall for r in rows) / len(rows)
    mean_matched = sum(r.matched for r in rows) / len(rows)
    mean_rows = sum(r.queued for r in rows) / len(rows)
    mean_pushes = sum(r.pushes for r in rows) / len(rows)
    capacity = round(TELEGRAM_LIMIT * args.interval)
    print()
    print(
        f"peak RSS of the bot process (VmHWM): {mib(status['VmHWM'])}"
        f" (target < 128 MiB: {'met' if status['VmHWM'] < 128 * 2**20 else 'NOT met'});"
        f" RSS now {mib(status['VmRSS'])}"
    )
    print(f"polls completed: {len(rows)} of {args.polls}")
    if len(cpus) > 1:
        print(
            f"CPU of the last poll against the first: {cpus[-1]:.2f} / {cpus[0]:.2f} s"
            f" = {cpus[-1] / cpus[0]:.2f}x"
            + (" (delivery stalled: rows only fill)" if args.stall else "")
        )
    print(
        f"CPU per poll: mean {mean_cpu:.2f} s, min {min(cpus):.2f}, max {max(cpus):.2f}"
        f" (wall mean {mean_wall:.2f} s); of that, the delivery worker sharing the process"
        f" takes at most {delivery_cpu_per_s:.2f} CPU s per wall second"
        f" (~{delivery_cpu_per_s * mean_wall:.2f} s; less, as it waits on the database"
        " while a poll's transaction runs)"
    )
    print(
        f"pushes (chat x headline) per poll: mean {mean_pushes:,.0f}, {mean_rows:,.0f} new outbox"
        f" rows; chats matched per poll (= push messages"
        f" needed): mean {mean_matched:,.0f} of {args.chats:,} chats"
    )
    print(
        f"delivery over a {args.window:g} s window after the polls: {len(window_sends):,}"
        f" messages = {rate:.1f}/s against Telegram's {TELEGRAM_LIMIT}/s"
        f" (bot's own limit {29}/s); busiest 1-s window {max_in_one_second(window_sends)};"
        f" 429s {floods}; delivery CPU {delivery_cpu_per_s:.2f} s per s"
        f" ({window_cpu / max(1, len(window_sends)) * 1000:.1f} ms per message)"
    )
    print(f"outbox backlog after the window: {after['backlog']:,} rows")
    if args.digest:
        print(
            f"digest run: {args.chats:,} chats on /digest {args.digest}; {held_sends} sent"
            f" before it; {window_digests:,} digests in the {args.window:g} s window"
            f" ({window_digests / args.window:.1f}/s), 429s {floods}; at that rate all"
            f" {args.chats:,} digests take ~{args.chats / max(rate, 1e-9) / 60:,.0f} min"
            f" (Telegram's 30/s allows no less than {args.chats / TELEGRAM_LIMIT / 60:,.0f})"
        )
    print(f"Bot API violations recorded by the fake: {len(violations)}")
    if args.trace_memory:
        print(f"where the memory is (tracemalloc): {workdir / 'memory.txt'}")
    for v in violations[:5]:
        print("   ", v)
    print()
    print(
        f"real time scale: one {args.interval:g} s interval at {TELEGRAM_LIMIT} messages/s"
        f" delivers at most {capacity:,} messages (at the {rate:.1f}/s measured here:"
        f" {rate * args.interval:,.0f})."
    )
    chats_total = args.chats
    if mean_matched <= capacity:
        print(
            f"each poll needs ~{mean_matched:,.0f} messages <= {capacity:,}: the backlog"
            f" drains within every interval, so it is bounded (at most one poll's worth)."
        )
    else:
        cycle = chats_total / max(rate, 1e-9)
        print(
            f"each poll matches ~{mean_matched:,.0f} chats > {capacity:,}: delivery cannot send"
            f" one message per chat per poll. Waiting pushes merge per chat, so the backlog is"
            f" bounded by the chats, at most {chats_total:,} messages (one round takes"
            f" ~{cycle / 60:,.0f} min at {rate:.1f}/s); a chat then gets one message per round"
            f" covering every poll since its last one (a page shown, a More button for the"
            f" rest), and owes at most one row per thread."
        )
    print(
        f"\nwall time: polls {polls_wall:.0f} s, total {time.perf_counter() - t0:.0f} s;"
        f" database and bot log in {workdir}"
    )
    if not args.keep:
        for path in workdir.iterdir():
            if path.name not in ("bot.log", "memory.txt"):
                path.unlink()
    return 1 if violations else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--chats", type=int, default=100_000)
    parser.add_argument("--topics", type=int, default=5, help="topics per chat")
    parser.add_argument("--items", type=int, default=200, help="new feed items per poll")
    parser.add_argument(
        "--feed-size", type=int, default=None, help="items the feed keeps (default 2 x items)"
    )
    parser.add_argument("--polls", type=int, default=12)
    parser.add_argument("--interval", type=float, default=300.0, help="POLL_INTERVAL simulated")
    parser.add_argument(
        "--speedup", type=float, default=30.0, help="time compression; 0 = polls back to back"
    )
    parser.add_argument("--window", type=float, default=60.0, help="delivery window, seconds")
    parser.add_argument("--zipf", type=float, default=1.0, help="Zipf exponent of chats' topics")
    parser.add_argument(
        "--news-zipf", type=float, default=0.5, help="Zipf exponent of topics in headlines"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--budget", type=float, default=9.0, help="minutes of wall time; fewer polls if needed"
    )
    parser.add_argument(
        "--profile", type=int, default=0, help="cProfile poll N in the bot (to its log)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--digest", default=None, help="every chat takes a digest at this UTC time (HH:MM)"
    )
    parser.add_argument(
        "--stall", action="store_true", help="stop the delivery worker: pending rows only fill"
    )
    parser.add_argument(
        "--trace-memory",
        action="store_true",
        help="tracemalloc breakdown of the bot's memory (slows the bot) to memory.txt",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        asyncio.run(child_main(json.loads(args.child)))
        return 0
    if args.feed_size is None:
        args.feed_size = 2 * args.items
    return asyncio.run(parent_main(args))


if __name__ == "__main__":
    sys.exit(main())
