"""/forget and /export: a chat takes its data along, or has every row of it deleted."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from tests.e2e.harness import Harness, item, running_bot
from tests.fakes.feed_server import FeedServer
from tests.fakes.telegram import Call, FakeTelegram
from tests.fakes.telegram.spec import UploadedFile

READER = 777_000_111  # an id no other row can hold by chance
OTHER = 777_000_222
GROUP = -100_777_000_333
MEMBER = 777_000_444


def buttons(call: Call) -> dict[str, str]:
    """A message's inline buttons: text -> callback data."""
    markup = call.params["reply_markup"]
    return {b["text"]: b["callback_data"] for row in markup["inline_keyboard"] for b in row}


async def press(h: Harness, chat_id: int, call: Call, label: str, **kwargs: Any) -> None:
    """Press the button whose text contains `label` under the bot's message `call`."""
    message_id = call.response["result"]["message_id"]
    data = next(d for text, d in buttons(call).items() if label in text)
    before = len(h.fake.calls_of("answerCallbackQuery"))
    h.fake.push_update(h.fake.callback_update(chat_id, message_id, data, **kwargs))
    await h.fake.wait_calls("answerCallbackQuery", before + 1)


def rows_holding(db: Path, value: int) -> dict[str, int]:
    """Every table of the schema: how many rows hold `value` in any column."""
    conn = sqlite3.connect(db)
    try:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                " AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'headlines_fts%'"
            )
        ]
        found: dict[str, int] = {}
        for table in tables:
            columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
            where = " OR ".join(f'"{c}" = ?1' for c in columns)
            (n,) = conn.execute(f"SELECT count(*) FROM {table} WHERE {where}", (value,)).fetchone()
            if n:
                found[table] = n
        return found
    finally:
        conn.close()


def exported(call: Call) -> dict[str, Any]:
    document = call.params["document"]
    assert isinstance(document, UploadedFile)
    assert document.filename and document.filename.endswith(".json")
    data: dict[str, Any] = json.loads(document.data)
    return data


