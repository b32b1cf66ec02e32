"""The fake Bot API answers like Telegram: checked over raw HTTP and with python-telegram-bot."""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import json
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
import telegram
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st
from telegram.ext import Application, ApplicationBuilder, CommandHandler, ContextTypes

from tests.fakes.telegram import DEFAULT_TOKEN, NOT_MODIFIED, FakeTelegram, spec, tg_html

CHAT = 4242
GROUP = -1001234567890


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        yield client


async def call(
    http: httpx.AsyncClient, fake: FakeTelegram, method: str, **params: Any
) -> tuple[int, dict[str, Any]]:
    """POST like python-telegram-bot: form-encoded, non-string values JSON-encoded."""
    form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
    resp = await http.post(fake.url(method), data=form)
    return resp.status_code, resp.json()


# ---------------------------------------------------------------------------- tg_html


@pytest.mark.parametrize(
    "html",
    [
        "plain text",
        "<b>bold</b> <strong>s</strong> <i>i</i> <em>e</em> <u>u</u> <ins>n</ins>",
        "<s>s</s> <strike>s</strike> <del>d</del>",
        '<span class="tg-spoiler">x</span> <tg-spoiler>y</tg-spoiler>',
        '<a href="https://example.com/?a=1&amp;b=2">link</a>',
        "<code>x &lt; y</code>",
        '<pre><code class="language-python">print(1)</code></pre>',
        "<blockquote>q</blockquote> <blockquote expandable>long</blockquote>",
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>',
        "&lt;&gt;&amp;&quot; &#169; &#x1F600;",
        "<b>bold <i>both</i></b>",
        "<B>upper-case tags</B>",
        "",
    ],
)
def test_valid_html_has_no_problems(html: str) -> None:
    assert tg_html.check_html(html) == []


@pytest.mark.parametrize(
    ("html", "problem"),
    [
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<div>x</div>", 'Unsupported start tag "div" at byte offset 0'),
        ("<br>", 'Unsupported start tag "br" at byte offset 0'),
        ("price < 5", 'Unsupported start tag "" at byte offset 6'),
        ("<b", "Unclosed start tag at byte offset 0"),
        ("🏟<i>a</em>", 'Unmatched end tag at byte offset 8, expected "</i>", found "</em>"'),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("<tg-emoji>x</tg-emoji>", "Invalid custom emoji identifier specified"),
        ("<a href=https://x.y>x</a>", "Unexpected end of name token at byte offset 8"),
        ("<b class>x</b>", 'Expected equal sign in declaration of an attribute of the tag "b"'),
        ("Tom & Jerry", 'Unescaped "&" at byte offset 4'),
        ("a > b", 'Unescaped ">" at byte offset 2'),
        ("&nbsp;", 'Unsupported named entity "&nbsp;"'),
        ("&#0;", 'Invalid numeric entity "&#0;"'),
    ],
)
def test_invalid_html_is_reported_like_telegram(html: str, problem: str) -> None:
    problems = tg_html.check_html(html)
    assert problems
    assert problems[0].startswith(problem)


def test_visible_text_and_links() -> None:
    html = '<b>Hi</b> &lt;you&gt; <a href="https://a.example/x?y=1&amp;z=2">A <i>link</i></a>'
    assert tg_html.visible_text(html) == "Hi <you> A link".replace("'", "")
    assert tg_html.links(html) == [("https://a.example/x?y=1&z=2", "A link")]
    assert tg_html.links("<a>https://bare.example</a>") == [
        ("https://bare.example", "https://bare.example")
    ]
    assert tg_html.visible_text("&#128512;&#x41;") == "😀A"


@given(st.text())
def test_escaped_text_is_always_valid_and_shows_unchanged(text: str) -> None:
    escaped = html.escape(text)
    assert tg_html.check_html(escaped) == []
    assert tg_html.visible_text(escaped) == text


# ---------------------------------------------------------------------------- spec


def test_missing_spec_file_means_no_spec(tmp_path: Path) -> None:
    assert spec.load_spec(tmp_path / "absent.json") is None


