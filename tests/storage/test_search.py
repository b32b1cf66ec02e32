"""Full-text search over stored headlines: ranking, paging, snippets, hostile input.

Every test runs on both backends (FTS5 on SQLite, a tsvector on PostgreSQL): the same
searches find the same headlines in the same order.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.text.query import Refusal, parse_search
from storage import Storage
from storage.headlines import HeadlineRepo
from storage.models import SNIPPET_CLOSE, SNIPPET_OPEN, SearchPage
from tests.storage.conftest import NOW, entry, store

HOSTILE = [
    '"((AND*',
    "NOT",
    "AND",
    "OR NEAR",
    "a:b",
    "title:secret",
    "-x",
    "(",
    ")",
    '"',
    '""',
    "*",
    "**",
    "NEAR(",
    "NEAR(a b, 2)",
    "^start",
    "{title summary}: x",
    "a + b",
    "'; DROP TABLE headlines; --",
    "🔥🚀",
    "🔥 fire",
    "\x00",
    "x" * 10_000,
    "word " * 2_000,
    "\u0301\u0301",
]


async def search(repo: HeadlineRepo, text: str, **kwargs: int) -> SearchPage | None:
    """Search as /search does: parse the text (None when it is refused), then run it."""
    parsed = parse_search(text)
    return None if isinstance(parsed, Refusal) else await repo.search(parsed, **kwargs)


async def test_title_match_ranks_above_summary_match(storage: Storage) -> None:
    await store(
        storage,
        [
            entry("s", "Markets today", "Shares in the harbour company fell", published_at=NOW + 9),
            entry("t", "Harbour strike ends", "Dockers return to work", published_at=NOW),
        ],
    )
    page = await search(storage.headlines, "harbour")
    assert page is not None
    assert page.total == 2
    assert [hit.headline.title for hit in page.hits] == ["Harbour strike ends", "Markets today"]


async def test_equal_matches_are_newest_first(storage: Storage) -> None:
    await store(
        storage,
        [entry(str(i), "Storm warning", "Wind", published_at=NOW + i) for i in (3, 1, 2)],
    )
    page = await search(storage.headlines, "storm")
    assert page is not None
    assert [hit.headline.published_at for hit in page.hits] == [NOW + 3, NOW + 2, NOW + 1]


async def test_paging_and_total(storage: Storage) -> None:
    await store(
        storage, [entry(str(i), f"Budget vote {i}", published_at=NOW + i) for i in range(12)]
    )
    seen: list[int] = []
    for offset in (0, 5, 10):
        page = await search(storage.headlines, "budget", limit=5, offset=offset)
        assert page is not None
        assert page.total == 12
        seen.extend(hit.headline.id for hit in page.hits)
    assert len(seen) == len(set(seen)) == 12
    beyond = await search(storage.headlines, "budget", limit=5, offset=20)
    assert beyond is not None
    assert (beyond.hits, beyond.total) == ((), 12)


async def test_words_are_anded_and_phrases_exact(storage: Storage) -> None:
    await store(
        storage,
        [
            entry("1", "Central bank raises rates"),
            entry("2", "Bank holiday traffic", "Central roads closed"),
            entry("3", "River bank erosion"),
        ],
    )
    both = await search(storage.headlines, "central bank")
    phrase = await search(storage.headlines, '"central bank"')
    assert both is not None
    assert phrase is not None
    assert both.total == 2
    assert [hit.headline.title for hit in phrase.hits] == ["Central bank raises rates"]


async def test_prefix_query(storage: Storage) -> None:
    await store(storage, [entry("1", "Elections in Chile"), entry("2", "Electric cars")])
    page = await search(storage.headlines, "elect*")
    exact = await search(storage.headlines, "elect")
    assert page is not None
    assert exact is not None
    # a plain word is stemmed: `elect` finds "Elections" too, but not "Electric"
    assert (page.total, exact.total) == (2, 1)


async def test_diacritics_are_ignored(storage: Storage) -> None:
    await store(storage, [entry("1", "Protests in Bogotá"), entry("2", "Zürich votes")])
    for query, title in [("bogota", "Protests in Bogotá"), ("ZURICH", "Zürich votes")]:
        page = await search(storage.headlines, query)
        assert page is not None
        assert [hit.headline.title for hit in page.hits] == [title]
    decomposed = await search(storage.headlines, "Bogota\u0301")
    assert decomposed is not None
    assert decomposed.total == 1


async def test_snippet_marks_the_summary_match(storage: Storage) -> None:
    words = " ".join(f"filler{i}" for i in range(60))
    await store(storage, [entry("1", "Weekly digest", f"{words} volcano {words}")])
    page = await search(storage.headlines, "volcano")
    assert page is not None
    snippet = page.hits[0].snippet
    assert f"{SNIPPET_OPEN}volcano{SNIPPET_CLOSE}" in snippet
    assert snippet.startswith("…")
    assert snippet.endswith("…")
    assert len(snippet.split()) <= 26


async def test_snippet_falls_back_to_the_title(storage: Storage) -> None:
    await store(storage, [entry("1", "Volcano erupts", "Flights cancelled"), entry("2", "Volcano")])
    page = await search(storage.headlines, "volcano")
    assert page is not None
    assert {hit.snippet for hit in page.hits} == {
        f"{SNIPPET_OPEN}Volcano{SNIPPET_CLOSE} erupts",
        f"{SNIPPET_OPEN}Volcano{SNIPPET_CLOSE}",
    }


async def test_category_only_match_is_found(storage: Storage) -> None:
    await store(storage, [entry("1", "Match report", "Late goal", categories=("Football",))])
    page = await search(storage.headlines, "football")
    assert page is not None
    assert page.total == 1
    assert page.hits[0].snippet  # never empty, even with no marked word


async def test_query_without_words_is_none(storage: Storage) -> None:
    for text in ["", "   ", '"', "-", "()", "🔥"]:  # `*` is every headline: test_sources.py
        assert await search(storage.headlines, text) is None


async def test_hostile_queries_never_raise(storage: Storage) -> None:
    await store(storage, [entry("1", "Title secret fire", "a b start word")])
    for text in HOSTILE:
        page = await search(storage.headlines, text)
        # a page counts what it holds: the one headline stored, or nothing
        assert page is None or (page.total in (0, 1) and len(page.hits) == page.total), text
        if text in ("🔥 fire", "word " * 2_000):  # plain words among the noise still find it
            assert page is not None and page.total == 1, text
    secret = await search(storage.headlines, "title:secret")
    assert secret is not None
    assert secret.total == 1  # the column filter is two plain words, not FTS syntax


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(max_size=60))
async def test_any_text_is_a_valid_query(storage: Storage, text: str) -> None:
    page = await search(storage.headlines, text)
    assert page is None or page.total == 0


async def test_a_search_ranks_its_newest_matches_only(storage: Storage) -> None:
    """Only the newest 500 matches are ranked (and counted), whether the word is in every
    headline, in some, or only in old ones: on PostgreSQL the newest windows of ids are
    asked first (storage/postgres/fts.py), which must give what FTS5's walk gives."""
    entries = []
    for i in range(3000):
        words = ["common"]
        if i % 5 == 0:
            words.append("sparse")
        if i < 10:
            words.append("ancient")
        entries.append(entry(str(i), " ".join(words), published_at=NOW + i))
    ids = [h.id for h in await store(storage, entries)]
    for text, expected in [
        ("common", ids[-500:]),
        ("sparse", ids[::5][-500:]),
        ("ancient", ids[:10]),
        ("common -sparse", [i for n, i in enumerate(ids) if n % 5][-500:]),
    ]:
        page = await search(storage.headlines, text, limit=500)
        assert page is not None
        assert page.total == len(expected), text
        assert [hit.headline.id for hit in page.hits] == expected[::-1], text
