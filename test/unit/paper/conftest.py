"""Helpers for the paper matching core tests."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.paper.domain.book import BookConfig
from apps.paper.domain.matching import Venue
from apps.paper.domain.state import VenueAccount, new_account


@pytest.fixture
def venue() -> Venue:
    return Venue()


@pytest.fixture
def deep_venue() -> Venue:
    """Finite book: 1 BTC per level, 10 bps spread, 0.5 BTC per price change for resting."""
    return Venue(book=BookConfig(
        spread_bps=Decimal(10), level_volume=Decimal(1), resting_volume=Decimal("0.5"),
    ))


@pytest.fixture
def account() -> VenueAccount:
    return new_account(1)
