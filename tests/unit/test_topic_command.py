"""/topic's grammar (bot/chats/topics.py), mute text and old keys (bot/text/query.py), and the
page of a paged push that the push and its More button share (bot/formatting.py)."""

from __future__ import annotations

import pytest

from bot.chats.topics import TopicCommand, Verb, parse_topic_command
from bot.formatting import parse_more_data, render_push, render_push_page
from bot.text.query import is_mute_text, upgrade_key
from storage.models import Headline


@pytest.mark.parametrize(
    ("args", "private", "expected"),
    [
        ("", False, TopicCommand(Verb.LIST, "", "")),
        ("list", False, TopicCommand(Verb.LIST, "", "list")),
        ("ADD bolivia, peru", False, TopicCommand(Verb.ADD, "bolivia, peru", "ADD bolivia, peru")),
        ("rm bolivia", False, TopicCommand(Verb.REMOVE, "bolivia", "rm bolivia")),
        ("delete x", False, TopicCommand(Verb.REMOVE, "x", "delete x")),
        ("try lithium", False, TopicCommand(Verb.TRY, "lithium", "try lithium")),
        ("clear", False, TopicCommand(Verb.CLEAR, "", "clear")),
        ("bolivia", False, TopicCommand(Verb.UNKNOWN, "", "bolivia")),
        ("@news add x", True, TopicCommand(Verb.ADD, "x", "add x", "@news")),
        ("@news", True, TopicCommand(Verb.LIST, "", "", "@news")),
        ("@news add x", False, TopicCommand(Verb.UNKNOWN, "add x", "@news add x")),
    ],
)
def test_parse_topic_command(args: str, private: bool, expected: TopicCommand) -> None:
    assert parse_topic_command(args, private=private) == expected


@pytest.mark.parametrize(
    ("text", "mute"),
    [("-israel", True), ("—israel", True), ("\u2212x", True), ("israel", False), ("", False)],
)
def test_is_mute_text(text: str, mute: bool) -> None:
    assert is_mute_text(text) is mute


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("bolivia s", "bolivia"),
        ("at t", "att"),
        ("-israel", "-israel"),
        ("south africa", "south africa"),
        ("a", "a"),  # refused today: kept as it was
    ],
)
def test_upgrade_key(old: str, new: str) -> None:
    assert upgrade_key(old) == new


def _headline(i: int) -> Headline:
    return Headline(i, 1, f"Story {i}", None, "", (), 1_700_000_000.0 + i, 0.0, False)


def test_a_push_page_is_what_render_push_pages_with_its_buttons() -> None:
    items = [(_headline(i), ("x",)) for i in range(14)]
    text, buttons = render_push_page(items, 7, 1, more=2)
    assert [text] == render_push(items, more=2, page=1, paged=True)
    assert [parse_more_data(data) for _, data in buttons] == [(7, 0)]
    first, buttons = render_push_page(items, 7, -3)  # clamped to the first page
    assert [first] == render_push(items, paged=True)
    assert [parse_more_data(data) for _, data in buttons] == [(7, 1)]
