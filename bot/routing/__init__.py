"""Pure topic matching: route headlines to the chats whose topics they match.

One module per part: index (:class:`TopicIndex`, routing a headline's words and stems to
the chats that follow it, with the semantics of :func:`bot.text.query.matches`), suggestions
(topics for /start and /topic, with the stop words in stop_words.txt) and tokens (the older
word-sequence topics, kept for the code that still folds and tokenises with them).
"""

from bot.routing.index import Route, TopicIndex, topic_of_key
from bot.routing.suggestions import suggest_topics
from bot.routing.tokens import (
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
from bot.text.query import HeadlineTerms, headline_terms

__all__ = [
    "FIELD_BOUNDARY",
    "MAX_TOPIC_CHARS",
    "HeadlineTerms",
    "Route",
    "TopicIndex",
    "fold",
    "headline_terms",
    "headline_tokens",
    "is_mute",
    "normalize_topic",
    "parse_topic_list",
    "suggest_topics",
    "tokenize",
    "topic_matches",
    "topic_of_key",
    "topic_phrase",
]