def test_spec_validation() -> None:
    if spec.load_spec() is None:
        pytest.skip("the Bot API spec is not next to the repository")
    assert spec.validate("sendMessage", {"chat_id": 1, "text": "x"}) == []
    assert spec.validate("sendmessage", {"chat_id": "@chan", "text": "x"}) == []
    assert spec.validate("sendNothing", {}) == ["unknown method 'sendNothing'"]
    problems = spec.validate("sendMessage", {"chat_id": True, "txt": "x"})
    assert any("unknown parameter 'txt'" in p for p in problems)
    assert any("missing required parameter 'text'" in p for p in problems)
    assert any("'chat_id' must be Integer or String" in p for p in problems)
    assert spec.validate("getUpdates", {"timeout": "10"})  # a String where Integer is due


def test_form_values_decode_by_spec_type() -> None:
    assert spec.decode_value("sendMessage", "chat_id", "123") == 123
    assert spec.decode_value("sendMessage", "chat_id", "@channel") == "@channel"
    assert spec.decode_value("sendMessage", "text", "123") == "123"
    assert spec.decode_value("sendMessage", "disable_notification", "true") is True
    markup = spec.decode_value("sendMessage", "reply_markup", '{"inline_keyboard": []}')
    assert markup == {"inline_keyboard": []}


# ---------------------------------------------------------------------------- HTTP basics


async def test_get_me_over_post_and_get(fake: FakeTelegram, http: httpx.AsyncClient) -> None:
    status, body = await call(http, fake, "getMe")
    assert status == 200
    assert body["result"]["username"] == "headline_test_bot"
    assert body["result"]["id"] == 123456
    resp = await http.get(fake.url("getMe"))
    assert resp.json()["ok"] is True
    assert [c.method for c in fake.calls] == ["getMe", "getMe"]


async def test_listens_on_a_port_chosen_in_advance(http: httpx.AsyncClient) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    fake = FakeTelegram(port=port)
    with pytest.raises(httpx.ConnectError):
        await http.post(f"http://127.0.0.1:{port}/bot{DEFAULT_TOKEN}/getMe")
    async with fake:
        assert fake.port == port
        resp = await http.post(f"http://127.0.0.1:{port}/bot{DEFAULT_TOKEN}/getMe")
        assert resp.json()["ok"] is True


async def test_bad_and_revoked_tokens_are_unauthorized(
    fake: FakeTelegram, http: httpx.AsyncClient
) -> None:
    resp = await http.post(fake.url("getMe", token="999:WRONG"))
    assert resp.status_code == 401
    assert resp.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    fake.revoke_token()
    resp = await http.post(fake.url("getMe"))
    assert resp.status_code == 401


async def test_unknown_method_is_404_and_a_violation(
    fake: FakeTelegram, http: httpx.AsyncClient
) -> None:
    with fake.expect_violation() as caught:
        status, body = await call(http, fake, "sendNothing", chat_id=CHAT)
    assert (status, body["description"]) == (404, "Not Found")
    assert caught == ["sendNothing: unknown method"]
    assert fake.violations == []


async def test_unmodelled_method_is_a_violation_unless_scripted(
    fake: FakeTelegram, http: httpx.AsyncClient
) -> None:
    with fake.expect_violation() as caught:
        status, _ = await call(http, fake, "leaveChat", chat_id=GROUP)
    assert status == 500
    assert caught == ["leaveChat: not modelled by the fake (a test may script it with respond())"]
    fake.respond("leaveChat", True)
    assert await call(http, fake, "leaveChat", chat_id=GROUP) == (200, {"ok": True, "result": True})


async def test_method_names_ignore_case(fake: FakeTelegram, http: httpx.AsyncClient) -> None:
    status, _ = await call(http, fake, "SENDMESSAGE", chat_id=CHAT, text="hi")
    assert status == 200
    assert fake.calls[0].method == "sendMessage"


async def test_unknown_parameter_is_recorded_but_ignored(
    fake: FakeTelegram, http: httpx.AsyncClient
) -> None:
    with fake.expect_violation() as caught:
        status, _ = await call(http, fake, "sendMessage", chat_id=CHAT, text="hi", colour="red")
    assert status == 200
    assert "unknown parameter 'colour'" in caught[0]


async def test_missing_and_mistyped_parameters_are_400(
    fake: FakeTelegram, http: httpx.AsyncClient
) -> None:
    with fake.expect_violation():
        status, body = await call(http, fake, "sendMessage", chat_id=CHAT)
    assert (status, body["description"]) == (400, "Bad Request: message text is empty")
    with fake.expect_violation():
        status, _ = await call(http, fake, "sendMessage", chat_id=CHAT, text="x", reply_markup=5)
    assert status == 400


