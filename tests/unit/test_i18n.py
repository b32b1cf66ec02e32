"""Translations: every message id has its Spanish text; plurals and dates by Babel."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.text.i18n import (
    LANGUAGES,
    catalog_text,
    format_datetime,
    language_for_user,
    load_catalog,
    translator,
)

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
PLACEHOLDER = re.compile(r"\{(\w*)\}")
TAG = re.compile(r"</?\w+>")

Id = str | tuple[str, ...]


def source_ids() -> dict[Id, str]:
    """Every message id marked in bot/ and handlers/, with the file it was found in."""
    found: dict[Id, str] = {}
    for folder in ("bot", "handlers"):
        for filename, _line, message, _comments, _context in extract_from_dir(
            ROOT / folder, keywords=KEYWORDS, comment_tags=()
        ):
            key = message if isinstance(message, str) else tuple(message)
            if key:
                found.setdefault(key, f"{folder}/{filename}")
    return found


def _spanish() -> Catalog:
    catalog = load_catalog("es")
    assert catalog is not None, "bot/locale/es/LC_MESSAGES/messages.po is missing"
    return catalog


def _forms(message: Message) -> list[str]:
    strings = message.string
    return [strings] if isinstance(strings, str) else list(strings)


def test_the_source_marks_messages() -> None:
    assert "Saved." in source_ids(), "the extractor sees the t._() calls"


def test_every_message_id_has_a_spanish_translation() -> None:
    catalog = _spanish()
    missing = []
    for key, where in source_ids().items():
        message = catalog.get(key if isinstance(key, str) else key[0])
        if message is None or message.fuzzy or not all(_forms(message)):
            missing.append(f"{where}: {key!r}")
    assert not missing, "no Spanish translation for:\n" + "\n".join(missing)


def test_spanish_plurals_have_every_form() -> None:
    catalog = _spanish()
    for message in catalog:
        if message.pluralizable:
            assert len(_forms(message)) == catalog.num_plurals, message.id


def test_translations_keep_placeholders_and_tags() -> None:
    for message in _spanish():
        if not message.id:
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        wanted_fields = set(PLACEHOLDER.findall(ids[-1]))
        wanted_tags = sorted(TAG.findall(ids[-1]))
        for text in _forms(message):
            assert set(PLACEHOLDER.findall(text)) == wanted_fields, (message.id, text)
            assert sorted(TAG.findall(text)) == wanted_tags, (message.id, text)


def test_the_template_holds_every_message_id() -> None:
    """bot/locale/messages.pot is regenerated when texts change (see the README)."""
    pot = read_po(io.StringIO((ROOT / "bot/locale/messages.pot").read_text("utf-8")))
    absent = [
        f"{where}: {key!r}"
        for key, where in source_ids().items()
        if pot.get(key if isinstance(key, str) else key[0]) is None
    ]
    assert not absent, "missing from messages.pot (run pybabel extract):\n" + "\n".join(absent)


def test_no_message_writes_a_plural_as_s_in_brackets() -> None:
    for key in source_ids():
        for text in [key] if isinstance(key, str) else key:
            assert "(s)" not in text, f"use ngettext: {text!r}"


def test_catalogs_ship_inside_the_package() -> None:
    assert catalog_text("es") is not None
    assert catalog_text("xx") is None
    assert set(LANGUAGES) == {"en", "es"}


@pytest.mark.parametrize(
    ("code", "language"),
    [
        ("es", "es"),
        ("es-419", "es"),
        ("es-AR", "es"),
        ("ES_mx", "es"),
        ("en", "en"),
        ("en-GB", "en"),
        ("pt-br", "en"),
        ("", "en"),
        (None, "en"),
        ("esperanto", "en"),
    ],
)
def test_language_for_user(code: str | None, language: str) -> None:
    assert language_for_user(code) == language


def test_translators() -> None:
    es, en = translator("es"), translator("en")
    assert es._("Saved.") == "Guardado."
    assert es.gettext("Saved.") == "Guardado."
    assert en._("Saved.") == "Saved."
    assert translator("fr").language == "en"
    assert translator("es-419") is es
    assert es._("a text with no translation") == "a text with no translation"


def test_plurals_follow_each_languages_rules() -> None:
    one = "✅ Digest at {times} ({zone}): matching headlines are held and sent together then."
    many = "✅ Digests at {times} ({zone}): matching headlines are held and sent together then."
    en, es = translator("en"), translator("es")
    assert en.ngettext(one, many, 1).startswith("✅ Digest at")
    assert en.ngettext(one, many, 2).startswith("✅ Digests at")
    assert en.ngettext(one, many, 0).startswith("✅ Digests at")
    assert es.ngettext(one, many, 1).startswith("✅ Resumen a las")
    assert es.ngettext(one, many, 2).startswith("✅ Resúmenes a las")
    assert es.ngettext(one, many, 1_000_000).startswith("✅ Resúmenes a las")


def test_dates_in_the_chats_language_and_time_zone() -> None:
    noon_utc = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    assert format_datetime(noon_utc, "es", "America/La_Paz") == "2 dic 2026, 8:00"
    english = format_datetime(noon_utc.timestamp(), "en", "Europe/Madrid")
    assert english.replace("\u202f", " ") == "Dec 2, 2026, 1:00 PM"
    assert format_datetime(noon_utc, "es", "UTC-04:00") == "2 dic 2026, 8:00"
    assert translator("es").format_datetime(noon_utc, "UTC") == "2 dic 2026, 12:00"
    with pytest.raises(ValueError, match="aware"):
        format_datetime(datetime(2026, 12, 2, 12, 0), "en", "UTC")  # naive: refused
