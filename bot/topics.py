"""How topics are shown to people (pure; the topics themselves are bot/chats.py's)."""

from __future__ import annotations


def display_topic(topic: str) -> str:
    """How a stored topic is shown: mutes as 'not: x'."""
    return f"not: {topic[1:]}" if topic.startswith("-") else topic
