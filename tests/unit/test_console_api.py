"""The console's Bot API stand-in answers with objects the installed library can read.

Each `api_*` method of the console world is called, and its answer is checked two ways:
against the Bot API spec of the version python-telegram-bot targets (every required field,
no unknown ones, the right types, recursively; skipped without ../shared), and by building
python-telegram-bot's own object from it, as the library does with a real answer.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import pytest
import telegram
from telegram.constants import BOT_API_VERSION

from bot.process.console import BOT_ID, USER_ID, ConsoleApiError, ConsoleRequest, ConsoleWorld

SPEC_DIR = Path(__file__).resolve().parents[3] / "shared" / "telegram-bot-api-spec"
KEYBOARD = {"inline_keyboard": [[{"text": "Next", "callback_data": "s:1"}]]}
# Every api_* method with the calls the bot makes to it (and a few it could make).
CALLS: dict[str, list[dict[str, Any]]] = {
    "getMe": [{}],
    "deleteWebhook": [{"drop_pending_updates": False}],
    "setMyCommands": [{"commands": [{"command": "start", "description": "Start"}]}],
    "getUpdates": [{"offset": 0, "timeout": 0}],
    "sendMessage": [
        {"chat_id": USER_ID, "text": "<b>Hi</b>", "parse_mode": "HTML"},
        {"chat_id": USER_ID, "text": "Page", "reply_markup": json.dumps(KEYBOARD)},
        {"chat_id": "@somechannel", "text": "To the channel"},
        {"chat_id": -1001234567890, "text": "A chat of another database"},
    ],
    "sendPhoto": [
        {
            "chat_id": USER_ID,
            "photo": "https://img.example/a.png",
            "caption": "<b>A</b> &amp; B",
            "parse_mode": "HTML",
        }
    ],
    "editMessageText": [{"chat_id": USER_ID, "message_id": 1, "text": "Edited"}],
    "copyMessage": [{"chat_id": USER_ID, "from_chat_id": USER_ID, "message_id": 1}],
    "answerCallbackQuery": [{"callback_query_id": "1", "text": "Done"}],
    "getChat": [{"chat_id": USER_ID}, {"chat_id": "@somechannel"}],
    "getChatMember": [
        {"chat_id": USER_ID, "user_id": USER_ID},
        {"chat_id": "@somechannel", "user_id": USER_ID},
        {"chat_id": "@somechannel", "user_id": BOT_ID},
        {"chat_id": "@somechannel", "user_id": 777},
    ],
    "getChatAdministrators": [{"chat_id": "@somechannel"}],
}
ALWAYS = re.compile(r'always [“"]([^”"]+)[”"]')


@functools.cache
def load_spec() -> dict[str, Any] | None:
    """The spec of python-telegram-bot's Bot API version, or None without ../shared."""
    for name in (f"api-botapi-{BOT_API_VERSION}.json", "api.json"):
        try:
            spec: dict[str, Any] = json.loads((SPEC_DIR / name).read_text(encoding="utf-8"))
        except FileNotFoundError:
            continue
        if spec.get("version") == f"Bot API {BOT_API_VERSION}":
            return spec
    return None


def problems(spec: dict[str, Any], value: Any, type_name: str, where: str) -> list[str]:
    """What is wrong with `value` as a `type_name` of the spec (empty when it is valid)."""
    if type_name.startswith("Array of "):
        if not isinstance(value, list):
            return [f"{where}: {type_name} expected, got {value!r:.60}"]
        inner = type_name.removeprefix("Array of ")
        return [p for i, v in enumerate(value) for p in problems(spec, v, inner, f"{where}[{i}]")]
    scalar = {
        "Integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "Float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "Boolean": lambda v: isinstance(v, bool),
        "True": lambda v: v is True,
        "String": lambda v: isinstance(v, str),
    }
    if type_name in scalar:
        return [] if scalar[type_name](value) else [f"{where}: {type_name}, got {value!r:.60}"]
    kind = spec["types"].get(type_name)
    if kind is None:
        return [f"{where}: the spec has no type {type_name}"]
    if kind.get("subtypes"):
        found = [problems(spec, value, sub, f"{where}<{sub}>") for sub in kind["subtypes"]]
        return [] if any(not p for p in found) else min(found, key=len)
    if not isinstance(value, dict):
        return [f"{where}: {type_name} object expected, got {value!r:.60}"]
    fields = {field["name"]: field for field in kind.get("fields", [])}
    found = [f"{where}.{name}: not a field of {type_name}" for name in value if name not in fields]
    for name, field in fields.items():
        if name not in value:
            if field["required"]:
                found.append(f"{where}.{name}: required by {type_name}, missing")
            continue
        constant = ALWAYS.search(field.get("description", ""))
        if constant and value[name] != constant.group(1):
            found.append(f"{where}.{name}: always {constant.group(1)!r}, got {value[name]!r}")
        checks = [problems(spec, value[name], t, f"{where}.{name}") for t in field["types"]]
        if all(checks):
            found.extend(min(checks, key=len))
    return found