# ---------------------------------------------------------------------------- messages


async def test_send_message_is_stored_and_returned_as_message(
    fake: FakeTelegram, http: httpx.AsyncClient
) -> None:
    markup = {"inline_keyboard": [[{"text": "More", "callback_data": "more:1"}]]}
    status, body = await call(
        http,
        fake,
        "sendMessage",
        chat_id=CHAT,
        text="<b>Top</b> &amp; news",
        parse_mode="HTML",
        reply_markup=markup,
    )
    assert status == 200
    msg = body["result"]
    assert msg["message_id"] == 1
    assert msg["chat"]["id"] == CHAT
    assert msg["chat"]["type"] == "private"
    assert msg["from"]["is_bot"] is True
    assert msg["text"] == "Top & news"
    assert fake.calls[0].params["chat_id"] == CHAT
    assert fake.calls[0].params["reply_markup"] == markup
    stored = fake.message(CHAT, 1)
    assert (stored.text, stored.html, stored.reply_markup) == (
        "Top & news",
        "<b>Top</b> &amp; news",
        markup,
    )
    assert [c.params["text"] for c in fake.sent_to(CHAT)] == ["<b>Top</b> &amp; news"]
    assert fake.texts(CHAT) == ["Top & news"]
    assert fake.violations == []


async def test_json_and_multipart_bodies(fake: FakeTelegram, http: httpx.AsyncClient) -> None:
    fake.add_chat(-100777, "channel", title="News", username="newschan")
    resp = await http.post(
        fake.url("sendMessage"), json={"chat_id": "@newschan", "text": "via json"}
    )
    assert resp.json()["result"]["chat"]["id"] == -100777
    assert resp.json()["result"]["sender_chat"]["id"] == -100777
    resp = await http.post(
        fake.url("sendPhoto"),
        data={"chat_id": str(CHAT), "caption": "<i>pic</i>", "parse_mode": "HTML"},
        files={"photo": ("p.png", b"\x89PNG...", "image/png")},
    )
    assert resp.status_code == 200
    assert resp.json()["result"]["caption"] == "pic"
    photo = fake.calls_of("sendPhoto")[0].params["photo"]
    assert (photo.filename, photo.data) == ("p.png", b"\x89PNG...")
    assert [m.kind for m in fake.messages(CHAT)] == ["photo"]
    assert fake.violations == []


async def test_bad_html_is_a_400_and_a_violation(
    fake: FakeTelegram, http: httpx.AsyncClient
) -> None:
    with fake.expect_violation() as caught:
        status, body = await call(
            http, fake, "sendMessage", chat_id=CHAT, text="<b>x</i>", parse_mode="HTML"
        )
    assert status == 400
    assert body["description"].startswith("Bad Request: can't parse entities: Unmatched end tag")
    assert "can't parse entities" in caught[0]
    assert fake.messages(CHAT) == []
    # the same text without parse_mode is plain text and fine
    status, _ = await call(http, fake, "sendMessage", chat_id=CHAT, text="<b>x</i>")
    assert status == 200


async def test_length_limits(fake: FakeTelegram, http: httpx.AsyncClient) -> None:
    ok_text = "&amp;" * 4096  # 4096 characters once entities are parsed
    status, _ = await call(http, fake, "sendMessage", chat_id=CHAT, text=ok_text, parse_mode="HTML")
    assert status == 200
    with fake.expect_violation():
        status, body = await call(http, fake, "sendMessage", chat_id=CHAT, text="x" * 4097)
    assert (status, body["description"]) == (400, "Bad Request: message is too long")
    with fake.expect_violation():
        status, body = await call(
            http, fake, "sendMessage", chat_id=CHAT, text="<b> </b>", parse_mode="HTML"
        )
    assert (status, body["description"]) == (400, "Bad Request: text must be non-empty")
    with fake.expect_violation():
        status, body = await call(
            http, fake, "sendPhoto", chat_id=CHAT, photo="file-id", caption="c" * 1025
        )
    assert (status, body["description"]) == (400, "Bad Request: message caption is too long")
    big = {"inline_keyboard": [[{"text": "b", "callback_data": "d" * 65}]]}
    with fake.expect_violation():
        status, body = await call(
            http, fake, "sendMessage", chat_id=CHAT, text="x", reply_markup=big
        )
    assert (status, body["description"]) == (400, "Bad Request: BUTTON_DATA_INVALID")


