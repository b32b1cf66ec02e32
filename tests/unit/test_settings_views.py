"""The /settings views: every button fits Telegram's limits and carries a value that parses."""

from __future__ import annotations

from datetime import time

import pytest

from bot.chats.preferences import Setting, parse_change
from bot.text.i18n import LANGUAGES, translator
from bot.text.schedule import COMMON_ZONES, parse_timezone
from handlers.settings import DESCRIPTIONS, PREFIX, choices_view, settings_view
from storage.sqlite.preferences import ChatPreferences, MessageFormat

NOW = 1_796_212_800.0  # 2026-12-02 12:00 UTC
BUSY = ChatPreferences(
    chat_id=1,
    digest_times=(time(8), time(18)),
    timezone="America/Argentina/Buenos_Aires",
    quiet_start=time(22),
    quiet_end=time(7),
    format=MessageFormat.COMPACT,
    previews=False,
    last_digest_at=NOW - 3600,
)


def _views(language: str) -> list[tuple[str, object]]:
    t = translator(language)
    views = [settings_view(t, ChatPreferences(1), NOW), settings_view(t, BUSY, NOW)]
    for setting in Setting:
        views.append(choices_view(t, BUSY, setting, NOW))
    for region in COMMON_ZONES:
        views.append(choices_view(t, BUSY, Setting.TIMEZONE, NOW, region=region))
    return views  # type: ignore[return-value]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_button_fits_and_every_choice_parses(language: str) -> None:
    for text, markup in _views(language):
        assert text and len(text) < 4096
        for row in markup.inline_keyboard:  # type: ignore[attr-defined]
            assert len(row) <= 8
            for button in row:
                data = button.callback_data
                assert len(data.encode()) <= 64 and data.split(":", 1)[0] == PREFIX
                assert 0 < len(button.text) <= 64
                name, has_value, value = data[len(PREFIX) + 1 :].partition("=")
                if has_value:
                    parse_change(name, value)  # raises when a button carries a bad value


def test_every_common_zone_is_known() -> None:
    for zones in COMMON_ZONES.values():
        for zone in zones:
            assert parse_timezone(zone) == zone


def test_the_spanish_views_are_spanish() -> None:
    text, _ = settings_view(translator("es"), BUSY, NOW)
    assert "<b>Ajustes</b>" in text and "Formato: compacto" in text
    assert "Último resumen: 2 dic 2026, 8:00" in text  # 11:00 UTC in Buenos Aires
    assert "(sin efecto mientras haya resúmenes)" in text


def test_command_descriptions_exist_in_both_languages() -> None:
    names = [name for name, _ in DESCRIPTIONS]
    assert names == ["settings", *(s.value for s in Setting)]
    for _, description in DESCRIPTIONS:
        spanish = translator("es")._(description)
        assert spanish != description and 3 <= len(spanish) <= 256