def returns(spec: dict[str, Any], method: str) -> list[str]:
    """The type names a method may return."""
    names: list[str] = spec["methods"][method]["returns"]
    return names


def library_object(method: str, result: Any, bot: telegram.Bot) -> Any:
    """Build python-telegram-bot's object from an answer, as the library does."""
    if isinstance(result, bool):
        return result
    kinds = {
        "getMe": telegram.User,
        "getUpdates": telegram.Update,
        "sendMessage": telegram.Message,
        "sendPhoto": telegram.Message,
        "editMessageText": telegram.Message,
        "copyMessage": telegram.MessageId,
        "getChat": telegram.ChatFullInfo,
        "getChatMember": telegram.ChatMember,
        "getChatAdministrators": telegram.ChatMember,
    }
    kind = kinds[method]
    if isinstance(result, list):
        return kind.de_list(result, bot)
    return kind.de_json(result, bot)


async def answers(world: ConsoleWorld) -> list[tuple[str, dict[str, Any], Any]]:
    """Every call of CALLS, answered by the world, with updates waiting for getUpdates."""
    world.type_text("/start")
    world.type_text("hello")
    out = []
    for method, calls in CALLS.items():
        for params in calls:
            out.append((method, params, await world.answer(method, params)))
            if method == "sendMessage" and "reply_markup" in params:
                assert world.press(1)
    # the press queued after getUpdates ran: answer it too
    out.append(("getUpdates", {"offset": 3}, await world.answer("getUpdates", {"offset": 3})))
    return out


def test_every_api_method_is_called() -> None:
    offered = {name.removeprefix("api_") for name in dir(ConsoleWorld) if name.startswith("api_")}
    assert offered == set(CALLS)


async def test_answers_match_the_spec_of_the_library_version() -> None:
    spec = load_spec()
    if spec is None:
        pytest.skip(f"no Bot API {BOT_API_VERSION} spec in {SPEC_DIR}")
    world = ConsoleWorld(lambda text: None)
    found: list[str] = []
    seen = set()
    for method, params, result in await answers(world):
        assert method in spec["methods"], method
        kinds = returns(spec, method)
        checks = [problems(spec, result, kind, f"{method}{params}") for kind in kinds]
        if all(checks):
            found.extend(min(checks, key=len))
        if method == "getUpdates":
            seen |= {key for update in result for key in update if key != "update_id"}
    assert not found, "\n".join(found)
    assert seen == {"message", "callback_query"}, "updates of both kinds were checked"


async def test_the_library_reads_every_answer() -> None:
    world = ConsoleWorld(lambda text: None)
    request = ConsoleRequest(world)
    async with telegram.Bot("0:console", request=request, get_updates_request=request) as bot:
        for method, _params, result in await answers(world):
            assert library_object(method, result, bot) is not None


async def test_a_pretend_channel_is_owned_by_the_person_with_the_bot_as_admin() -> None:
    world = ConsoleWorld(lambda text: None)
    chat = await world.answer("getChat", {"chat_id": "@SomeChannel"})
    assert chat["type"] == "channel" and chat["username"] == "SomeChannel"
    assert chat["id"] < -(10**12)
    again = await world.answer("getChat", {"chat_id": chat["id"]})
    assert again["id"] == chat["id"]
    me = await world.answer("getChatMember", {"chat_id": chat["id"], "user_id": USER_ID})
    bot = await world.answer("getChatMember", {"chat_id": chat["id"], "user_id": BOT_ID})
    other = await world.answer("getChatMember", {"chat_id": chat["id"], "user_id": 5})
    assert (me["status"], bot["status"], other["status"]) == ("creator", "administrator", "left")
    assert bot["can_post_messages"] is True


async def test_what_the_console_does_not_offer_is_a_bad_request() -> None:
    world = ConsoleWorld(lambda text: None)
    with pytest.raises(ConsoleApiError) as raised:
        await world.answer("sendDocument", {"chat_id": USER_ID})
    assert raised.value.code == 400
    with pytest.raises(ConsoleApiError):
        await world.answer("getChatAdministrators", {"chat_id": USER_ID})
    request = ConsoleRequest(world)
    code, body = await request.do_request(
        "http://console.invalid/bot0:console/sendDocument", "POST"
    )
    assert code == 400 and json.loads(body)["ok"] is False


async def test_messages_to_other_chats_say_where_they_went() -> None:
    shown: list[str] = []
    world = ConsoleWorld(shown.append)
    await world.answer("sendMessage", {"chat_id": USER_ID, "text": "to you"})
    await world.answer("sendMessage", {"chat_id": "@news", "text": "to the channel"})
    assert shown == ["🤖 to you", "🤖 → @news: to the channel"]
