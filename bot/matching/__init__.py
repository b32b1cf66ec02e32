"""Pure topic matching: fold and tokenise text, normalise topics, route headlines to chats.

One module per part: tokens (folding, tokenising, topics normalised to their words),
index (:class:`TopicIndex`, routing a headline to the chats that follow it) and
suggestions (topics for /start, with the stop words in stop_words.txt).
"""

from bot.matching.index import Route, TopicIndex
from bot.matching.suggestions import suggest_topics
from bot.matching.tokens import (
    FIELD_BOUNDARY,
    MAX_TOPIC_CHARS,
    fold,
    headline_tokens,
    is_mute,
    normalize_topic,
    parse_topic_list,
    tokenize,
    topic_matches,
    topic_phrase,
)

__all__ = [
    "FIELD_BOUNDARY",
    "MAX_TOPIC_CHARS",
    "Route",
    "TopicIndex",
    "fold",
    "headline_tokens",
    "is_mute",
    "normalize_topic",
    "parse_topic_list",
    "suggest_topics",
    "tokenize",
    "topic_matches",
    "topic_phrase",
]
