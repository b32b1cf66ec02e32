"""Translations: gettext catalogs read with Babel, plural rules, dates in a chat's language.

English is the source language: a message id is the English text. The Spanish catalog is
bot/locale/es/LC_MESSAGES/messages.po, read (and compiled in memory) the first time Spanish
is asked for, so there is no compiled file to keep in step with it.

Mark a text for translation where it is used, `t._("Saved.")`, or where it is defined with
`N_("Saved.")` and translate it later with `t._(TEXT)`. Placeholders are `{name}`, filled
with str.format after translation, so a translation may move them.
"""

from __future__ import annotations

import gettext
import io
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from importlib import resources

from babel import Locale
from babel.dates import format_date, format_time
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

from bot.text.marks import N_ as N_  # re-exported: mark and translate from one module
from bot.text.schedule import zone_of

SOURCE_LANGUAGE = "en"
LANGUAGES = ("en", "es")
LANGUAGE_NAMES = {"en": "English", "es": "Español"}  # each in its own language
DOMAIN = "messages"


def language_for_user(language_code: str | None) -> str:
    """The language for a Telegram user's language_code: any 'es' or 'es-*' gives Spanish."""
    code = (language_code or "").strip().lower().replace("_", "-")
    base = code.split("-", 1)[0]
    return base if base in LANGUAGES else SOURCE_LANGUAGE


def normalise_language(language: str | None) -> str:
    """A supported language code ('es', 'en'); anything else is the source language."""
    return language_for_user(language)


def catalog_text(language: str) -> str | None:
    """The .po file of a language as shipped in the package (None when there is none)."""
    entry = resources.files("bot").joinpath("locale", language, "LC_MESSAGES", f"{DOMAIN}.po")
    return entry.read_text(encoding="utf-8") if entry.is_file() else None


def load_catalog(language: str) -> Catalog | None:
    """The language's catalog, parsed with Babel (None for the source language)."""
    text = catalog_text(language)
    if text is None:
        return None
    return read_po(io.StringIO(text), locale=language, domain=DOMAIN)


@dataclass(frozen=True, slots=True)
class Translator:
    """The texts of one language."""

    language: str
    translations: gettext.NullTranslations

    def gettext(self, message: str) -> str:
        """The message in this language (the English id when it has no translation)."""
        return self.translations.gettext(message)

    def _(self, message: str) -> str:
        """Short for gettext."""
        return self.translations.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """The form of the message for n, by the language's plural rules."""
        return self.translations.ngettext(singular, plural, n)

    def format_datetime(self, when: datetime | float, tz: str | tzinfo) -> str:
        """A date and time in this language and the given time zone."""
        return format_datetime(when, self.language, tz)

    def format_number(self, number: float) -> str:
        """A number as this language writes it: '12,345' / '12.345'."""
        return format_decimal(number, locale=self.language)

    def format_date(self, when: datetime | float, tz: str | tzinfo) -> str:
        """A date alone, in this language and time zone: 'Dec 2, 2026' / '2 dic 2026'."""
        moment = when if isinstance(when, datetime) else datetime.fromtimestamp(when, UTC)
        return format_date(moment.astimezone(_zone(tz)).date(), "medium", locale=self.language)


@lru_cache(maxsize=len(LANGUAGES))
def _translator(language: str) -> Translator:
    catalog = load_catalog(language) if language != SOURCE_LANGUAGE else None
    if catalog is None:
        return Translator(language, gettext.NullTranslations())
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translator(language, gettext.GNUTranslations(buffer))


def translator(language: str | None) -> Translator:
    """The translator for a language; an unsupported one gets English."""
    return _translator(normalise_language(language))


def _zone(tz: str | tzinfo) -> tzinfo:
    if isinstance(tz, tzinfo):
        return tz
    return zone_of(tz)


def format_datetime(when: datetime | float, language: str | None, tz: str | tzinfo) -> str:
    """'Dec 2, 2026, 8:00 AM' / '2 dic 2026, 8:00': a medium date and a short time."""
    lang = normalise_language(language)
    moment = when if isinstance(when, datetime) else datetime.fromtimestamp(when, UTC)
    if moment.tzinfo is None:
        raise ValueError("format_datetime needs an aware datetime or epoch seconds")
    local = moment.astimezone(_zone(tz))
    locale = Locale.parse(lang)
    pattern = str(locale.datetime_formats["medium"])
    date_text = format_date(local.date(), "medium", locale=locale)
    time_text = format_time(local, "short", tzinfo=local.tzinfo, locale=locale)
    return pattern.replace("{1}", date_text).replace("{0}", time_text)
