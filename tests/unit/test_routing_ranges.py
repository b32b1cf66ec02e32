"""Routing a range of chats at a time, and the index's compact list of each chat's topics.

A routing pass keeps what each headline matched (a Plan) and lists the chats a range of ids
at a time: every range together must give exactly what routing the whole headline gives,
whatever the ranges. The index keeps chats added in id order in flat arrays and chats
changed later in a dict: whatever the order of additions and removals, it must answer as a
plain dict of each chat's topics would.
"""

from __future__ import annotations

from array import array

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.routing import TopicIndex, topic_of_key
from bot.routing.router import RoutedPass
from bot.text.query import headline_terms

TOPICS = [
    "bolivia",
    "chile",
    "lithium",
    "lithium + chile",
    "bolivia -lithium",
    "-chile",
    "la paz",
    "mining",
    "peru + bolivia",
    '"bolivian"',
]
HEADLINES = [
    ("Bolivia and Chile sign a lithium deal", "Mining firms in La Paz welcome it"),
    ("Peru watches", "Bolivian miners strike in Bolivia"),
    ("Chile votes", "Lithium is not on the ballot"),
    ("Nothing here", "Weather"),
]

chats = st.lists(
    st.tuples(
        st.integers(min_value=-50, max_value=50).filter(bool),
        st.sampled_from(TOPICS),
        st.one_of(st.none(), st.integers(min_value=1, max_value=3)),
    ),
    max_size=120,
)


def _index(subscriptions: list[tuple[int, str, int | None]]) -> TopicIndex:
    index = TopicIndex()
    for chat_id, topic, thread_id in subscriptions:
        index.add(chat_id, topic, thread_id)
    return index


@settings(max_examples=150, deadline=None)
@given(chats, st.lists(st.integers(min_value=-60, max_value=60), max_size=6))
def test_ranges_together_route_as_the_whole(
    subscriptions: list[tuple[int, str, int | None]], cuts: list[int]
) -> None:
    index = _index(subscriptions)
    bounds = sorted(set(cuts))
    for title, summary in HEADLINES:
        terms = headline_terms(title, summary, (), "en")
        whole = index.route(terms)
        plan = index.plan(terms)
        pieces: dict[int, object] = {}
        after = None
        for upto in [*bounds, None]:
            part = index.routes_in(plan, after, upto)
            assert all((after is None or c > after) and (upto is None or c <= upto) for c in part)
            assert not pieces.keys() & part.keys()
            pieces.update(part)
            after = upto
        assert pieces == whole


@settings(max_examples=100, deadline=None)
@given(chats, st.integers(min_value=1, max_value=40))
def test_a_pass_in_chunks_holds_every_push_once(
    subscriptions: list[tuple[int, str, int | None]], size: int
) -> None:
    index = _index(subscriptions)
    plans = [
        (n, index.plan(headline_terms(title, summary, (), "en")))
        for n, (title, summary) in enumerate(HEADLINES, start=1)
    ]
    routed = RoutedPass([n for n, _ in plans], plans, index)
    expected = {
        (chat_id, route.thread_id, n, route.topics)
        for n, plan in plans
        for chat_id, route in index.routes_in(plan).items()
    }
    seen: set[int] = set()
    found = set()
    for chunk in routed.chunks(size):
        ids = [p.chat_id for p in chunk]
        assert ids == sorted(ids)
        assert not seen & set(ids), "a chat's pushes come in one chunk"
        seen |= set(ids)
        found |= {(p.chat_id, p.thread_id, n, t) for p in chunk for n, t in p.items}
    assert found == expected
    assert routed.pushes == sum(len(index.routes_in(plan)) for _, plan in plans)
    assert sum(len(chats) for _, _, chats in routed.groups) == routed.pushes


actions = st.lists(
    st.tuples(
        st.sampled_from(["add", "remove", "remove_chat", "move"]),
        st.integers(min_value=1, max_value=30),
        st.sampled_from(TOPICS),
        st.integers(min_value=1, max_value=30),
    ),
    max_size=80,
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 30), st.sampled_from(TOPICS)), max_size=60), actions)
def test_the_chats_topics_answer_as_a_dict_would(
    loaded: list[tuple[int, str]], later: list[tuple[str, int, str, int]]
) -> None:
    index = TopicIndex()
    reference: dict[int, list[str]] = {}

    def key(topic: str) -> str:
        parsed = topic_of_key(topic)
        assert parsed is not None
        return parsed.key

    for chat_id, topic in sorted(loaded):  # the start-up load: chats in id order
        index.add(chat_id, topic)
        k = key(topic)
        if k not in reference.setdefault(chat_id, []):
            reference[chat_id].append(k)
    for action, chat_id, topic, other in later:
        k = key(topic)
        if action == "add":
            index.add(chat_id, topic)
            if k not in reference.setdefault(chat_id, []):
                reference[chat_id].append(k)
        elif action == "remove":
            assert index.remove(chat_id, topic) == (k in reference.get(chat_id, []))
            if k in reference.get(chat_id, []):
                reference[chat_id].remove(k)
        elif action == "remove_chat":
            assert index.remove_chat(chat_id) == len(reference.pop(chat_id, []))
        elif chat_id != other:
            index.move_chat(chat_id, other)
            moved = reference.pop(chat_id, [])
            target = reference.setdefault(other, [])
            target.extend(t for t in moved if t not in target)
        reference = {c: ts for c, ts in reference.items() if ts}
        assert sorted(index.chat_ids()) == sorted(reference)
        for c in range(1, 31):
            assert list(index.topics_of(c)) == reference.get(c, [])
            assert (c in index) == (c in reference)
        assert len(index) == sum(len(ts) for ts in reference.values())


def test_chats_loaded_in_order_take_no_dict_entry() -> None:
    index = TopicIndex()
    for chat_id in range(1, 1001):
        for topic in ("bolivia", "chile", f"lithium + {'chile' if chat_id % 2 else 'peru'}"):
            index.add(chat_id, topic)
    assert len(index) == 3000
    assert index._changed == {}  # the layout is what this test is about
    assert index._base_chats == array("q", range(1, 1001))
    index.add(500, "mining")  # a change later: that chat alone moves to the dict
    assert list(index._changed) == [500]
    assert list(index.topics_of(500)) == ["bolivia", "chile", "lithium + peru", "mining"]
