"""Admins run the feeds from Telegram: /feeds, add, remove, pause, resume, OPML, refusals;
one story carried by two feeds is pushed once; polling is polite (hints, limits, spread).

Everything goes through the fake Bot API and the fake feed server. The fakes listen on
loopback, so these bots run with ALLOW_PRIVATE_FEEDS=true except where the refusal of
private addresses is the point.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.feeds import USER_AGENT, FeedFetcher
from bot.feeds import poller as poller_module
from bot.feeds.poller import Poller
from bot.routing import TopicIndex
from bot.routing.router import Router
from storage.sqlite import repositories
from storage.sqlite.db import Database
from storage.sqlite.feeds import SqliteFeedRepo
from tests.e2e.harness import FEED, Harness, item, running_bot
from tests.fakes.feed_server import FeedServer, rss
from tests.fakes.telegram import Call, FakeTelegram

ADMIN = 900
READER = 901
BASE = [item(1, "Bolivia Severs Ties", "a")]
SECOND = "/second.xml"
ROOT = Path(__file__).resolve().parents[2]


def buttons(call: Call) -> list[dict[str, Any]]:
    """The inline buttons of a sent message."""
    markup = call.params.get("reply_markup") or {}
    return [b for row in markup.get("inline_keyboard", []) for b in row]


async def press(bot: Harness, message_id: int, data: str, user: int = ADMIN) -> dict[str, Any]:
    """Press an inline button in the admin's chat; return the bot's answer to it."""
    before = len(bot.fake.calls_of("answerCallbackQuery"))
    bot.fake.push_update(bot.fake.callback_update(ADMIN, message_id, data, from_user=user))
    calls = await bot.fake.wait_calls("answerCallbackQuery", before + 1)
    return calls[-1].params


async def ask(bot: Harness, text: str, *, replies: int = 1, chat: int = ADMIN) -> list[str]:
    """Send a command and return the texts of the replies it got."""
    before = len(bot.fake.sent_to(chat))
    calls = await bot.say(chat, text, replies=replies)
    return [str(c.params.get("text") or c.params.get("caption") or "") for c in calls[before:]]


@asynccontextmanager
async def admin_bot(
    fake_tg: FakeTelegram, feed_server: FeedServer, db: Path, **settings: Any
) -> AsyncIterator[Harness]:
    values: dict[str, Any] = {"admin_ids": [ADMIN], "allow_private_feeds": True}
    values.update(settings)
    async with running_bot(fake_tg, feed_server, db, items=BASE, **values) as bot:
        yield bot


async def test_anyone_but_an_admin_is_refused_politely(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with admin_bot(fake_tg, feed_server, tmp_path / "db.sqlite3") as bot:
        feed_server.set_feed(SECOND, rss([item(5, "Other")]))
        for text in ("/feeds", f"/feeds add {feed_server.url(SECOND)}", "/feeds export"):
            (answer,) = await ask(bot, text, chat=READER)
            assert "for the bot's admins" in answer
        before = len(bot.fake.sent_to(READER))
        bot.fake.push_update(bot.fake.document_update(READER, b"<opml/>", caption="/feeds import"))
        await bot.wait_sent(READER, before + 1)
        assert "for the bot's admins" in bot.texts(READER)[-1]
        assert feed_server.hits(SECOND) == 0
        assert bot.fake.file_downloads == []
        assert len(await bot.services.feeds.all()) == 1


async def test_add_list_pause_resume_remove(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with admin_bot(fake_tg, feed_server, tmp_path / "db.sqlite3") as bot:
        await ask(bot, "/topic add bolivia", chat=READER)
        pushes = len(bot.texts(READER))
        items = [item(10 + i, f"Bolivia story {i}", "b") for i in range(3)]
        feed_server.set_feed(SECOND, rss(items, title="Second Wire"))
        url = feed_server.url(SECOND)
        _, added = await ask(bot, f"/feeds add {url} Andes Desk", replies=2)
        assert "Added <b>Andes Desk</b>: 3 entries" in added
        assert "baseline" in added
        _, again = await ask(bot, f"/feeds add {url}", replies=2)
        assert "Already there" in again
        await bot.poll()
        await bot.quiet()
        assert len(bot.texts(READER)) == pushes, "the first read is the baseline, never pushed"

        (listing,) = await ask(bot, "/feeds")
        assert "2. <b>Andes Desk</b>" in listing and "✅ OK" in listing
        assert "1. <b>Test feed</b> · configured" in listing
        assert "3 in 24 h" in listing
        listed = bot.fake.sent_to(ADMIN)[-1]
        keys = {b["text"]: b["callback_data"] for b in buttons(listed)}
        assert set(keys) == {"⏸ Pause 1", "⏸ Pause 2", "🗑 Remove 2"}  # a configured feed stays

        (paused,) = await ask(bot, "/feeds pause 2")
        assert "Paused <b>Andes Desk</b>" in paused
        await bot.quiet()  # a scheduled round (every second here) that began before is over
        hits = feed_server.hits(SECOND)
        await bot.poll()
        assert feed_server.hits(SECOND) == hits, "a paused feed is not fetched"
        (listing,) = await ask(bot, "/feeds")
        assert "⏸ paused" in listing
        listed = bot.fake.sent_to(ADMIN)[-1]
        keys = {b["text"]: b["callback_data"] for b in buttons(listed)}
        answer = await press(bot, listed.result["message_id"], keys["▶ Resume 2"])
        assert "Resumed Andes Desk" in answer["text"]
        edited = bot.fake.message(ADMIN, listed.result["message_id"])
        await bot.fake.wait_for(lambda: edited.edit_count == 1)  # the list, as it is now
        assert "⏸ paused" not in (edited.html or "") and "✅ OK" in (edited.html or "")
        await bot.poll()  # a scheduled round may have fetched it first: at least once
        assert feed_server.hits(SECOND) > hits, "a resumed feed is fetched again"

        # not by anyone else, even with the button in hand
        answer = await press(bot, listed.result["message_id"], keys["🗑 Remove 2"], user=READER)
        assert answer.get("show_alert") and "admins" in answer["text"]
        (refused,) = await ask(bot, f"/feeds remove {feed_server.url(FEED)}")
        assert "was not removed" in refused and "FEED_URLS" in refused
        (removed,) = await ask(bot, f"/feeds remove {url}")
        assert "Removed <b>Andes Desk</b>" in removed and "archive" in removed
        await bot.quiet()
        hits = feed_server.hits(SECOND)
        (listing,) = await ask(bot, "/feeds")
        assert "Feeds</b> (1)" in listing and "Andes Desk" not in listing
        (missing,) = await ask(bot, "/feeds pause 7")
        assert "No such feed" in missing
        await bot.poll()
        assert feed_server.hits(SECOND) == hits, "a removed feed is not fetched"
        latest = await ask(bot, "/latest 10", chat=READER)
        assert "Bolivia story 2" in latest[-1], "its headlines stay in the archive"
        (usage,) = await ask(bot, "/feeds frobnicate")
        assert "/feeds add URL [name]" in usage


async def test_add_says_why_a_feed_is_refused(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with admin_bot(
        fake_tg,
        feed_server,
        tmp_path / "db.sqlite3",
        fetch_timeout_seconds=1,
        max_feed_bytes=100_000,
    ) as bot:
        feed_server.set_feed(
            "/page.html", b"<html><body><p>Hello</p></body></html>", content_type="text/html"
        )
        feed_server.set_status("/gone.xml", 404)
        feed_server.set_feed("/slow.xml", rss(BASE))
        feed_server.set_delay("/slow.xml", 5)
        feed_server.set_huge("/huge.xml", 5_000_000)
        cases = {
            "/page.html": "not a feed",
            "/gone.xml": "HTTP 404",
            "/slow.xml": "timed out",
            "/huge.xml": "larger than",
        }
        for path, reason in cases.items():
            _, answer = await ask(bot, f"/feeds add {feed_server.url(path)}", replies=2)
            assert "Not added" in answer and reason in answer, (path, answer)
        _, answer = await ask(bot, "/feeds add ftp://files.example/feed.xml", replies=2)
        assert "only http:// and https://" in answer
        assert [f.url for f in await bot.services.feeds.all()] == [feed_server.url(FEED)]


async def test_private_addresses_are_refused_unless_allowed(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with admin_bot(
        fake_tg, feed_server, tmp_path / "db.sqlite3", allow_private_feeds=False
    ) as bot:
        feed_server.set_feed(SECOND, rss(BASE))
        port = feed_server.port
        cases = {
            f"http://127.0.0.1:{port}{SECOND}": "loopback",
            f"http://localhost:{port}{SECOND}": "loopback",
            f"http://[::1]:{port}{SECOND}": "loopback",
            "http://169.254.169.254/latest/meta-data/": "link-local",
            "http://10.0.0.8/feed": "private",
            "http://224.0.0.1/feed": "multicast",
        }
        for url, kind in cases.items():
            _, answer = await ask(bot, f"/feeds add {url}", replies=2)
            assert "Not added" in answer and kind in answer, (url, answer)
            assert "ALLOW_PRIVATE_FEEDS" in answer
        assert feed_server.hits(SECOND) == 0, "nothing was fetched"


async def test_opml_export_then_import_into_a_fresh_database(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    feed_server.set_feed(SECOND, rss([item(20, "Second A")], title="Second Wire"))
    feed_server.set_feed("/third.xml", rss([item(30, "Third A")], title="Third Post"))
    async with admin_bot(fake_tg, feed_server, tmp_path / "one.sqlite3") as bot:
        await ask(bot, f"/feeds add {feed_server.url(SECOND)} Andes Desk", replies=2)
        await ask(bot, f"/feeds add {feed_server.url('/third.xml')}", replies=2)
        await ask(bot, "/feeds pause 3")
        before = len(bot.fake.calls_of("sendDocument"))
        await bot.say(ADMIN, "/feeds export")
        (sent,) = bot.fake.calls_of("sendDocument")[before:]
        assert sent.content_type.startswith("multipart/form-data")
        assert "OPML" in str(sent.params.get("caption"))
        exported = bot.fake.files[sent.result["document"]["file_id"]]
        assert exported.file_name == "feeds.opml"
        assert b'<opml version="2.0">' in exported.data
        first = [(r.url, r.label) for r in await bot.services.feeds.records()]

    feed_server.set_feed("/page.html", b"<html>no feed</html>", content_type="text/html")
    extra = (
        '<outline type="rss" text="Broken" xmlUrl="' + feed_server.url("/page.html") + '"/>'
        '<outline type="rss" text="Gopher" xmlUrl="gopher://old.example/feed"/>'
    )
    with_refusals = exported.data.replace(b"</body>", extra.encode() + b"</body>")
    async with admin_bot(fake_tg, feed_server, tmp_path / "two.sqlite3") as bot:
        pushes = len(bot.fake.sent_to(READER))
        bot.fake.push_update(
            bot.fake.document_update(ADMIN, with_refusals, caption="/feeds import")
        )
        await fake_tg.wait_for(lambda: any("OPML import" in t for t in bot.texts(ADMIN)), 10)
        report = next(t for t in reversed(bot.texts(ADMIN)) if "OPML import" in t)
        assert "2 added, 1 already present, 2 refused" in report
        assert "not a feed" in report and "only http:// and https://" in report
        assert bot.fake.file_downloads, "the file was fetched from /file/bot<token>/<path>"
        second = [(r.url, r.label) for r in await bot.services.feeds.records()]
        assert second == first
        assert len(bot.fake.sent_to(READER)) == pushes

        # the same file as a reply to it: everything is already there now
        upload = bot.fake.document_update(ADMIN, exported.data)
        bot.fake.push_update(upload)
        texts = await ask_reply(bot, "/feeds import", upload["message"]["message_id"])
        assert "0 added, 3 already present, 0 refused" in texts[-1], texts
        (hint,) = await ask(bot, "/feeds import")
        assert "caption" in hint


async def test_import_as_a_reply_to_a_document(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    feed_server.set_feed(SECOND, rss([item(20, "Second A")], title="Second Wire"))
    opml = (
        '<?xml version="1.0"?><opml version="2.0"><body>'
        f'<outline type="rss" text="S" xmlUrl="{feed_server.url(SECOND)}"/></body></opml>'
    ).encode()
    async with admin_bot(fake_tg, feed_server, tmp_path / "db.sqlite3") as bot:
        upload = bot.fake.document_update(ADMIN, opml, file_name="subs.xml")
        bot.fake.push_update(upload)
        await bot.quiet()  # a document without a caption gets no answer
        texts = await ask_reply(bot, "/feeds import", upload["message"]["message_id"])
        assert "1 added, 0 already present, 0 refused" in texts[-1]
        assert [f.url for f in await bot.services.feeds.all()][-1] == feed_server.url(SECOND)


async def ask_reply(bot: Harness, text: str, reply_to: int) -> list[str]:
    before = len(bot.fake.sent_to(ADMIN))
    calls = await bot.say(ADMIN, text, replies=2, reply_to=reply_to)
    return [str(c.params.get("text", "")) for c in calls[before:]]


async def test_a_feed_added_in_spanish_is_indexed_in_spanish(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    """/feeds add stores its first read in the language the feed declares, as the poller
    does: its headlines are found by another inflection of their words."""
    spanish = rss([item(60, "Los mineros protestaron en Potosí", "Huelga en las minas")])
    feed_server.set_feed(SECOND, spanish.replace(b"<channel>", b"<channel><language>es</language>"))
    async with admin_bot(fake_tg, feed_server, tmp_path / "db.sqlite3") as bot:
        _, added = await ask(bot, f"/feeds add {feed_server.url(SECOND)}", replies=2)
        assert "Added" in added and "1 entry" in added, added
        # `protesta` and `protestaron` share a stem in Spanish only (English keeps both)
        (found,) = await ask(bot, "/search protesta", chat=READER)
        assert "Los mineros protestaron en Potosí" in found, found
        (found,) = await ask(bot, "/search minero", chat=READER)
        assert "Los mineros protestaron en Potosí" in found, found


async def test_a_story_two_feeds_carry_is_pushed_once_naming_both(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with admin_bot(fake_tg, feed_server, tmp_path / "db.sqlite3") as bot:
        feed_server.set_feed(SECOND, rss([item(40, "Older story")], title="Second Wire"))
        await ask(bot, f"/feeds add {feed_server.url(SECOND)}", replies=2)
        await ask(bot, "/topic add bolivia", chat=READER)
        count = len(bot.texts(READER))
        story = item(2, "Bolivia Elects A President", "The vote in Bolivia.")
        bot.publish(story)
        copy = {
            **story,
            "guid": "wire-77",
            "link": "https://NEWS.example/2/?utm_source=wire&utm_medium=rss#top",
        }
        feed_server.set_feed(SECOND, rss([copy, item(40, "Older story")], title="Second Wire"))
        await bot.poll()
        await bot.wait_sent(READER, count + 1)
        await bot.quiet()
        pushed = bot.texts(READER)[count:]
        assert len(pushed) == 1, pushed
        assert pushed[0].count("Bolivia Elects A President") == 1
        assert "Test feed" in pushed[0] and "Second Wire" in pushed[0]
        (latest,) = await ask(bot, "/latest 10", chat=READER)
        assert latest.count("Bolivia Elects A President") == 1
        # the feed that brought it first comes first (the two are polled side by side)
        assert re.search(r"📡 (Test feed, Second Wire|Second Wire, Test feed)", latest), latest
        (found,) = await ask(bot, "/search elects", chat=READER)
        assert found.count("Bolivia Elects A President") == 1
        stored = await bot.services.storage.store.scalar(
            "SELECT count(*) FROM headlines WHERE title = ?", ("Bolivia Elects A President",)
        )
        assert stored == 2  # once per feed


# --- polite polling, through the real Poller and fetcher --------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_server_hints_stretch_a_feeds_own_interval(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    interval = 300.0
    db = await Database.open(tmp_path / "db.sqlite3")
    clock = Clock()
    fetcher = FeedFetcher(timeout=2)
    paths = {"/cached.xml": "cached", "/ttl.xml": "ttl", "/busy.xml": "busy", "/plain.xml": "x"}
    urls = [feed_server.url(p) for p in paths]
    poller = Poller(
        repositories(db),
        fetcher,
        Router(repositories(db), TopicIndex()),
        urls=urls,
        interval=interval,
        clock=clock,
    )
    poller.spread_fraction = 0.0  # rounds at once: the clock here is the test's
    repo = SqliteFeedRepo(db)
    try:
        feed_server.set_feed("/cached.xml", rss(BASE), headers={"Cache-Control": "max-age=1800"})
        feed_server.set_feed("/ttl.xml", rss(BASE, ttl=60))
        feed_server.set_feed("/busy.xml", rss(BASE))
        feed_server.set_feed("/plain.xml", rss(BASE))
        await poller.poll_all(force=True)
        assert all(r.headers.get("User-Agent") == USER_AGENT for r in feed_server.requests)

        own = {r.url: r.interval_seconds for r in await repo.records()}
        assert own == {urls[0]: 1800.0, urls[1]: 3600.0, urls[2]: None, urls[3]: None}

        feed_server.set_status("/busy.xml", 429, headers={"Retry-After": "7200"})
        clock.now += interval
        reports = {r.url: r for r in await poller.poll_all()}
        assert reports[urls[0]].outcome == "waiting"  # not due: its own interval
        assert reports[urls[1]].outcome == "waiting"
        assert reports[urls[2]].outcome == "error" and "429" in (reports[urls[2]].error or "")
        assert reports[urls[3]].outcome == "not modified"
        busy = await repo.record(urls[2])
        assert busy is not None and busy.interval_seconds == 7200.0
        assert busy.state.next_attempt_at == clock.now + 7200

        feed_server.set_status("/plain.xml", 503, headers={"Retry-After": "900"})
        clock.now += interval
        await poller.poll_all()
        plain = await repo.get(urls[3])
        assert plain is not None and plain.next_attempt_at == clock.now + 900  # > backoff 300
        hits = {p: feed_server.hits(p) for p in paths}
        clock.now += interval
        await poller.poll_all()
        assert {p: feed_server.hits(p) for p in paths} == hits, "nothing was due"
    finally:
        await fetcher.aclose()
        await db.close()


async def test_fetches_per_host_and_overall_are_capped(tmp_path: Path) -> None:
    hosts = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    async with FeedServer(hosts=hosts) as server:
        running: dict[str, int] = {}
        peak: dict[str, int] = {}
        peak_all = 0

        async def slow(request: web.Request) -> web.Response:
            nonlocal peak_all
            host = request.host.split(":")[0]
            running[host] = running.get(host, 0) + 1
            peak[host] = max(peak.get(host, 0), running[host])
            peak_all = max(peak_all, sum(running.values()))
            try:
                await asyncio.sleep(0.1)
            finally:
                running[host] -= 1
            return web.Response(body=rss(BASE), content_type="application/rss+xml")

        urls = []
        for n in range(8):
            server.set_handler(f"/f{n}.xml", slow)
            urls += [server.url(f"/f{n}.xml", host=h) for h in hosts]
        async with FeedFetcher(timeout=5, max_concurrent=5) as fetcher:
            results = await asyncio.gather(*(fetcher.fetch(u) for u in urls))
        assert all(r.status == "ok" for r in results)
        assert peak == dict.fromkeys(hosts, 2)
        assert peak_all == 5


class _Sleeps:
    """The poller's asyncio, recording how long each of its waits was asked to be."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    async def sleep(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(delay)


