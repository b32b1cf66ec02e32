"""Fixtures for end-to-end tests: the fake Bot API (the feed server is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.telegram import FakeTelegram


@pytest.fixture
async def fake_tg() -> AsyncIterator[FakeTelegram]:
    """A validating fake Bot API on 127.0.0.1; the test fails on any invalid request."""
    async with FakeTelegram() as fake:
        yield fake
        assert fake.violations == [], fake.violations
