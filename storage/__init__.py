"""SQLite storage: the connection, the schema and one repository per table family."""

from storage.broadcasts import BroadcastRepo
from storage.chats import ChatRepo, SubscriptionRepo
from storage.counters import CounterRepo
from storage.db import Database
from storage.feeds import FeedRepo
from storage.headlines import HeadlineRepo
from storage.migrate import SchemaTooNewError
from storage.outbox import OutboxRepo

__all__ = [
    "BroadcastRepo",
    "ChatRepo",
    "CounterRepo",
    "Database",
    "FeedRepo",
    "HeadlineRepo",
    "OutboxRepo",
    "SchemaTooNewError",
    "SubscriptionRepo",
]