async def test_a_round_spreads_its_feeds_over_the_interval(
    feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sleeps = _Sleeps()
    monkeypatch.setattr(poller_module, "asyncio", sleeps)
    db = await Database.open(tmp_path / "db.sqlite3")
    fetcher = FeedFetcher(timeout=2)
    paths = [f"/s{n}.xml" for n in range(5)]
    for p in paths:
        feed_server.set_feed(p, rss(BASE))
    urls = [feed_server.url(p) for p in paths]
    poller = Poller(
        repositories(db), fetcher, Router(repositories(db), TopicIndex()), urls=urls, interval=2.0
    )
    try:
        await poller.poll_all(force=True)
        assert len(feed_server.requests) == 5
        assert sleeps.delays == [], "a forced round starts everything at once"
        feed_server.requests.clear()
        await poller.poll_all()
        spread = sorted(r.at for r in feed_server.requests)
        assert len(spread) == 5
        gaps = [b - a for a, b in itertools.pairwise(spread)]
        assert min(gaps) > 0.1, gaps  # 2 s x 0.5 over 5 feeds: one every 0.2 s
        # all but the first wait for their slot, the last no more than 2 s x 0.5 x 4/5
        assert len(sleeps.delays) == 4 and max(sleeps.delays) <= 0.8, sleeps.delays
    finally:
        await fetcher.aclose()
        await db.close()


def test_feeds_command_line(tmp_path: Path) -> None:
    """python -m bot feeds list|add|remove|export|import, on a local feed file."""
    feed = tmp_path / "local.xml"
    feed.write_bytes(rss(BASE, title="Local Wire"))
    env = {
        "PATH": "/usr/bin:/bin",
        "FEED_URLS": str(feed),
        "DATABASE_PATH": str(tmp_path / "cli.sqlite3"),
        "PTB_TIMEDELTA": "1",
    }

    def run(*args: str, code: int = 0) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "bot", "feeds", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == code, (args, done.stdout, done.stderr)
        return done.stdout

    assert "1. " in run("list") and "configured" in run("list")
    refused = run("add", "http://127.0.0.1:9/feed.xml", code=1)
    assert "loopback" in refused
    assert "only http" in run("add", "ftp://x.example/feed", code=1)
    assert "was not removed" in run("remove", "1", code=1)
    out = tmp_path / "feeds.opml"
    assert "1 feed written" in run("export", str(out))
    assert str(feed).encode() in out.read_bytes()
    assert "0 added, 1 already present, 0 refused" in run("import", str(out))
    assert "Paused" in run("pause", "1")
    assert "paused" in run("list")


async def test_feeds_command_line_adds_a_remote_feed(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    feed_server.set_feed(SECOND, rss([item(9, "Remote one")], title="Remote Wire"))
    env = {
        "PATH": "/usr/bin:/bin",
        "FEED_URLS": str(ROOT / "bot" / "data" / "sample_digest.xml"),
        "DATABASE_PATH": str(tmp_path / "cli.sqlite3"),
        "ALLOW_PRIVATE_FEEDS": "true",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "feeds",
        "add",
        feed_server.url(SECOND),
        "My",
        "Wire",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, stderr
    assert re.search(r"Added My Wire: 1 entry,", stdout.decode()), stdout
