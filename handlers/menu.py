"""The one table of commands: what the command menu shows, in each language, for whom.

handlers/__init__.py and each module's register() attach the handlers; /help lists the same
commands (tests/unit/test_menu.py checks that the table, the handlers and /help agree).
"""

from __future__ import annotations

from dataclasses import dataclass

from telegram import BotCommand

from bot.text.i18n import LANGUAGES, N_, SOURCE_LANGUAGE, Translator, translator
from handlers.settings import DESCRIPTIONS as SETTINGS_DESCRIPTIONS


@dataclass(frozen=True, slots=True)
class MenuEntry:
    """A command of the menu: its name, its description (a message id) and who sees it."""

    name: str
    description: str
    admin: bool = False  # shown only in the bot admins' private chats


MENU: tuple[MenuEntry, ...] = (
    MenuEntry("latest", N_("The newest headlines: /latest 10 bolivia")),
    MenuEntry("topic", N_("Your topics: /topic add lithium, south africa")),
    MenuEntry("search", N_("Search the archive: /search lithium")),
    MenuEntry("sources", N_("Every feed, its handle and a button to follow it")),
    *(MenuEntry(name, text) for name, text in SETTINGS_DESCRIPTIONS),
    MenuEntry("template", N_("The shape of each post, with placeholders")),
    MenuEntry("export", N_("Everything I hold about this chat, as a file")),
    MenuEntry("forget", N_("Delete everything I hold about this chat")),
    MenuEntry("start", N_("Start or resume pushes")),
    MenuEntry("stop", N_("Pause pushes (topics are kept)")),
    MenuEntry("help", N_("Every command with an example")),
    MenuEntry("broadcast", N_("Announce to every subscriber"), admin=True),
    MenuEntry("stats", N_("How the bot is doing"), admin=True),
    MenuEntry("feeds", N_("The feeds: add, pause, remove, OPML"), admin=True),
)


def menu_commands(t: Translator, *, admin: bool = False) -> list[BotCommand]:
    """The command menu in t's language: everyone's commands, and with `admin` the admins'."""
    return [
        BotCommand(entry.name, t._(entry.description)) for entry in MENU if admin or not entry.admin
    ]


def menu_languages() -> list[tuple[str | None, Translator]]:
    """(language_code for setMyCommands, translator): None is the list for everyone else."""
    return [
        (None if language == SOURCE_LANGUAGE else language, translator(language))
        for language in LANGUAGES
    ]
