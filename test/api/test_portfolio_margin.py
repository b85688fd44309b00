"""Regression (issue 36, item 3): `/oms/portfolio` positions carry the margin fields CCXT's
position structure requires. A CCXT venue's leverage, margin mode and collateral come from the
newest venue position a reconciliation run stored; before any run they are null; a spot
position is unleveraged (1, isolated, its cost)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
from sqlalchemy import insert

from apps.oms.service import admin
from apps.oms.store.audit import CLI_ACTOR
from apps.oms.store.order_records import payload_row
from apps.oms.store.tables import positions, venue_payloads
from test.api.conftest import World

SWAP, FUTURE, SPOT = "BTC/USDT:USDT", "ETH/USDT:USDT-261225", "SOL/USDT"


async def _ccxt_account_with_positions(world: World) -> int:
    now = datetime.now(UTC)
    async with world.store.transaction() as conn:
        account_id = await admin.add_account(
            conn, CLI_ACTOR, user_id=None, exchange_id="ccxt.binance",
            label=f"margin-{secrets.token_hex(3)}", position_mode="netting", testnet=True,
            live=False)  # fmt: skip
        for symbol in (SWAP, FUTURE, SPOT):
            await conn.execute(insert(positions).values(
                account_id=account_id, symbol=symbol, strategy_id=0, side="buy",
                qty=Decimal("0.5"), avg_price=Decimal(200), realized_pnl=Decimal(0),
                fee=Decimal(0), contract_size=Decimal(1), pending_close_qty=Decimal(0),
                state="open", is_open=True, reason="external", opened_at=now, updated_at=now))
        for leverage, when in (("3", now - timedelta(minutes=2)), ("20", now)):  # newest wins
            venue = {"symbol": SWAP, "leverage": leverage, "marginMode": "isolated",
                     "collateral": "12.5", "contracts": "0.5"}
            row = payload_row(account_id=account_id, kind="position", exchange_id="ccxt.binance",
                              object_id=SWAP, payload=venue, now=when)
            await conn.execute(insert(venue_payloads).values(
                {**{k: v for k, v in row.items() if k != "payload_text"}, "payload": venue}))
    return account_id


async def test_portfolio_positions_carry_leverage_margin_mode_and_collateral(
    api: tuple[httpx.AsyncClient, World],
) -> None:
    client, world = api
    account_id = await _ccxt_account_with_positions(world)
    answer = await client.get("/oms/portfolio", params={"account_ids": account_id},
                              headers={"x-api-key": world.admin_key})
    assert answer.status_code == 200, answer.text
    (item,) = answer.json()["items"]
    margin = {p["symbol"]: (p["leverage"], p["margin_mode"], p["collateral"])
              for p in item["positions"]}  # fmt: skip
    assert margin == {
        SWAP: ("20", "isolated", "12.5"),  # the venue's, as the newest stored run saw it
        FUTURE: (None, None, None),  # no venue position stored yet
        SPOT: ("1", "isolated", "100"),  # 0.5 x 200
    }
