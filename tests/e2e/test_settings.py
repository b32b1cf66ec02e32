"""/settings and each setting's command through the fake Bot API, in English and Spanish."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.harness import Harness, item, running_bot
from tests.fakes.feed_server import FeedServer
from tests.fakes.telegram import Call, FakeTelegram

BASE = [item(1, "Bolivia Severs Ties", "x")]
ALICE, ROSA = 101, 102
GROUP, ADMIN, MEMBER = -500, 201, 202
CHANNEL, OWNER, READER = -1001234567890, 301, 302


def buttons(markup: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The inline buttons of a message's markup, row after row."""
    return [b for row in (markup or {}).get("inline_keyboard", []) for b in row]


def data_of(markup: dict[str, Any] | None, starts: str) -> str:
    """The callback data of the one button whose text starts with `starts`."""
    found = [b["callback_data"] for b in buttons(markup) if b["text"].startswith(starts)]
    assert len(found) == 1, (starts, [b["text"] for b in buttons(markup)])
    return str(found[0])


async def press(bot: Harness, chat_id: int, message_id: int, data: str, user: int) -> Call:
    """Press a button; return the bot's answer to the callback query."""
    before = len(bot.fake.calls_of("answerCallbackQuery"))
    bot.fake.push_update(bot.fake.callback_update(chat_id, message_id, data, from_user=user))
    answers = await bot.fake.wait_calls("answerCallbackQuery", before + 1)
    return answers[before]


async def press_and_edit(
    bot: Harness, chat_id: int, message_id: int, data: str, user: int
) -> tuple[Call, str, dict[str, Any] | None]:
    """Press a button that edits its message; return the answer, new text and markup."""
    edits = len(bot.fake.calls_of("editMessageText"))
    answer = await press(bot, chat_id, message_id, data, user)
    await bot.fake.wait_calls("editMessageText", edits + 1)
    stored = bot.fake.message(chat_id, message_id)
    return answer, stored.html or "", stored.reply_markup


async def open_settings(bot: Harness, chat_id: int, **kwargs: Any) -> tuple[int, Call]:
    sent = (await bot.say(chat_id, "/settings", **kwargs))[-1]
    return sent.result["message_id"], sent