async def test_commands(fake: FakeTelegram, http: httpx.AsyncClient) -> None:
    commands = [
        {"command": "start", "description": "Start"},
        {"command": "search", "description": "Find"},
    ]
    status, _ = await call(http, fake, "setMyCommands", commands=commands)
    assert status == 200
    _, body = await call(http, fake, "getMyCommands")
    assert body["result"] == commands
    assert fake.my_commands() == commands
    for bad in (
        [{"command": "Start", "description": "x"}],
        [{"command": "start", "description": ""}],
        [{"command": f"c{i}", "description": "x"} for i in range(101)],
    ):
        with fake.expect_violation():
            status, _ = await call(http, fake, "setMyCommands", commands=bad)
        assert status == 400
    await call(http, fake, "deleteMyCommands")
    assert fake.my_commands() == []


async def test_edit_delete_copy(fake: FakeTelegram, http: httpx.AsyncClient) -> None:
    await call(http, fake, "sendMessage", chat_id=CHAT, text="<b>one</b>", parse_mode="HTML")
    status, body = await call(
        http,
        fake,
        "editMessageText",
        chat_id=CHAT,
        message_id=1,
        text="<b>one</b>",
        parse_mode="HTML",
    )
    assert (status, body["description"]) == (400, NOT_MODIFIED)
    markup = {"inline_keyboard": [[{"text": "Next", "callback_data": "n"}]]}
    status, body = await call(
        http, fake, "editMessageText", chat_id=CHAT, message_id=1, text="two", reply_markup=markup
    )
    assert status == 200
    assert body["result"]["text"] == "two"
    assert (fake.message(CHAT, 1).text, fake.message(CHAT, 1).reply_markup) == ("two", markup)
    status, body = await call(
        http, fake, "editMessageReplyMarkup", chat_id=CHAT, message_id=1, reply_markup=markup
    )
    assert (status, body["description"]) == (400, NOT_MODIFIED)
    status, _ = await call(http, fake, "editMessageReplyMarkup", chat_id=CHAT, message_id=1)
    assert status == 200
    assert fake.message(CHAT, 1).reply_markup is None

    status, body = await call(
        http, fake, "copyMessage", chat_id=GROUP, from_chat_id=CHAT, message_id=1
    )
    assert (status, body["result"]) == (200, {"message_id": 1})
    assert fake.message(GROUP, 1).text == "two"
    status, body = await call(
        http, fake, "copyMessage", chat_id=GROUP, from_chat_id=CHAT, message_id=99
    )
    assert (status, body["description"]) == (400, "Bad Request: message to copy not found")

    status, _ = await call(http, fake, "deleteMessage", chat_id=CHAT, message_id=1)
    assert status == 200
    assert fake.messages(CHAT) == []
    status, body = await call(http, fake, "deleteMessage", chat_id=CHAT, message_id=1)
    assert body["description"] == "Bad Request: message to delete not found"
    status, body = await call(http, fake, "editMessageText", chat_id=CHAT, message_id=1, text="x")
    assert body["description"] == "Bad Request: message to edit not found"
    assert fake.violations == []


async def test_callback_queries(fake: FakeTelegram, http: httpx.AsyncClient) -> None:
    await call(http, fake, "sendMessage", chat_id=CHAT, text="pick")
    update = fake.push_update(fake.callback_update(CHAT, 1, "page:2"))
    query = update["callback_query"]
    assert query["message"]["text"] == "pick"
    assert query["data"] == "page:2"
    status, _ = await call(http, fake, "answerCallbackQuery", callback_query_id=query["id"])
    assert status == 200
    assert query["id"] in fake.callback_answers
    status, body = await call(http, fake, "answerCallbackQuery", callback_query_id=query["id"])
    assert status == 400
    assert "query is too old" in body["description"]
    update = fake.push_update(fake.callback_update(CHAT, 1, "x"))
    with fake.expect_violation():
        status, _ = await call(
            http,
            fake,
            "answerCallbackQuery",
            callback_query_id=update["callback_query"]["id"],
            text="t" * 201,
        )
    assert status == 400