async def test_forget_leaves_no_row_and_no_push(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    db = tmp_path / "bot.sqlite3"
    async with running_bot(
        fake_tg, feed_server, db, items=[item(1, "Old news")], admin_ids=[READER]
    ) as h:
        await h.say(READER, "/start")
        await h.say(OTHER, "/start")
        await h.say(READER, "/topic add bolivia, -israel")
        await h.say(OTHER, "/topic add bolivia")
        h.publish(item(2, "Bolivia votes"))
        await h.poll()
        await h.wait_sent(READER, 3)  # the push: an outbox row, sent
        await h.wait_sent(OTHER, 3)
        # a broadcast the reader wrote, as admin, with its progress shown in this chat
        draft = await h.services.broadcasts.create(
            admin_id=READER, audience="all", text="Hello", now=time.time()
        )
        await h.services.broadcasts.set_report_message(draft.id, READER, 1)
        assert rows_holding(db, READER).keys() >= {"chats", "subscriptions", "outbox", "broadcasts"}

        [ask] = (await h.say(READER, "/forget"))[-1:]
        assert "Delete everything" in ask.params["text"]
        assert set(buttons(ask)) == {"📄 Export first", "🗑 Delete everything", "Cancel"}

        await press(h, READER, ask, "Export first")
        await fake_tg.wait_calls("sendDocument", 1)
        data = exported(fake_tg.calls_of("sendDocument")[0])
        assert data["chat"]["id"] == READER
        assert {t["topic"] for t in data["topics"]} == {"bolivia", "-israel"}

        await press(h, READER, ask, "Delete everything")
        await fake_tg.wait_for(
            lambda: "Deleted" in (fake_tg.message(READER, ask_id(ask)).text or "")
        )
        assert rows_holding(db, READER) == {}
        assert READER not in h.services.index.chat_ids()
        assert h.services.index.topics_of(READER) == {}
        assert rows_holding(db, OTHER)  # the other reader keeps everything

        sent = len(fake_tg.sent_to(READER))
        h.publish(item(3, "Bolivia counts the votes"))
        await h.poll()
        await h.wait_sent(OTHER, 4)
        await h.quiet()
        assert len(fake_tg.sent_to(READER)) == sent  # routing skips it: nothing more arrives

        # /start again: a new chat, with no topics
        reply = (await h.say(READER, "/start"))[-1]
        assert "Welcome" in reply.params["text"]


def ask_id(call: Call) -> int:
    return int(call.response["result"]["message_id"])


async def test_export_and_cancel(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    db = tmp_path / "bot.sqlite3"
    async with running_bot(fake_tg, feed_server, db) as h:
        await h.say(READER, "/start")
        await h.say(READER, "/topic add lithium")
        await h.say(READER, "/export")
        data = exported(fake_tg.calls_of("sendDocument")[-1])
        assert data["topics"][0]["topic"] == "lithium" and data["chat"]["pushes"] == "on"
        ask = (await h.say(READER, "/forget"))[-1]
        await press(h, READER, ask, "Cancel")
        await fake_tg.wait_for(
            lambda: "Nothing" in (fake_tg.message(READER, ask_id(ask)).text or "")
        )
        assert [s.topic for s in await h.services.chats.list_topics(READER)] == ["lithium"]


async def test_only_a_groups_admins_may_forget_it(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    fake_tg.add_chat(GROUP, "supergroup", title="Newsroom")
    fake_tg.set_admins(GROUP, [READER])
    db = tmp_path / "bot.sqlite3"
    async with running_bot(fake_tg, feed_server, db) as h:
        await h.say(GROUP, "/start", from_user=READER)
        await h.say(GROUP, "/topic add bolivia", from_user=READER)
        refused = (await h.say(GROUP, "/forget", from_user=MEMBER))[-1]
        assert "admins" in refused.params["text"]
        ask = (await h.say(GROUP, "/forget", from_user=READER))[-1]
        await press(h, GROUP, ask, "Delete everything", from_user=MEMBER)
        assert rows_holding(db, GROUP)  # a member's press deletes nothing
        await press(h, GROUP, ask, "Delete everything", from_user=READER)
        await fake_tg.wait_for(lambda: not rows_holding(db, GROUP))


async def test_forget_takes_the_broadcasts_the_chat_shows_and_its_more_lists(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    """Another admin's broadcast copied from the chat or reporting in it goes with the chat,
    with its rows for every other chat; the chat's More lists go too; the rest stays."""
    db = tmp_path / "bot.sqlite3"
    admin = 777_000_555
    async with running_bot(
        fake_tg, feed_server, db, items=[item(1, "Old news")], admin_ids=[admin]
    ) as h:
        shown = (await h.say(READER, "/start"))[-1].result["message_id"]
        await h.say(OTHER, "/start")
        await h.say(admin, "/start")
        await h.say(READER, "/topic add bolivia")
        count = len(fake_tg.sent_to(READER))
        h.publish(*(item(10 + n, f"Bolivia story number {n}") for n in range(14)))
        await h.poll()
        [push] = (await h.wait_sent(READER, count + 1))[count:]
        assert push.params.get("reply_markup"), "more than a page: a More button and its list"
        broadcasts = h.services.broadcasts
        copied = await broadcasts.create(
            admin_id=admin, audience="all", from_chat_id=READER, from_message_id=shown,
            now=time.time(),
        )  # fmt: skip
        reported = await broadcasts.create(admin_id=admin, audience="all", text="Hi", now=0)
        await broadcasts.set_report_message(reported.id, READER, shown)
        assert await broadcasts.confirm(reported.id, now=time.time()) == 3
        h.services.delivery.wake()
        for chat_id in (READER, OTHER, admin):
            await fake_tg.wait_for(lambda c=chat_id: "Hi" in h.texts(c))
        await h.quiet()
        kept = await broadcasts.create(admin_id=admin, audience="all", text="Kept", now=0)
        assert (await broadcasts.progress(reported.id)).sent == 3
        assert rows_holding(db, READER).keys() >= {"more_lists", "broadcasts", "outbox"}

        [ask] = (await h.say(READER, "/forget"))[-1:]
        await press(h, READER, ask, "Delete everything")
        await fake_tg.wait_for(
            lambda: "Deleted" in (fake_tg.message(READER, ask_id(ask)).text or "")
        )
        assert rows_holding(db, READER) == {}
        assert await broadcasts.get(copied.id) is None
        assert await broadcasts.get(reported.id) is None
        assert (await broadcasts.progress(reported.id)).sent == 0, "its rows for others too"
        assert await broadcasts.get(kept.id) is not None, "the admin's other broadcast stays"
        assert rows_holding(db, OTHER) and rows_holding(db, admin)
