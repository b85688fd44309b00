"""Position modes of the paper venue over a real store (SQLite and MariaDB): the account's mode,
both position sides, a resting close and the fills' sides survive a restart; a switch back to
one-way mode removes the flat rows of the sides."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from apps.oms.exchange.ccxt_errors import errors as ccxt
from apps.paper.exchange.venue import PaperVenue

D = Decimal
SWAP = "SOL/USDT:USDT"


def sides(positions: list[dict[str, Any]]) -> list[tuple[str, Decimal, bool]]:
    return sorted((p["info"]["position_side"], p["contracts"], p["hedged"]) for p in positions)


async def test_hedge_sides_survive_a_restart(
    new_account: Callable[[], Any], make_venue: Callable[..., PaperVenue]
) -> None:
    account_id = await new_account()
    venue = make_venue(account_id)
    await venue.set_price(SWAP, D(150))
    assert (await venue.set_position_mode(True))["hedged"] is True
    await venue.create_order(SWAP, "market", "buy", D(10), None, {"positionSide": "long"})
    await venue.create_order(SWAP, "market", "sell", D(4), None, {"positionSide": "SHORT"})
    resting = await venue.create_order(SWAP, "limit", "sell", D(10), D(160),
                                       {"positionSide": "long"})  # closes the long at 160
    assert resting["reduceOnly"] is True
    restarted = make_venue(account_id)  # a new store object: read back from the database
    assert (await restarted.fetch_position_mode())["hedged"] is True
    assert sides(await restarted.fetch_positions()) == [("long", D(10), True),
                                                        ("short", D(4), True)]
    trades = await restarted.fetch_my_trades(SWAP)
    assert [t["info"]["position_side"] for t in trades] == ["long", "short"]
    with pytest.raises(ccxt.InvalidOrder):  # hedge mode takes no BOTH
        await restarted.create_order(SWAP, "market", "buy", D(1))
    fills = await restarted.on_price(SWAP, D(161))
    assert [(f["order"], f["info"]["position_side"]) for f in fills] == [(resting["id"], "long")]
    assert sides(await make_venue(account_id).fetch_positions()) == [("short", D(4), True)]
    with pytest.raises(ccxt.BadRequest, match="position is open"):
        await restarted.set_position_mode(False)
    await restarted.create_order(SWAP, "market", "buy", D(4), None, {"positionSide": "short"})
    assert (await restarted.set_position_mode(False))["hedged"] is False
    again = make_venue(account_id)
    assert (await again.fetch_position_mode())["hedged"] is False
    assert await again.fetch_positions() == []
    await again.create_order(SWAP, "market", "buy", D(1))  # one-way again: a net position
    assert sides(await make_venue(account_id).fetch_positions()) == [("both", D(1), False)]
