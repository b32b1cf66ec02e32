"""The routing pass: match stored headlines to the chats that follow them, queue the pushes.

Headlines are stored first (bot/feeds/poller.py) and routed after, a pass at a time, so a
crash between the two loses nothing: the next poll routes what is left.
"""

from __future__ import annotations

import asyncio
import time
from array import array
from collections.abc import Awaitable, Callable, Collection, Iterator, Sequence
from dataclasses import dataclass

from bot.routing.index import Plan, Route, TopicIndex
from bot.text.query import headline_terms
from storage import Storage
from storage.models import ChatPush, Headline

# pushes a pass's headlines reach, at most, before they are queued: a pass holds no push,
# but each chat gets one chunk of headlines per pass (storage/sqlite/outbox.py)
ROUTE_PASS = 5_000_000
ROUTE_CHUNK = 25_000  # pushes queued per transaction (whole chats)
ROUTE_PAUSE_AFTER = 0.02  # a chunk that held the database longer is followed by a pause
ROUTE_HEADLINES = 500  # unrouted headlines read at a time

# When chats' pushes routed at a time may go: chat id -> epoch seconds.
ReleaseTimes = Callable[[Collection[int], float], Awaitable[dict[int, float]]]


@dataclass(frozen=True, slots=True)
class RoutedPass:
    """A routing pass: its headlines and what each matched (a Plan), not its pushes.

    The chats a headline reaches are listed a range of chat ids at a time (:meth:`chunks`),
    so a pass holds a few kilobytes per headline however many chats they reach, instead of
    eight bytes and more per push.
    """

    ids: list[int]  # the headlines matched, in order
    plans: list[tuple[int, Plan]]  # (headline id, what it matched), in headline order
    index: TopicIndex

    @property
    def pushes(self) -> int:
        """How many (chat, headline) pushes the pass makes (each listed to count it)."""
        return sum(len(self.index.routes_in(plan)) for _, plan in self.plans)

    @property
    def groups(self) -> list[tuple[int, Route, array[int]]]:
        """Every push, per headline and route: (headline id, route, sorted chat ids)."""
        found: list[tuple[int, Route, array[int]]] = []
        for hid, plan in self.plans:
            by_route: dict[Route, list[int]] = {}
            for chat_id, route in self.index.routes_in(plan).items():
                by_route.setdefault(route, []).append(chat_id)
            found.extend((hid, route, array("q", sorted(c))) for route, c in by_route.items())
        return found

    def chunks(self, size: int) -> Iterator[list[ChatPush]]:
        """One ChatPush per chat and thread, in chat order, about `size` pushes at a time;
        a chat's pushes always come in one chunk.

        The chunks are ranges of chat ids cut at quantiles of a sample of the subscribers the
        headlines reach (every size/16th, counted across them), so no list of the pass's
        chats is ever built; each range lists its chats headline by headline, in headline
        order, from the plans.
        """
        step = max(1, size // 16)
        sample: list[int] = []
        offset = 0  # where the next sampled subscriber falls in the next array
        for _, plan in self.plans:
            for chats in self.index.reached(plan):
                sample.extend(chats[offset::step])
                offset = (offset - len(chats)) % step
        sample.sort()
        per_chunk = max(1, size // step)
        after: int | None = None
        for upto in [*sample[per_chunk - 1 :: per_chunk], None]:  # the chunk: (after, upto]
            if upto is not None and after is not None and upto <= after:
                continue
            per_chat: dict[int, dict[int | None, list[tuple[int, tuple[str, ...]]]]] = {}
            for hid, plan in self.plans:
                for chat_id, route in self.index.routes_in(plan, after, upto).items():
                    threads = per_chat.get(chat_id)
                    if threads is None:
                        threads = per_chat[chat_id] = {}
                    threads.setdefault(route.thread_id, []).append((hid, route.topics))
            after = upto
            if per_chat:
                yield [
                    ChatPush(chat_id, thread_id, tuple(items))
                    for chat_id in sorted(per_chat)
                    for thread_id, items in per_chat[chat_id].items()
                ]


class Router:
    """Routes every stored headline once, in headline order, into each chat's pending push."""

    def __init__(
        self,
        storage: Storage,
        index: TopicIndex,
        *,
        release_times: ReleaseTimes | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = storage.store
        self.headlines = storage.headlines
        self.outbox = storage.outbox
        self.index = index
        # when chats' pushes routed now may go (PreferencesService.release_times); None:
        # every push may go at once
        self.release_times = release_times
        self.clock = clock
        self._lock = asyncio.Lock()

    async def route_pending(self) -> int:
        """Queue the pushes of every headline not routed yet; return the pushes queued.

        Headlines are stored first and routed after, a pass at a time: a pass matches
        headlines (oldest first) until it holds ROUTE_PASS pushes, then adds each chat's
        headlines to the message it is owed (one outbox row per chat and thread), in short
        transactions of about ROUTE_CHUNK pushes, and finally marks its headlines routed. A poll
        that matches every chat does not hold the database for minutes: after a chunk that
        held it for a while, routing pauses as long, so replies and deliveries get the
        database at least half of the time. A pass a crash cut short is repeated by the next poll;
        each chat's `pushed_upto` mark keeps it from queuing a headline twice.
        """
        queued = 0
        async with self._lock:
            while headlines := await self.headlines.unrouted(ROUTE_HEADLINES):
                routed = await self.route_pass(headlines, ROUTE_PASS)
                batch = int(self.clock() * 1000)
                for pushes in routed.chunks(ROUTE_CHUNK):
                    now = self.clock()
                    # when each chat's new row may go: its digest time, the end of its
                    # quiet hours, or now (read before the transaction: one read a chunk)
                    release = (
                        None
                        if self.release_times is None
                        else await self.release_times({p.chat_id for p in pushes}, now)
                    )
                    async with self.store.transaction() as tx:
                        began = time.monotonic()
                        queued += await self.outbox.enqueue_pushes(
                            tx, pushes, batch=batch, now=now, release=release
                        )
                    held = time.monotonic() - began
                    if held > ROUTE_PAUSE_AFTER:
                        await asyncio.sleep(held)
                async with self.store.transaction() as tx:
                    await self.headlines.mark_routed(tx, routed.ids)
        return queued

    async def route_pass(self, headlines: Sequence[Headline], limit: int) -> RoutedPass:
        """Match headlines (in order) until they reach about `limit` pushes (a chat counted
        once per matching topic); the first is always taken. The cost grows with the
        headlines' text and the topics they match, not with the chats. Other tasks
        (replies, delivery) get a turn after every headline.
        """
        ids: list[int] = []
        plans: list[tuple[int, Plan]] = []
        found = 0  # pushes so far, at most
        # each headline is matched in the language it was indexed in, so routing and
        # /search read it alike
        languages = await self.headlines.languages_of([h.id for h in headlines])
        # a story another feed brought first goes only where its own feed adds a chat
        earlier = await self.headlines.earlier_feeds([h.id for h in headlines])
        for headline in headlines:
            if ids and found >= limit:
                break
            terms = headline_terms(
                headline.title,
                headline.summary,
                headline.categories,
                languages.get(headline.id, "en"),
                feeds=(headline.feed_id,),
            )
            plan = self.index.plan(terms, before=earlier.get(headline.id, ()))
            plans.append((headline.id, plan))
            found += plan.pushes
            ids.append(headline.id)
            await asyncio.sleep(0)
        return RoutedPass(ids, plans, self.index)