async def test_settings_buttons_change_each_setting_in_place(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        message_id, sent = await open_settings(bot, ALICE)
        text, markup = sent.params["text"], sent.params["reply_markup"]
        assert "<b>Settings</b>" in text and "Digest: off" in text and "Time zone: UTC" in text
        assert [b["text"].split(":")[0] for b in buttons(markup)] == [
            "🕗 Digest",
            "🌐 Time zone",
            "🌙 Quiet hours",
            "🗣 Language",
            "📰 Format",
            "🔗 Link previews",
            "🖼 Pictures",
        ]
        # digest: open its choices, choose twice a day
        _, text, markup = await press_and_edit(bot, ALICE, message_id, data_of(markup, "🕗"), ALICE)
        assert "<b>Digest</b>" in text and "Now: off" in text
        answer, text, markup = await press_and_edit(
            bot, ALICE, message_id, data_of(markup, "08:00 + 18:00"), ALICE
        )
        assert answer.params.get("text") == "Saved."
        assert "Digest: 08:00, 18:00" in text and "Last digest: none yet" in text
        # time zone: the region of the current zone, another region, then a zone
        _, text, markup = await press_and_edit(bot, ALICE, message_id, data_of(markup, "🌐"), ALICE)
        assert any(b["text"].startswith("La Paz (UTC−4)") for b in buttons(markup))
        _, text, markup = await press_and_edit(
            bot, ALICE, message_id, data_of(markup, "Europe"), ALICE
        )
        assert "zone of Europe" in text
        _, text, markup = await press_and_edit(
            bot, ALICE, message_id, data_of(markup, "Madrid"), ALICE
        )
        assert "Time zone: Europe/Madrid (UTC+" in text
        # quiet hours, format and previews
        for opener, choice, shown in [
            ("🌙", "22:00–07:00", "Quiet hours: 22:00–07:00 (not used while digests are on)"),
            ("📰", "compact", "Format: compact"),
            ("🔗", "off", "Link previews: off"),
        ]:
            _, text, markup = await press_and_edit(
                bot, ALICE, message_id, data_of(markup, opener), ALICE
            )
            _, text, markup = await press_and_edit(
                bot, ALICE, message_id, data_of(markup, choice), ALICE
            )
            assert shown in text, text
        # back from a choice without choosing
        _, text, markup = await press_and_edit(bot, ALICE, message_id, data_of(markup, "🕗"), ALICE)
        assert "✓ 08:00 + 18:00" in [b["text"] for b in buttons(markup)]
        _, text, markup = await press_and_edit(
            bot, ALICE, message_id, data_of(markup, "« All settings"), ALICE
        )
        assert "<b>Settings</b>" in text
        # language: the view itself turns Spanish
        _, text, markup = await press_and_edit(bot, ALICE, message_id, data_of(markup, "🗣"), ALICE)
        answer, text, markup = await press_and_edit(
            bot, ALICE, message_id, data_of(markup, "Español"), ALICE
        )
        assert answer.params.get("text") == "Guardado."
        assert "<b>Ajustes</b>" in text and "Resumen: 08:00, 18:00" in text
        assert "Formato: compacto" in text and "Vistas previas de enlaces: no" in text
        stored = await settings_service_of(bot).get(ALICE)
        assert (stored.language, stored.timezone, stored.previews) == ("es", "Europe/Madrid", False)
        every = [
            b["callback_data"]
            for c in fake_tg.calls_of("editMessageText")
            for b in buttons(c.params.get("reply_markup"))
        ]
        assert every and all(len(d.encode()) <= 64 for d in every)


def settings_service_of(bot: Harness) -> Any:
    """The preferences service the handlers use, the running bot's own."""
    return bot.services.preferences


async def test_every_command_and_its_errors(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:

        async def said(text: str) -> str:
            return str((await bot.say(ALICE, text))[-1].params["text"])

        assert "Digests at 08:00, 18:00 (UTC)" in await said("/digest 18:00,08:00")
        assert "Digest at 07:30 (UTC)" in await said("/digest 7:30")
        refused = await said("/digest 25:00")
        assert "“25:00” is not a time of day" in refused and "<code>/digest off</code>" in refused
        assert "At most four" in await said("/digest 1,2,3,4,5")
        assert "Digest off" in await said("/digest off")
        alone = (await bot.say(ALICE, "/digest"))[-1]
        assert "Now: off" in alone.params["text"] and buttons(alone.params["reply_markup"])

        assert "Time zone: America/La_Paz (UTC−4)" in await said("/timezone America/La_Paz")
        assert "Time zone: UTC-04:00" in await said("/timezone -4")
        assert "Time zone: UTC." in await said("/timezone utc")
        assert "I don't know the time zone “Mars/Olympus”" in await said("/timezone Mars/Olympus")
        await said("/timezone La Paz")
        zones = (await bot.say(ALICE, "/timezone"))[-1]
        labels = [b["text"] for b in buttons(zones.params["reply_markup"])]
        assert "✓ La Paz (UTC−4)" in labels and "Santiago" in " ".join(labels)
        assert {"Europe", "Africa", "Asia", "Pacific", "UTC"} <= set(labels)

        assert "Quiet hours 22:00–07:00 (America/La_Paz)" in await said("/quiet 22:00-07:00")
        assert "start and end at different times" in await said("/quiet 07:00-07:00")
        assert "Quiet hours off" in await said("/quiet off")
        assert "Format: compact" in await said("/format compact")
        assert "Choose full or compact" in await said("/format huge")
        assert "Link previews: off" in await said("/previews off")
        assert "Choose on or off" in await said("/previews maybe")
        assert "Choose en (English) or es (Spanish)" in await said("/language fr")
        assert "✅ Idioma: Español." in await said("/language es")
        assert "Elige on (sí) u off (no)" in await said("/previews quizás")
        assert "Resumen a las 08:00 (America/La_Paz)" in await said("/digest 08:00")
        assert "Horas de silencio 23:00–06:00" in await said("/quiet 23:00-06:00")
        assert "«25» no es una hora del día" in await said("/digest 25")
        assert "✅ Language: English." in await said("/language en")


async def test_settings_survive_a_restart(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    db = tmp_path / "db.sqlite3"
    async with running_bot(fake_tg, feed_server, db, items=BASE) as bot:
        for command in (
            "/digest 08:00",
            "/timezone America/Santiago",
            "/quiet 22:00-07:00",
            "/format compact",
            "/previews off",
            "/language es",
        ):
            await bot.say(ALICE, command)
        when = bot.services.chats._clock()  # the moment the digest "went out"
        await settings_service_of(bot).mark_digest_sent(ALICE, when)
    async with running_bot(fake_tg, feed_server, db, items=BASE) as bot:
        _, sent = await open_settings(bot, ALICE)
        text = sent.params["text"]
        assert "<b>Ajustes</b>" in text
        for shown in (
            "Resumen: 08:00",
            "Zona horaria: America/Santiago (UTC−",
            "Horas de silencio: 22:00–07:00",
            "Formato: compacto",
            "Vistas previas de enlaces: no",
            "Último resumen: ",
        ):
            assert shown in text, (shown, text)
        assert "ninguno todavía" not in text


async def test_a_spanish_speaking_user_reads_spanish_from_the_start(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    fake_tg.add_user(ROSA, "Rosa", language_code="es-419")
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        _, sent = await open_settings(bot, ROSA)
        assert "<b>Ajustes</b>" in sent.params["text"] and "Resumen: no" in sent.params["text"]
        assert "Idioma: Español" in sent.params["text"]
        changed = (await bot.say(ROSA, "/format compact"))[-1].params["text"]
        assert "✅ Formato: compacto." in changed
        stored = await settings_service_of(bot).get(ROSA)
        assert stored.language == "es", "her first change stores her language too"


async def test_in_groups_only_admins_change_settings(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    fake_tg.add_chat(GROUP, "group", title="Readers")
    fake_tg.set_admins(GROUP, [ADMIN])
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        refused = await bot.say(GROUP, "/digest 08:00", from_user=MEMBER)
        assert "Only this chat's admins" in refused[-1].params["text"]
        assert (await settings_service_of(bot).get(GROUP)).digest_times == ()
        shown = await bot.say(GROUP, "/digest", from_user=MEMBER)  # looking is for everyone
        assert "Now: off" in shown[-1].params["text"]
        ok = await bot.say(GROUP, "/digest@headline_test_bot 08:00", from_user=ADMIN)
        assert "Digest at 08:00" in ok[-1].params["text"]
        anon = await bot.say(GROUP, "/quiet 22:00-07:00", sender_chat=GROUP)
        assert "Quiet hours 22:00–07:00" in anon[-1].params["text"]
        message_id, sent = await open_settings(bot, GROUP, from_user=MEMBER)
        markup = sent.params["reply_markup"]
        # a member may open a setting's choices but not choose one
        _, _, choices = await press_and_edit(bot, GROUP, message_id, data_of(markup, "📰"), MEMBER)
        alert = await press(bot, GROUP, message_id, data_of(choices, "compact"), MEMBER)
        assert alert.params.get("show_alert") is True
        assert "Only this chat's admins" in alert.params["text"]
        assert (await settings_service_of(bot).get(GROUP)).format == "full"
        answer, text, _ = await press_and_edit(
            bot, GROUP, message_id, data_of(choices, "compact"), ADMIN
        )
        assert answer.params.get("text") == "Saved." and "Format: compact" in text


async def test_channel_posts_change_a_channels_settings(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    fake_tg.add_chat(CHANNEL, "channel", title="News Channel", username="newschan")
    fake_tg.set_admins(CHANNEL, [OWNER])
    fake_tg.set_bot_admin(CHANNEL, True)
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        posted = await bot.say(CHANNEL, "/digest 09:00")
        assert "Digest at 09:00" in posted[-1].params["text"]
        other = len(bot.texts(CHANNEL))
        fake_tg.push_update(fake_tg.channel_post_update(CHANNEL, "/digest@other_bot 10:00"))
        await bot.quiet()
        assert len(bot.texts(CHANNEL)) == other, "a command for another bot is not ours"
        message_id, sent = await open_settings(bot, CHANNEL)
        markup = sent.params["reply_markup"]
        _, _, choices = await press_and_edit(
            bot, CHANNEL, message_id, data_of(markup, "🔗"), READER
        )
        # anyone who reads the channel sees its buttons: only its admins may choose
        alert = await press(bot, CHANNEL, message_id, data_of(choices, "off"), READER)
        assert alert.params.get("show_alert") is True
        _, text, _ = await press_and_edit(bot, CHANNEL, message_id, data_of(choices, "off"), OWNER)
        assert "Link previews: off" in text
        stored = await settings_service_of(bot).get(CHANNEL)
        assert stored.previews is False and [t.hour for t in stored.digest_times] == [9]
