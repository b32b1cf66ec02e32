"""Search ranking: a headline with a searched word in its title ranks above one that has it
only in its summary, for every form of search; among equals, by relevance, then newest.

Every test runs on both backends. The summary-only headlines here are newer and repeat the
words, so that neither recency nor how often a word occurs can put the title match first.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.feeds.parsing import parse_feed
from bot.text.language import stems, words
from bot.text.query import Refusal, parse_search
from storage import Storage
from storage.models import SearchHit
from tests.storage.conftest import NOW, entry, store

SAMPLE = Path(__file__).resolve().parents[2] / "bot" / "data" / "sample_digest.xml"


async def ranked(storage: Storage, text: str) -> list[SearchHit]:
    """Every hit of a search, in rank order."""
    parsed = parse_search(text)
    assert not isinstance(parsed, Refusal), parsed
    page = await storage.headlines.search(parsed, limit=100)
    assert len(page.hits) == page.total
    return list(page.hits)


def titles(hits: list[SearchHit]) -> list[str]:
    return [hit.headline.title for hit in hits]


async def test_the_sample_lists_bolivia_in_the_title_above_the_summaries(
    storage: Storage,
) -> None:
    parsed = parse_feed(SAMPLE.read_bytes(), url=str(SAMPLE), fetched_at=NOW)
    await store(storage, parsed.entries)
    hits = await ranked(storage, "bolivia OR venezuela")
    found = titles(hits)

    def at(start: str) -> int:
        return next(i for i, title in enumerate(found) if title.startswith(start))

    in_title = [
        "Bolivia Severs Ties With Israel",
        "Bolivia’s Ruling Party",
        "El Alto Bolivia",
        "Bolivia: New US Chargé",
    ]
    in_summary = [
        "Latin American Nations Back South Africa",
        "Nicolas Maduro, Has He Become A Neoliberal?",
        "SOUTHCOM Chief Aims",
    ]
    assert max(at(t) for t in in_title) < min(at(s) for s in in_summary), found
    # and generally: every title match before every summary-only match
    wanted = set(stems(["bolivia", "venezuela"], "en"))
    flags = [bool(wanted & set(stems(words(title), "en"))) for title in found]
    assert flags == sorted(flags, reverse=True), list(zip(found, flags, strict=True))


@pytest.mark.parametrize(
    ("query", "title", "summary"),
    [
        # all words (stemmed): one word in the title is enough
        ("harbour strike", "Harbour news", "The strike goes on"),
        ("harbour strike", "Harbour strike ends", "Dockers return"),
        # stemmed: "Strikes" in the title, "striking" in the summary
        ("strike", "Strikes called off", "Nothing new"),
        # either word
        ("harbour OR strike", "Strike called", "Nothing new"),
        # a phrase
        ('"harbour strike"', "Harbour strike ends", "Dockers return"),
        # an exact word, not stemmed
        ('"harbour"', "Harbour closed", "Nothing new"),
        # a prefix
        ("harb*", "Harbours closed", "Nothing new"),
        # with an exclusion
        ("harbour -fish", "Harbour closed", "Nothing new"),
    ],
)
async def test_a_title_match_ranks_first_in_every_form(
    storage: Storage, query: str, title: str, summary: str
) -> None:
    busy = "harbour strike " * 6  # a newer headline with the words only in its summary
    await store(
        storage,
        [
            entry(
                "summary",
                "Markets today",
                busy + "striking dockers in the harbours",
                published_at=NOW + 60,
            ),
            entry("title", title, summary, published_at=NOW),
        ],
    )
    assert titles(await ranked(storage, query)) == [title, "Markets today"]


async def test_more_searched_words_in_the_title_rank_higher(storage: Storage) -> None:
    await store(
        storage,
        [
            entry("one", "Bolivia votes", "A quiet day", published_at=NOW + 60),
            entry("two", "Bolivia and Chile sign", "A deal", published_at=NOW),
            entry("none", "Markets", "Bolivia and Chile, Bolivia and Chile", published_at=NOW + 90),
        ],
    )
    assert titles(await ranked(storage, "bolivia chile")) == [
        "Bolivia and Chile sign",
        "Markets",
    ]
    assert titles(await ranked(storage, "bolivia OR chile")) == [
        "Bolivia and Chile sign",
        "Bolivia votes",
        "Markets",
    ]


async def test_among_title_matches_more_of_the_words_rank_higher(storage: Storage) -> None:
    await store(
        storage,
        [
            entry("one", "Bolivia votes", "A quiet day", published_at=NOW + 60),
            entry("both", "Bolivia votes", "Chile watches", published_at=NOW),
        ],
    )
    hits = await ranked(storage, "bolivia OR chile")
    assert [hit.headline.published_at for hit in hits] == [NOW, NOW + 60]


async def test_equals_are_newest_first(storage: Storage) -> None:
    await store(
        storage,
        [
            entry("a", "Bolivia votes", "x", published_at=NOW + 1),
            entry("b", "Bolivia counts", "y", published_at=NOW + 3),
            entry("c", "Markets", "Bolivia", published_at=NOW + 4),
            entry("d", "Bolivia waits", "z", published_at=NOW + 2),
        ],
    )
    assert titles(await ranked(storage, "bolivia")) == [
        "Bolivia counts",
        "Bolivia waits",
        "Bolivia votes",
        "Markets",
    ]


async def test_a_long_search_still_puts_a_title_match_first(storage: Storage) -> None:
    many = [f"word{n}" for n in range(12)]
    await store(
        storage,
        [
            entry("summary", "Markets", " ".join(many[:3]), published_at=NOW + 60),
            entry("title", f"News of {many[-1]}", "Nothing new", published_at=NOW),
        ],
    )
    assert titles(await ranked(storage, " OR ".join(many))) == [f"News of {many[-1]}", "Markets"]