async def test_chat_members(fake: FakeTelegram, http: httpx.AsyncClient) -> None:
    fake.add_chat(GROUP, "supergroup", title="Readers")
    fake.set_admins(GROUP, [7], owner=5)
    fake.set_bot_admin(GROUP)
    fake.set_member(GROUP, 9, "left")
    statuses = {}
    for uid in (5, 7, 8, 9, fake.bot_id):
        _, body = await call(http, fake, "getChatMember", chat_id=GROUP, user_id=uid)
        statuses[uid] = body["result"]["status"]
    assert statuses == {
        5: "creator",
        7: "administrator",
        8: "member",
        9: "left",
        fake.bot_id: "administrator",
    }
    _, body = await call(http, fake, "getChat", chat_id=GROUP)
    assert body["result"]["title"] == "Readers"


# ---------------------------------------------------------------------------- faults


async def test_chat_faults(fake: FakeTelegram, http: httpx.AsyncClient) -> None:
    fake.block(1)
    fake.kick(-55)
    fake.migrate_chat(-66, -1000066)
    fake.chat_not_found(77)
    fake.flood(88, retry_after=7, times=2)
    results = []
    for chat_id in (1, -55, -66, 77, 88, 88, 88):
        status, body = await call(http, fake, "sendMessage", chat_id=chat_id, text="x")
        results.append((status, body.get("description"), body.get("parameters")))
    assert results == [
        (403, "Forbidden: bot was blocked by the user", None),
        (403, "Forbidden: bot was kicked from the group chat", None),
        (
            400,
            "Bad Request: group chat was upgraded to a supergroup chat",
            {"migrate_to_chat_id": -1000066},
        ),
        (400, "Bad Request: chat not found", None),
        (429, "Too Many Requests: retry after 7", {"retry_after": 7}),
        (429, "Too Many Requests: retry after 7", {"retry_after": 7}),
        (200, None, None),
    ]
    assert fake.chats[-1000066]["type"] == "supergroup"
    status, _ = await call(http, fake, "sendMessage", chat_id=-1000066, text="x")
    assert status == 200
    assert fake.sent_to(1) == []
    assert fake.violations == []


async def test_method_faults(fake: FakeTelegram, http: httpx.AsyncClient) -> None:
    fake.fail("sendMessage", status=502, times=2)
    codes = [(await call(http, fake, "sendMessage", chat_id=CHAT, text="x"))[0] for _ in range(3)]
    assert codes == [502, 502, 200]
    fake.delay("getMe", 0.2)
    started = time.monotonic()
    await call(http, fake, "getMe")
    assert time.monotonic() - started >= 0.2
    fake.conflict_get_updates(1)
    status, body = await call(http, fake, "getUpdates")
    assert (status, body["description"]) == (409, fake_conflict())
    status, _ = await call(http, fake, "getUpdates")
    assert status == 200


async def test_injected_floods(http: httpx.AsyncClient) -> None:
    async def flooded_sends(fake: FakeTelegram, n: int) -> list[int]:
        floods = []
        for i in range(n):
            status, body = await call(http, fake, "sendMessage", chat_id=CHAT + i, text="x")
            if status == 429:
                assert body["description"] == "Too Many Requests: retry after 2"
                assert body["parameters"] == {"retry_after": 2}
                floods.append(i)
            else:
                assert status == 200
        return floods

    async with FakeTelegram() as fake, FakeTelegram() as twin:
        fake.inject_floods(0.25, retry_after=2, seed=7)
        twin.inject_floods(0.25, retry_after=2, seed=7)
        floods = await flooded_sends(fake, 200)
        assert 25 <= len(floods) <= 75
        assert fake.injected_floods == len(floods)
        assert fake.too_many_requests == 0  # limit violations are counted apart
        assert await flooded_sends(twin, 200) == floods  # one seed, one order: the same calls
        assert (await call(http, fake, "getMe"))[0] == 200  # only message sends are flooded

        fake.clear_faults()
        assert await flooded_sends(fake, 50) == []
        assert fake.injected_floods == len(floods)

        fake.inject_floods(1.0, methods=["copyMessage"])
        assert (await call(http, fake, "sendMessage", chat_id=CHAT, text="x"))[0] == 200
        status, body = await call(
            http, fake, "copyMessage", chat_id=GROUP, from_chat_id=CHAT, message_id=1
        )
        assert (status, body["parameters"]) == (429, {"retry_after": 1})
        fake.inject_floods(0)
        status, _ = await call(
            http, fake, "copyMessage", chat_id=GROUP, from_chat_id=CHAT, message_id=1
        )
        assert status == 200
        with pytest.raises(ValueError, match="ratio"):
            fake.inject_floods(1.5)
        with pytest.raises(ValueError, match="getMe"):
            fake.inject_floods(0.1, methods=["getMe"])
        assert fake.violations == twin.violations == []


