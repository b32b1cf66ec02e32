"""Routing headlines to the chats whose topics they match: pure.

index (:class:`TopicIndex`: a headline's words and stems to the chats that follow it, with
the semantics of :func:`bot.text.query.matches`; :func:`topic_of_key` reads a stored topic
back) and suggestions (topics for /start and /topic, with the stop words in stop_words.txt).
"""

from bot.routing.index import Route, TopicIndex, topic_of_key
from bot.routing.suggestions import suggest_topics

__all__ = ["Route", "TopicIndex", "suggest_topics", "topic_of_key"]
