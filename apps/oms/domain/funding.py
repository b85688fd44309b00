"""Funding payments in the books (pure): one cash deal per open position of a perpetual.

The rule of a payment (`payment`) and of funding times (`last_funding_ms`) lives here, and the
paper venue charges its wallets by it (`apps.paper.domain.funding`).

A funding deal has quantity 0, `entry = out` (it realises money, like a closing deal), the side
opposite the position's, `reason = funding`, price = the mark it was computed at and
`pnl` = the payment (negative when paid). The fold adds it to the position's realised PnL and
leaves quantity and average alone (`positions.apply_deal`). Its `exchange_trade_id`
(`funding:<funding time ms>:<position id>`) makes booking it twice impossible: the store holds
it unique per account, whatever retries or replays happen.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from apps.oms.domain.book import IdAllocator
from apps.oms.domain.enums import DealEntry, Reason
from apps.oms.domain.money import ZERO, money_context, quantize
from apps.oms.domain.positions import Deal, Position, apply_deal


def last_funding_ms(now_ms: int, interval_seconds: int) -> int | None:
    """The latest funding time at or before `now_ms` (None when funding is off): funding times
    are multiples of the interval since the epoch."""
    if interval_seconds <= 0:
        return None
    interval_ms = interval_seconds * 1000
    return (now_ms // interval_ms) * interval_ms


def payment(signed_qty: Decimal, contract_size: Decimal, mark: Decimal, rate: Decimal) -> Decimal:
    """What a position of `signed_qty` contracts receives at one funding time (negative: pays):
    `-qty x contract size x mark x rate`, 18 places. A venue's wallet and the books' deals use
    this one rule."""
    with money_context():
        return quantize(-signed_qty * contract_size * mark * rate)


def funding_prefix(funding_ms: int) -> str:
    """The start of every funding deal's `exchange_trade_id` for one funding time."""
    return f"funding:{funding_ms}:"


def funding_trade_id(funding_ms: int, position_id: int) -> str:
    return f"{funding_prefix(funding_ms)}{position_id}"


def funding_deals(
    positions: Iterable[Position],
    funding_ms: int,
    mark: Decimal,
    rate: Decimal,
    ids: IdAllocator,
    now: datetime,
) -> tuple[tuple[Deal, ...], tuple[Position, ...]]:
    """The deals of one funding time for the open `positions` of one symbol (their qty as
    they are now), and the positions after them. A zero payment books nothing."""
    at = datetime.fromtimestamp(funding_ms / 1000, UTC)
    deals: list[Deal] = []
    changed: list[Position] = []
    for position in sorted(positions, key=lambda p: p.position_id):
        if not position.is_open or position.qty.is_zero():
            continue
        amount = payment(position.signed_qty, position.contract_size, mark, rate)
        if amount.is_zero():
            continue
        deal = Deal(
            deal_id=ids.next_deal_id(), account_id=position.account_id, order_id=None,
            position_id=position.position_id, symbol=position.symbol,
            side=position.side.opposite, qty=ZERO, price=mark, fee=ZERO, fee_currency=None,
            pnl=amount, entry=DealEntry.OUT, leg=0, contract_size=position.contract_size,
            strategy_id=position.strategy_id, reason=Reason.FUNDING.value, comment=None,
            reconciled=False, exchange_trade_id=funding_trade_id(funding_ms, position.position_id),
            executed_at=at, created_at=now,
        )  # fmt: skip
        deals.append(deal)
        changed.append(replace(apply_deal(position, deal), updated_at=max(position.updated_at, at)))
    return tuple(deals), tuple(changed)