async def test_injected_floods_leave_the_limits_windows_free(
    http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with FakeTelegram(enforce_limits=True, overall_limit=3, overall_period=60.0) as fake:
        fake.inject_floods(1.0)
        statuses = [
            (await call(http, fake, "sendMessage", chat_id=CHAT + i, text="x"))[0] for i in range(5)
        ]
        assert statuses == [429] * 5
        fake.inject_floods(0)
        statuses = [
            (await call(http, fake, "sendMessage", chat_id=CHAT + i, text="x"))[0] for i in range(4)
        ]
        assert statuses == [200, 200, 200, 429]
        assert (fake.injected_floods, fake.too_many_requests) == (5, 1)

    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    async with FakeTelegram() as fake, telegram.Bot(DEFAULT_TOKEN, base_url=fake.base_url) as bot:
        fake.inject_floods(1.0, retry_after=4)
        with pytest.raises(telegram.error.RetryAfter) as flood:
            await bot.send_message(CHAT, "x")
        assert flood.value.retry_after == dt.timedelta(seconds=4)


def fake_conflict() -> str:
    return (
        "Conflict: terminated by other getUpdates request; "
        "make sure that only one bot instance is running"
    )


# ---------------------------------------------------------------------------- updates


async def test_get_updates_offset_limit_and_long_poll(
    fake: FakeTelegram, http: httpx.AsyncClient
) -> None:
    for i in range(3):
        fake.push_update(fake.message_update(CHAT, f"m{i}"))
    _, body = await call(http, fake, "getUpdates", limit=2)
    assert [u["update_id"] for u in body["result"]] == [1, 2]
    _, body = await call(http, fake, "getUpdates", offset=2)
    assert [u["message"]["text"] for u in body["result"]] == ["m1", "m2"]
    _, body = await call(http, fake, "getUpdates", offset=4, timeout=0)
    assert body["result"] == []
    assert fake.pending_updates == []

    started = time.monotonic()
    _, body = await call(http, fake, "getUpdates", offset=4, timeout=1)
    assert body["result"] == []
    assert time.monotonic() - started >= 0.9

    async def later() -> None:
        await asyncio.sleep(0.1)
        await fake.send_text(CHAT, "/start@headline_test_bot now")

    task = asyncio.create_task(later())
    started = time.monotonic()
    _, body = await call(http, fake, "getUpdates", offset=4, timeout=5)
    await task
    assert time.monotonic() - started < 2
    msg = body["result"][0]["message"]
    assert msg["entities"] == [
        {"type": "bot_command", "offset": 0, "length": len("/start@headline_test_bot")}
    ]


async def test_allowed_updates_and_update_builders(
    fake: FakeTelegram, http: httpx.AsyncClient
) -> None:
    fake.add_chat(-100500, "channel", title="Chan")
    fake.push_update(fake.channel_post_update(-100500, "/subscribe tech"))
    fake.push_update(fake.my_chat_member_update(GROUP, 7, "left", "administrator"))
    fake.push_update({"chat_member": {}})  # not delivered unless asked for
    _, body = await call(http, fake, "getUpdates", allowed_updates=[])
    kinds = [next(k for k in u if k != "update_id") for u in body["result"]]
    assert kinds == ["channel_post", "my_chat_member"]
    post = body["result"][0]["channel_post"]
    assert "from" not in post
    assert post["sender_chat"]["id"] == -100500
    member = body["result"][1]["my_chat_member"]["new_chat_member"]
    assert member["status"] == "administrator"
    assert member["can_manage_chat"] is True

    fake.push_update(fake.message_update(GROUP, "hello"))
    fake.push_update(fake.callback_update(GROUP, 1, "x"))
    _, body = await call(http, fake, "getUpdates", offset=3, allowed_updates=["callback_query"])
    assert [next(k for k in u if k != "update_id") for u in body["result"]] == ["callback_query"]

    update = fake.migrate_update(-42, -100042)
    assert update["message"]["migrate_to_chat_id"] == -100042
    _, body = await call(http, fake, "sendMessage", chat_id=-42, text="x")
    assert body["parameters"] == {"migrate_to_chat_id": -100042}


async def test_overlapping_polls_conflict(fake: FakeTelegram, http: httpx.AsyncClient) -> None:
    first = asyncio.create_task(call(http, fake, "getUpdates", timeout=5))
    await fake.wait_calls("getUpdates", 1)
    await asyncio.sleep(0.05)
    second = asyncio.create_task(call(http, fake, "getUpdates", timeout=1))
    status, body = await asyncio.wait_for(first, 3)
    assert (status, body["description"]) == (409, fake_conflict())
    status, _ = await second
    assert status == 200


async def test_webhook(fake: FakeTelegram, http: httpx.AsyncClient) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(
            (request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json())
        )
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        with fake.expect_violation():
            status, _ = await call(http, fake, "setWebhook", url="http://insecure.example/hook")
        assert status == 400
        status, _ = await call(
            http, fake, "setWebhook", url="https://bot.example/hook", secret_token="s3cret"
        )
        assert status == 200
        _, body = await call(http, fake, "getWebhookInfo")
        assert body["result"]["url"] == "https://bot.example/hook"
        status, body = await call(http, fake, "getUpdates")
        assert status == 409
        code = await fake.post_update(
            f"http://127.0.0.1:{port}/hook", fake.message_update(CHAT, "hi")
        )
        assert code == 200
        assert received[0][0] == "s3cret"
        assert received[0][1]["message"]["text"] == "hi"
        assert "update_id" in received[0][1]
        await call(http, fake, "deleteWebhook")
        assert fake.webhook_url == ""
    finally:
        await runner.cleanup()


# ---------------------------------------------------------------------------- rate limits


async def test_private_chat_windows(http: httpx.AsyncClient) -> None:
    async with FakeTelegram(enforce_limits=True, private_limits=((3, 3.0), (2, 0.5))) as fake:

        async def send(chat_id: int = CHAT) -> tuple[int, dict[str, Any]]:
            return await call(http, fake, "sendMessage", chat_id=chat_id, text="x")

        assert [(await send())[0] for _ in range(3)] == [200, 200, 429]
        _, body = await send()
        assert body["parameters"]["retry_after"] == 1  # seconds, rounded up, never 0
        assert fake.too_many_requests == 2
        assert (await send(CHAT + 1))[0] == 200  # windows are per chat
        await asyncio.sleep(0.6)
        assert (await send())[0] == 200
        # the 0.5 s window holds one now, but the 3 s window is full
        status, body = await send()
        assert status == 429
        assert body["parameters"]["retry_after"] in (2, 3)
        edit = await call(http, fake, "editMessageText", chat_id=CHAT, message_id=1, text="y")
        assert edit[0] == 429  # edits count too
        assert fake.violations == []


async def test_group_overall_and_paid_windows(http: httpx.AsyncClient) -> None:
    async with FakeTelegram(
        enforce_limits=True,
        overall_limit=5,
        overall_period=10.0,
        group_limits=((2, 60.0),),
        paid_limit=8,
        paid_period=10.0,
    ) as fake:
        group = [(await call(http, fake, "sendMessage", chat_id=-5, text="x")) for _ in range(3)]
        assert [s for s, _ in group] == [200, 200, 429]
        assert 59 <= group[2][1]["parameters"]["retry_after"] <= 60
        overall = [
            (await call(http, fake, "sendMessage", chat_id=1000 + i, text="x"))[0] for i in range(4)
        ]
        assert overall == [200, 200, 200, 429]  # 2 group + 3 private fill the overall window
        paid = [
            (
                await call(
                    http,
                    fake,
                    "sendMessage",
                    chat_id=2000 + i,
                    text="x",
                    allow_paid_broadcast=True,
                )
            )[0]
            for i in range(9)
        ]
        assert paid == [200] * 8 + [429]  # a separate bucket, not the overall one
        # getUpdates and reads are never limited
        assert (await call(http, fake, "getUpdates"))[0] == 200
        fake.lift_limits()
        assert (await call(http, fake, "sendMessage", chat_id=-5, text="x"))[0] == 200


# ---------------------------------------------------------------------------- python-telegram-bot


async def test_python_telegram_bot_against_the_fake(
    fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    fake.add_chat(GROUP, "supergroup", title="Readers")
    fake.set_admins(GROUP, [7], owner=5)
    async with telegram.Bot(DEFAULT_TOKEN, base_url=fake.base_url) as bot:
        me = await bot.get_me()
        assert me.username == "headline_test_bot"
        sent = await bot.send_message(CHAT, "<b>x</b>", parse_mode="HTML")
        assert (sent.message_id, sent.text, sent.chat.id) == (1, "x", CHAT)
        markup = telegram.InlineKeyboardMarkup(
            [[telegram.InlineKeyboardButton("More", callback_data="more")]]
        )
        edited = await bot.edit_message_text(
            "<i>y</i>", CHAT, sent.message_id, parse_mode="HTML", reply_markup=markup
        )
        assert isinstance(edited, telegram.Message)
        assert fake.message(CHAT, 1).reply_markup == markup.to_dict()
        copied = await bot.copy_message(GROUP, CHAT, sent.message_id)
        assert copied.message_id == 1
        member = await bot.get_chat_member(GROUP, 7)
        assert isinstance(member, telegram.ChatMemberAdministrator)
        owner = await bot.get_chat_member(GROUP, 5)
        assert isinstance(owner, telegram.ChatMemberOwner)
        assert (await bot.get_chat(GROUP)).title == "Readers"
        await bot.set_my_commands([("start", "Start"), ("search", "Search headlines")])
        assert [c.command for c in await bot.get_my_commands()] == ["start", "search"]
        assert fake.violations == []

        with fake.expect_violation(), pytest.raises(telegram.error.BadRequest, match="parse"):
            await bot.send_message(CHAT, "<b>x</i>", parse_mode="HTML")
        fake.block(CHAT)
        with pytest.raises(telegram.error.Forbidden, match="blocked"):
            await bot.send_message(CHAT, "x")
        fake.flood(GROUP, retry_after=3)
        with pytest.raises(telegram.error.RetryAfter) as flood:
            await bot.send_message(GROUP, "x")
        assert flood.value.retry_after == dt.timedelta(seconds=3)
        fake.migrate_chat(-77, -100077)
        with pytest.raises(telegram.error.ChatMigrated) as migrated:
            await bot.send_message(-77, "x")
        assert migrated.value.new_chat_id == -100077
        fake.fail("getMe", 502)
        with pytest.raises(telegram.error.NetworkError):
            await bot.get_me()
    assert fake.violations == []


async def test_application_polls_and_answers_a_command(fake: FakeTelegram) -> None:
    async def start(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_html("<b>Welcome</b>")

    app: Application[Any, Any, Any, Any, Any, Any] = (
        ApplicationBuilder().token(DEFAULT_TOKEN).base_url(fake.base_url).build()
    )
    app.add_handler(CommandHandler("start", start))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        await fake.send_text(CHAT, "/start")
        await fake.send_text(GROUP, "/start@headline_test_bot")
        await fake.wait_for(lambda: len(fake.calls_of("sendMessage")) == 2, timeout=5)
        await app.updater.stop()
        await app.stop()
    assert fake.texts(CHAT) == ["Welcome"]
    assert fake.texts(GROUP) == ["Welcome"]
    assert [c.method for c in fake.calls[:2]] == ["getMe", "deleteWebhook"]
    assert fake.violations == []


# ---------------------------------------------------------------------------- throughput


async def test_throughput(fake: FakeTelegram) -> None:
    """The fake must not be the bottleneck of a delivery benchmark.

    aiohttp's client is used because it is the cheaper one; it shares this event loop, so
    the rate measured here is about half of what the server sustains on its own.
    """
    n, workers = 1000, 30
    url = fake.url("sendMessage")
    text = '<b>Headline</b> — <a href="https://example.com/a?b=1&amp;c=2">read</a>'
    connector = aiohttp.TCPConnector(limit=workers)
    async with aiohttp.ClientSession(connector=connector) as client:

        async def worker(k: int) -> None:
            for i in range(k, n, workers):
                form = {"chat_id": str(i), "text": text, "parse_mode": "HTML"}
                async with client.post(url, data=form) as resp:
                    await resp.read()
                    assert resp.status == 200

        await asyncio.gather(*(worker(k) for k in range(workers)))
    # every request answered and recorded; benchmarks/limits.py prints the requests/s
    assert len(fake.calls) == n
    assert fake.violations == []
