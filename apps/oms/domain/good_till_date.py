"""Good-till-date on an order the venue works: the gateway keeps the date.

CCXT has a unified `timeInForce: GTD` but no unified expiry: each exchange spells the date its
own way (Binance futures `goodTillDate` in ms, at least 600 s ahead; KuCoin `cancelAfter` in
seconds; Deribit only the end of the day), and most take no GTD at all. Passing `GTD` on
without the date gets the order rejected, or worse, kept until cancelled. So the venue works a
good-till-date order as good-till-cancelled, and the worker that owns the account cancels it
once the date has passed (`service/execution/expiry.py`); the order ends `EXPIRED`, with
whatever filled before. The same rule on every venue, paper included, and one that survives a
kill of the owner: the date is on the order row, and the next owner's round finds it due.
"""

from __future__ import annotations

from datetime import datetime

from apps.oms.domain.enums import OrderStatus

GTD = "GTD"


def is_due(time_in_force: str | None, expire_at: datetime | None, now: datetime) -> bool:
    """Whether a good-till-date order's date has passed (an order without one never is)."""
    return time_in_force == GTD and expire_at is not None and expire_at <= now


def venue_time_in_force(time_in_force: str | None) -> str | None:
    """What the venue is told: a good-till-date order rests there until the gateway cancels
    it (no time in force: the venue's default, good-till-cancelled)."""
    return None if time_in_force == GTD else time_in_force


def venue_end(status: OrderStatus, time_in_force: str | None, expire_at: datetime | None,
              now: datetime) -> OrderStatus:  # fmt: skip
    """The status a venue report means for the books: a good-till-date order the venue
    reports cancelled once its date has passed ended by its date (`EXPIRED`), whoever's
    cancel reached the venue first."""
    if status is OrderStatus.CANCELED and is_due(time_in_force, expire_at, now):
        return OrderStatus.EXPIRED
    return status


def look_due(known: bool, next_expiry: datetime | None, now: datetime) -> bool:
    """Whether a housekeeping round asks the store for due orders: when the account's
    earliest date is not known yet (the account's task has just started, on this worker or on
    one that took the account over) or has come. Before that date a round costs nothing,
    however many orders the account has open."""
    return not known or (next_expiry is not None and next_expiry <= now)


def earlier(next_expiry: datetime | None, when: datetime | None) -> datetime | None:
    """The account's earliest date once an order expiring at `when` was sent."""
    if when is None:
        return next_expiry
    return when if next_expiry is None else min(next_expiry, when)
