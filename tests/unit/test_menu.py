"""The one table of commands agrees with the handlers and /help; small helpers of the CLI."""

from __future__ import annotations

import pytest
from telegram.ext import CommandHandler

from bot.__main__ import _parser, positive_int, prog_name
from bot.app import build_application
from bot.config import Settings
from bot.process.cli import search_heading, search_more_hint
from bot.text.i18n import translator
from handlers.common import BUTTON_TEXT_CHARS, button_label
from handlers.menu import MENU, menu_commands, menu_languages
from handlers.start import help_text


def _registered_commands() -> set[str]:
    app = build_application(
        Settings(
            bot_token="1:x",
            telegram_api_url="http://127.0.0.1:9",
            feed_urls=["bot/data/sample_digest.xml"],
            admin_ids=[1],
        )
    )
    names: set[str] = set()
    for group in app.handlers.values():
        for handler in group:
            if isinstance(handler, CommandHandler):
                names |= set(handler.commands)
    return names


def test_every_menu_command_has_a_handler() -> None:
    registered = _registered_commands()
    missing = [entry.name for entry in MENU if entry.name not in registered]
    assert not missing, missing


@pytest.mark.parametrize("language", ["en", "es"])
def test_help_names_every_menu_command_in_its_place(language: str) -> None:
    t = translator(language)
    everyone = help_text(t, private=False, admin=False)
    admins = help_text(t, private=True, admin=True)
    for entry in MENU:
        shown = f"/{entry.name}"
        if entry.admin:
            assert shown in admins and shown not in everyone, entry.name
        else:
            assert shown in everyone, entry.name


def test_menus_fit_telegrams_limits_in_each_language() -> None:
    for _code, t in menu_languages():
        for command in menu_commands(t, admin=True):
            assert 1 <= len(command.command) <= 32 and command.command.islower()
            assert 1 <= len(command.description) <= 256
    assert [code for code, _ in menu_languages()] == [None, "es"]
    user = {c.command for c in menu_commands(translator("en"))}
    assert {"feeds", "broadcast", "stats"}.isdisjoint(user)
    assert {"settings", "export", "forget", "digest"} <= user


def test_button_label_cuts_with_an_ellipsis() -> None:
    assert button_label("short") == "short"
    assert button_label("a  b\n c") == "a b c"
    long = button_label("✖ " + "word " * 40)
    assert len(long) <= BUTTON_TEXT_CHARS and long.endswith("…")
    assert button_label("x" * 64) == "x" * 64
    assert button_label("x" * 65) == "x" * 63 + "…"


def test_the_program_names_itself_as_invoked() -> None:
    assert prog_name("/opt/venv/bin/headline-bot") == "headline-bot"
    assert prog_name("/work/bot/__main__.py") == "python -m bot"
    assert "usage: headline-bot" in _parser("headline-bot").format_usage()


def test_search_takes_a_positive_count_only() -> None:
    assert positive_int("3") == 3
    for bad in ("0", "-2", "x", "1.5"):
        with pytest.raises(Exception, match=r"must be 1 or more|not a whole number"):
            positive_int(bad)
    with pytest.raises(SystemExit):
        _parser().parse_args(["search", "-n", "0", "lithium"])


def test_search_says_how_many_of_how_many_with_the_query_as_typed() -> None:
    assert search_heading('"south africa"', 10, 57) == (
        'Showing 10 of 57 results for: "south africa"'
    )
    assert search_heading("lithium", 1, 1) == "1 result for: lithium"
    assert search_heading("zzz", 0, 0) == "no results for: zzz"
    hint = search_more_hint('"south africa"', 10, 57, prog="headline-bot")
    assert hint == "To see 57: headline-bot search -n 57 '\"south africa\"'"
    assert search_more_hint("lithium", 5, 5) == ""
    assert search_more_hint("lithium", 100, 500) == "", "100 is the most `search -n` shows"
    assert search_more_hint("lithium", 10, 500) == "To see 100: python -m bot search -n 100 lithium"
