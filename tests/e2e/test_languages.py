"""Languages end to end: a Spanish speaker's private chat, a group added by one, the menus."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.harness import item, running_bot
from tests.fakes.feed_server import FeedServer
from tests.fakes.telegram import FakeTelegram

BASE = [
    item(1, "Bolivia Severs Ties", "La Paz said Bolivia would act."),
    item(2, "Lithium Deal Signed", "Bolivia and Chile signed it."),
]
ROSA, ALICE, ADMIN = 102, 101, 201
GROUP, MEMBER = -500, 202


def button_texts(markup: dict[str, Any] | None) -> list[str]:
    """Every inline button's text, row after row."""
    return [b["text"] for row in (markup or {}).get("inline_keyboard", []) for b in row]


async def test_a_spanish_speakers_start_and_help_are_in_spanish(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    fake_tg.add_user(ROSA, "Rosa", language_code="es-419")
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        start = (await bot.say(ROSA, "/start"))[-1].params["text"]
        assert "Bienvenido a Headline Bot" in start and "Welcome" not in start
        assert "/help lista todos los comandos" in start
        await bot.quiet()  # the first contact is recorded once answered
        stored = await bot.services.preferences.get(ROSA)
        assert stored.stored and stored.language == "es", "the chat keeps its first language"
        help_text = (await bot.say(ROSA, "/help"))[-1].params["text"]
        for heading in ("<b>Temas</b>", "<b>Lectura</b>", "<b>Avisos</b>", "<b>Ajustes</b>"):
            assert heading in help_text, heading
        for command in ("/settings", "/digest", "/export", "/forget", "/language"):
            assert command in help_text, command
        assert "Every command" not in help_text and "<b>Administradores</b>" not in help_text
        # Spanish buttons: /forget asks first, with its buttons in Spanish
        forget = (await bot.say(ROSA, "/forget"))[-1]
        assert "¿Borro todo lo que guardo de este chat?" in forget.params["text"]
        assert button_texts(forget.params["reply_markup"]) == [
            "📄 Exportar primero",
            "🗑 Borrar todo",
            "Cancelar",
        ]
        # the reply to a follow and the search page's buttons, in Spanish
        follow = (await bot.say(ROSA, "/topic add bolivia"))[-1].params["text"]
        assert "✅ Sigues: <b>bolivia</b>" in follow
        assert "coincidió con 2 titulares en los últimos 7 días" in follow
        unknown = (await bot.say(ROSA, "/frobnicate"))[-1].params["text"]
        assert unknown == "No conozco /frobnicate. /help lista lo que sé hacer."
        # a later change of the Telegram app's language does not move a chat that has one
        fake_tg.add_user(ROSA, "Rosa", language_code="en")
        again = (await bot.say(ROSA, "/stop"))[-1].params["text"]
        assert again.startswith("⏸ Avisos en pausa.")


async def test_a_newcomers_first_answer_does_not_wait_for_the_database(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    """A first /latest is answered, in the user's language, while a transaction (a poll's,
    say) holds the database; the first contact is recorded once that transaction is done."""
    fake_tg.add_user(ROSA, "Rosa", language_code="es-419")
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        async with bot.services.storage.store.transaction():
            (answer,) = await bot.say(ROSA, "/latest 2")
            assert "Bolivia Severs Ties" in answer.params["text"]
            assert "<b>Últimos titulares</b>" in answer.params["text"]
            assert await bot.services.chats.get(ROSA) is None, "recorded after the answer"
        await bot.quiet()
        assert await bot.services.chats.get(ROSA) is not None
        stored = await bot.services.preferences.get(ROSA)
        assert stored.stored and stored.language == "es"


async def test_an_english_speaker_stays_in_english(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    fake_tg.add_user(ALICE, "Alice", language_code="pt-br")  # no Portuguese: English
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        start = (await bot.say(ALICE, "/start"))[-1].params["text"]
        assert "Welcome to Headline Bot" in start
        assert (await bot.services.preferences.get(ALICE)).language == "en"


async def test_a_group_added_by_a_spanish_speaker_speaks_spanish(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    fake_tg.add_user(ADMIN, "Ana", language_code="es")
    fake_tg.add_user(MEMBER, "Bob", language_code="en")  # a member's own language is not used
    fake_tg.add_chat(GROUP, "group", title="Lectores")
    fake_tg.set_admins(GROUP, [ADMIN])
    fake_tg.add_chat(-501, "group", title="Readers")
    fake_tg.set_admins(-501, [ADMIN])
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        fake_tg.push_update(fake_tg.my_chat_member_update(GROUP, ADMIN, "left", "member"))
        await fake_tg.wait_for(lambda: bot.services.chats is not None, 5)
        help_text = (await bot.say(GROUP, "/help", from_user=MEMBER))[-1].params["text"]
        assert "<b>Temas</b>" in help_text
        refused = (await bot.say(GROUP, "/topic add bolivia", from_user=MEMBER))[-1]
        assert "Solo los administradores de este grupo" in refused.params["text"]
        assert (await bot.services.preferences.get(GROUP)).language == "es"
        # a group the bot found without being told who added it speaks English
        other = (await bot.say(-501, "/help", from_user=ADMIN))[-1].params["text"]
        assert "<b>Topics</b>" in other


async def test_command_menus_in_english_and_in_spanish(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with running_bot(
        fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE, admin_ids=[ADMIN]
    ):
        calls = fake_tg.calls_of("setMyCommands")
        by_key = {
            (str((c.params.get("scope") or {}).get("type")), c.params.get("language_code")): c
            for c in calls
        }
        assert set(by_key) == {
            ("default", None),
            ("default", "es"),
            ("chat", None),
            ("chat", "es"),
        }, list(by_key)
        english = {c["command"]: c["description"] for c in fake_tg.my_commands()}
        spanish = {c["command"]: c["description"] for c in fake_tg.my_commands(None, "es")}
        assert set(english) == set(spanish)
        for name in ("settings", "digest", "timezone", "language", "export", "forget", "help"):
            assert name in english, name
        assert "broadcast" not in english and "feeds" not in english
        assert english["help"] == "Every command with an example"
        assert spanish["help"] == "Cada comando con un ejemplo"
        admin_es = fake_tg.my_commands({"type": "chat", "chat_id": ADMIN}, "es")
        admin_names = {c["command"]: c["description"] for c in admin_es}
        assert {"broadcast", "stats", "feeds", "settings"} <= set(admin_names)
        assert admin_names["stats"] == "Cómo le va al bot"
    # every request was checked against the Bot API spec by the fake (the fixture asserts)
