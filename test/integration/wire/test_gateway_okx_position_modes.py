"""Position modes through a gateway account on the local venue served as OKX v5: the worker
reads the venue account's `posMode` (CCXT's okx `fetch_position_mode`, `account/config`) when
it opens the account's venue, whatever the class's `defaultType`, and refuses an account whose
mode differs, both ways; a hedge account's orders reach OKX with the `posSide` of the gateway
position they book to: a long and a short of one SWAP at once, each closed by its own close."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt_async
import pytest

from apps.oms.config import Settings
from apps.oms.ports import GATEWAY_POSITION_SIDE
from apps.oms.store.accounts import insert_account, upsert_credentials
from apps.oms.store.store import Store
from apps.paper.wire.accounts import Credentials
from apps.paper.wire.process import Running
from apps.worker.venues import VenueCache, VenueNotReady, load_account
from test.integration.pipeline_worker.conftest import Harness
from test.integration.pipeline_worker.test_reconcile_ccxt import run as reconcile
from test.integration.wire.test_faults_ccxt import admin, set_faults
from test.integration.wire.test_gateway_position_modes import open_positions, venue_sides
from test.integration.wire.test_okx_ccxt import okx_config, point, served

__all__ = ["served"]  # the OKX dialect's venue fixture, shared

D = Decimal
SYMBOL = "BTC/USDT:USDT"


async def okx_account(store: Store, running: Running, mode: str, creds: Credentials) -> int:
    """A testnet `ccxtpro.okx` account pointed at the local venue by `config.ccxt` (CCXT's
    default `defaultType`, spot: the mode is read all the same), keys with the passphrase. Its
    SWAP list only: CCXT's okx loads each type's list at once, and a list still in flight when
    the first fails opens an HTTP session after the failed instance is closed."""
    config = {"ccxt": {"urls": running.ccxt_urls(),
                       "options": {"fetchMarkets": {"types": ["swap"]}}}}  # fmt: skip
    async with store.transaction() as conn:
        account_id = await insert_account(conn, exchange_id="ccxtpro.okx", label=mode,
                                          position_mode=mode, is_testnet=True, is_live=False,
                                          config=config)  # fmt: skip
        await upsert_credentials(conn, account_id, api_key=creds.api_key, secret=creds.secret,
                                 passphrase=creds.passphrase)  # fmt: skip
    return account_id


async def switch(running: Running, creds: Credentials, hedged: bool) -> None:
    """The venue account's mode, switched by CCXT's own okx."""
    exchange = point(ccxt_async.okx(okx_config(creds)), running)
    try:
        await exchange.set_position_mode(hedged)
    finally:
        await exchange.close()


async def test_a_hedge_account_on_a_net_mode_venue_account_is_refused_until_switched(
    gateway: Store, served: Running
) -> None:
    creds = await served.venue.new_account()  # net mode
    account_id = await okx_account(gateway, served, "hedge", creds)
    account = await load_account(gateway, account_id)
    venues = VenueCache(Settings(), gateway)
    try:
        assert await venues.open(account) is None
        problem = venues.problem(account)
        assert problem.startswith(f"account {account_id} (ccxtpro.okx) has position_mode hedge "
                                  "but its venue account is in net mode (net_mode)")  # fmt: skip
        assert ("switch the venue account to long/short mode (long_short_mode) (POST "
                "/api/v5/account/set-position-mode") in problem
        assert "or use an account with position_mode netting" in problem
        await switch(served, creds, True)
        venue = await venues.open(account)  # read again at the next start
        assert venue is not None
        for side, position_side in (("buy", "long"), ("sell", "short")):
            await venue.create_order(SYMBOL, "market", side, D("0.01"), None,
                                     {GATEWAY_POSITION_SIDE: position_side})  # fmt: skip
        held = sorted((p["info"]["posSide"], p["side"], p["contracts"])
                      for p in await venue.fetch_positions([SYMBOL]))  # fmt: skip
        assert held == [("long", "long", D("0.01")), ("short", "short", D("0.01"))]
        # a reduce-only close of the long: posSide long, reduceOnly kept (OKX takes both)
        await venue.create_order(SYMBOL, "market", "sell", D("0.02"), None,
                                 {GATEWAY_POSITION_SIDE: "long", "reduceOnly": True})  # fmt: skip
        assert await venue_sides(served, creds) == {("short", D("0.01"))}
    finally:
        await venues.close()


async def test_a_netting_account_on_a_long_short_mode_venue_account_is_refused(
    gateway: Store, served: Running
) -> None:
    creds = await served.venue.new_account()
    await switch(served, creds, True)
    account_id = await okx_account(gateway, served, "netting", creds)
    account = await load_account(gateway, account_id)
    matching = await okx_account(gateway, served, "netting", await served.venue.new_account())
    venues = VenueCache(Settings(), gateway)
    try:
        assert await venues.open(await load_account(gateway, matching)) is not None
        assert await venues.open(account) is None
        problem = venues.problem(account)
        assert ("has position_mode netting but its venue account is in long/short mode "
                "(long_short_mode): switch the venue account to net mode (net_mode)") in problem
        assert "or use an account with position_mode hedge" in problem
    finally:
        await venues.close()


async def test_a_mode_read_the_venue_cannot_answer_for_now_fails_nothing(
    gateway: Store, served: Running
) -> None:
    """A 503 on `account/config` (CCXT's ExchangeNotAvailable): not refused, tried again."""
    account_id = await okx_account(gateway, served, "netting", await served.venue.new_account())
    account = await load_account(gateway, account_id)
    venues = VenueCache(Settings(), gateway)
    try:
        await set_faults(served, {"kind": "unavailable", "endpoints": "reads", "count": 1})
        with pytest.raises(VenueNotReady, match="could not read its venue account's position"):
            await venues.open(account)
        assert await venues.open(account) is not None  # the fault has passed
    finally:
        await venues.close()
        await admin(served, "DELETE", "/admin/faults")


async def test_a_hedge_account_holds_both_sides_and_closes_each(
    gateway: Store, served: Running
) -> None:
    creds = await served.venue.new_account()
    await switch(served, creds, True)
    account_id = await okx_account(gateway, served, "hedge", creds)
    h = Harness(gateway)
    h.venues = VenueCache(Settings(), gateway)
    try:
        assert await h.venues.open(await load_account(gateway, account_id)) is not None
        for side in ("buy", "sell"):  # a long and a short of one SWAP, at once
            item = await h.send(account_id, "send_order", symbol=SYMBOL, side=side,
                                order_type="market", qty="0.01")  # fmt: skip
            assert item["ok"], item
            await h.drain(account_id)
            assert (await h.order(item["order_id"]))["status"] == "FILLED"
        checked = await reconcile(h, account_id, SYMBOL)
        assert (checked["positions_checked"], checked["out_of_sync"]) == (True, False)
        assert await venue_sides(served, creds) == {("long", D("0.01")), ("short", D("0.01"))}
        books: list[dict[str, Any]] = await open_positions(gateway, account_id)
        assert sorted(p["side"] for p in books) == ["buy", "sell"]
        long_id = next(p["id"] for p in books if p["side"] == "buy")
        close = await h.send(account_id, "close_position", position_id=long_id)
        assert close["ok"], close
        await h.drain(account_id)
        assert (await reconcile(h, account_id, SYMBOL))["out_of_sync"] is False
        # the close went out as sell posSide long: the venue's long closed, its short untouched
        assert await venue_sides(served, creds) == {("short", D("0.01"))}
        assert [p["side"] for p in await open_positions(gateway, account_id)] == ["sell"]
    finally:
        await h.venues.close()
