"""`funding` commands: a perpetual funding time applied to one paper account.

The price scheduler enqueues one per paper account with open swap positions at every funding
time (`request_id = funding:<funding time ms>`, unique per account). The worker asks the venue
first, as it asks any venue: the venue charges its wallet in a transaction of its own and
answers with the marks it charged at (`apply_funding`). Then one fenced record transaction
gives every open OMS position of a rated symbol its funding deal (`domain.funding`) and
finishes the command. The venue charges a funding time once and answers with the same marks
when asked again, so a crash between its charge and the record is repaired by running the
command again: the deals are booked once, at the marks really charged. A funding time whose
deals are already booked on the account is not applied again, whatever command asks.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

from apps.oms.domain.funding import funding_deals, funding_prefix
from apps.oms.domain.positions import Deal, Position
from apps.oms.ports import FundingVenuePort
from apps.oms.service.execution.booking import emit_position
from apps.oms.service.execution.results import finish
from apps.oms.service.execution.runtime import AccountRuntime, Recorder
from apps.oms.service.views import wire_value
from apps.oms.store import books
from apps.oms.store.positions import open_positions_of, position_from_row
from apps.oms.store.queue import Claimed

COMMAND_TYPE = "funding"


async def execute_funding(rt: AccountRuntime, cmd: Claimed, stop: asyncio.Event) -> None:
    venue = rt.venue
    if not isinstance(venue, FundingVenuePort):
        async with rt.record(cmd) as rec:
            await finish(rec, cmd, error_code="unsupported_command",
                         error_message="funding is charged by the paper venue only")  # fmt: skip
        return
    funding_ms = int(cmd.payload["funding_ms"])
    rates = {str(k): Decimal(str(v)) for k, v in dict(cmd.payload["rates"]).items()}
    # charged once by the venue (asked again, it answers with the marks it charged at)
    marks = await venue.apply_funding(funding_ms, rates)
    async with rt.record(cmd) as rec:
        if await books.has_trade_id_prefix(rec.conn, rt.account_id, funding_prefix(funding_ms)):
            await finish(rec, cmd, result={"funding_ms": funding_ms, "deals": 0, "amount": "0",
                                           "already_applied": True})  # fmt: skip
            return  # booked before: never charge or book twice
        held = [position_from_row(r)
                for r in await open_positions_of(rec.conn, rt.account_id)]  # fmt: skip
        booked = [await _book(rec, funding_ms, [p for p in held if p.symbol == symbol],
                              marks[symbol], rates[symbol])
                  for symbol in sorted(marks) if symbol in rates]  # fmt: skip
        deals = [d for symbol_deals in booked for d in symbol_deals]
        await finish(rec, cmd, result={
            "funding_ms": funding_ms, "deals": len(deals),
            "amount": str(sum((Decimal(wire_value(d.pnl)) for d in deals), Decimal(0))),
        })  # fmt: skip


async def _book(
    rec: Recorder, funding_ms: int, positions: list[Position], mark: Decimal, rate: Decimal
) -> list[Deal]:
    """The funding deals of one symbol's open positions (the caller checked that this funding
    time is not booked yet; the store's unique trade id backs that up)."""
    deals, changed = funding_deals(positions, funding_ms, mark, rate, rec.rows, rec.now)
    for deal in deals:
        rec.wrote_deal(deal)
    for position in changed:
        rec.rows.wrote_position(position)
        emit_position(rec, position)
    return list(deals)
