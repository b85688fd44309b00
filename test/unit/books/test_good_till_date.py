"""Good-till-date on an order the venue works: the gateway keeps the date, and a round only
asks the store once the account's earliest date has come."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apps.oms.domain.enums import OrderStatus
from apps.oms.domain.good_till_date import earlier, is_due, look_due, venue_end, venue_time_in_force

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def test_an_order_is_due_once_its_date_has_come() -> None:
    assert is_due("GTD", NOW, NOW)
    assert is_due("GTD", NOW - SECOND, NOW)
    assert not is_due("GTD", NOW + SECOND, NOW)
    assert not is_due("GTC", NOW - SECOND, NOW)  # only a good-till-date has a date
    assert not is_due("GTD", None, NOW)
    assert not is_due(None, NOW - SECOND, NOW)


@pytest.mark.parametrize(("asked", "told"), [("GTD", None), ("GTC", "GTC"), ("IOC", "IOC"),
                                             ("PO", "PO"), (None, None)])
def test_the_venue_works_a_good_till_date_as_good_till_cancelled(asked: str | None,
                                                                  told: str | None) -> None:
    assert venue_time_in_force(asked) == told


def test_a_cancel_reported_after_the_date_is_the_expiry() -> None:
    canceled = OrderStatus.CANCELED
    assert venue_end(canceled, "GTD", NOW - SECOND, NOW) is OrderStatus.EXPIRED
    # before the date a cancel is a cancel (the trader's own); without a date too
    assert venue_end(canceled, "GTD", NOW + SECOND, NOW) is canceled
    assert venue_end(canceled, "GTC", NOW - SECOND, NOW) is canceled
    # every other report stands: what filled before the date is filled
    for status in (OrderStatus.FILLED, OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED,
                   OrderStatus.REJECTED, OrderStatus.EXPIRED):
        assert venue_end(status, "GTD", NOW - SECOND, NOW) is status


def test_a_round_asks_the_store_only_when_the_earliest_date_is_unknown_or_has_come() -> None:
    assert look_due(False, None, NOW)  # a task's first round (a takeover's too)
    assert not look_due(True, None, NOW)  # the account has none
    assert not look_due(True, NOW + SECOND, NOW)
    assert look_due(True, NOW, NOW)
    assert look_due(True, NOW - SECOND, NOW)  # a cancel that failed: asked again


def test_a_send_moves_the_earliest_date_only_earlier() -> None:
    assert earlier(None, NOW) == NOW
    assert earlier(NOW, NOW + SECOND) == NOW
    assert earlier(NOW, NOW - SECOND) == NOW - SECOND
    assert earlier(NOW, None) == NOW
    assert earlier(None, None) is None
