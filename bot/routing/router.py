"""The routing pass: match stored headlines to the chats that follow them, queue the pushes.

Headlines are stored first (bot/feeds/poller.py) and routed after, a pass at a time, so a
crash between the two loses nothing: the next poll routes what is left.
"""

from __future__ import annotations

import asyncio
import time
from array import array
from bisect import bisect_right
from collections.abc import Awaitable, Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from heapq import heapify, heappop, heappush

from bot.routing.index import Route, TopicIndex
from bot.text.query import headline_terms
from storage import Storage
from storage.models import ChatPush, Headline

ROUTE_PASS = 1_000_000  # pushes matched before they are queued (8 bytes each)
ROUTE_CHUNK = 25_000  # pushes queued per transaction (whole chats)
ROUTE_PAUSE_AFTER = 0.02  # a chunk that held the database longer is followed by a pause
ROUTE_HEADLINES = 500  # unrouted headlines read at a time

# When chats' pushes routed at a time may go: chat id -> epoch seconds.
ReleaseTimes = Callable[[Collection[int], float], Awaitable[dict[int, float]]]


@dataclass(frozen=True, slots=True)
class RoutedPass:
    """The pushes of a routing pass, kept compact: per headline and outcome, the sorted ids of
    the chats it goes to (8 bytes a push)."""

    ids: list[int]  # the headlines matched, in order
    groups: list[tuple[int, Route, array[int]]]  # (headline id, route, sorted chat ids)

    @property
    def pushes(self) -> int:
        """How many (chat, headline) pushes the pass holds."""
        return sum(len(chats) for _, _, chats in self.groups)

    def chunks(self, size: int) -> Iterator[list[ChatPush]]:
        """One ChatPush per chat and thread, in chat order, about `size` pushes at a time;
        a chat's pushes always come in one chunk.

        The chunks are ranges of chat ids cut at quantiles of a sample of the pushes (every
        size/16th push of the pass, counted across its groups), so no list of the pass's
        chats is ever built. A chunk visits only the groups that reach into it (a heap of
        each group's next chat), in headline order, so a pass of many small groups costs
        time in proportion to its pushes, not to its groups times its chunks.
        """
        step = max(1, size // 16)
        sample: list[int] = []
        offset = 0  # where the next sampled push falls in the next group
        for _, _, chats in self.groups:
            sample.extend(chats[offset::step])
            offset = (offset - len(chats)) % step
        sample.sort()
        per_chunk = max(1, size // step)
        groups = self.groups
        pos = [0] * len(groups)  # each group's first chat not yet in a chunk
        ahead = [(chats[0], g) for g, (_, _, chats) in enumerate(groups) if chats]
        heapify(ahead)
        for hi in [*sample[per_chunk - 1 :: per_chunk], None]:  # the chunk: chats up to hi
            reached: list[int] = []
            while ahead and (hi is None or ahead[0][0] <= hi):
                reached.append(heappop(ahead)[1])
            reached.sort()  # headline order, as the groups are
            per_chat: dict[int, dict[int | None, list[tuple[int, tuple[str, ...]]]]] = {}
            for g in reached:
                hid, route, chats = groups[g]
                start = pos[g]
                end = len(chats) if hi is None else bisect_right(chats, hi, start)
                pos[g] = end
                if end < len(chats):
                    heappush(ahead, (chats[end], g))
                item = (hid, route.topics)
                for chat_id in chats[start:end]:
                    threads = per_chat.get(chat_id)
                    if threads is None:
                        threads = per_chat[chat_id] = {}
                    threads.setdefault(route.thread_id, []).append(item)
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
        """Match headlines (in order) until `limit` pushes are found; the first is always
        taken. The cost grows with the headlines' text and their matches, not with the
        chats. Other tasks (replies, delivery) get a turn after every headline.
        """
        ids: list[int] = []
        groups: list[tuple[int, Route, array[int]]] = []
        found = 0  # pushes so far
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
            routes = self.index.route(terms, before=earlier.get(headline.id, ()))
            by_route: dict[Route, list[int]] = {}
            for chat_id, route in routes.items():
                same = by_route.get(route)
                if same is None:
                    by_route[route] = [chat_id]
                else:
                    same.append(chat_id)
            groups.extend(
                (headline.id, route, array("q", sorted(chat_ids)))
                for route, chat_ids in by_route.items()
            )
            found += len(routes)
            ids.append(headline.id)
            await asyncio.sleep(0)
        return RoutedPass(ids, groups)
