"""/latest reads its count on either side of the topic, caps it and refuses non-counts."""

from __future__ import annotations

import pytest

from handlers.latest import DEFAULT_COUNT, LatestArgs, parse_latest_args


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("", LatestArgs()),
        ("3", LatestArgs(3)),
        ("3 bolivia", LatestArgs(3, "bolivia")),
        ("bolivia 3", LatestArgs(3, "bolivia")),
        ("south africa 2", LatestArgs(2, "south africa")),
        ("500", LatestArgs(20, capped=True)),
        ("bolivia", LatestArgs(DEFAULT_COUNT, "bolivia")),
        ("0", LatestArgs(bad_count=True)),
        ("-2", LatestArgs(bad_count=True)),
        ("1.5", LatestArgs(bad_count=True)),
        ("bolivia 1.5", LatestArgs(topic="bolivia", bad_count=True)),
        ("-israel", LatestArgs(topic="-israel")),
        ("G20", LatestArgs(topic="G20")),
        ("²", LatestArgs(topic="²")),
    ],
)
def test_parse_latest_args(args: str, expected: LatestArgs) -> None:
    assert parse_latest_args(args) == expected
