"""Position modes through a gateway account on the local venue: the worker reads the venue
account's mode when it opens the account's venue and refuses to run an account whose mode
differs (its commands fail `venue_unavailable` with the reason), and a hedge account's orders
reach the venue with the position side of the gateway position they book to: a long and a
short of one symbol at once, each closed by its own close."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt_async
import pytest
from sqlalchemy import select

from apps.oms.config import Settings
from apps.oms.ports import GATEWAY_POSITION_SIDE
from apps.oms.service.execution.runtime import AccountRuntime
from apps.oms.store import leases
from apps.oms.store.accounts import insert_account, upsert_credentials
from apps.oms.store.store import Store
from apps.oms.store.tables import positions
from apps.paper.wire.accounts import Credentials
from apps.paper.wire.process import Running
from apps.worker.account_task import fail_unsupported
from apps.worker.venues import VenueCache, VenueNotReady, load_account
from test.integration.pipeline_worker.conftest import Harness
from test.integration.pipeline_worker.test_reconcile_ccxt import run as reconcile
from test.integration.wire.test_binance_usdm_ccxt import point_usdm, usdm_config
from test.integration.wire.test_bybit_ccxt import bybit_config, point, served
from test.integration.wire.test_faults_ccxt import admin, set_faults

__all__ = ["served"]  # the Bybit dialect's venue fixture, shared

D = Decimal
SYMBOL = "BTC/USDT:USDT"


async def gateway_account(store: Store, running: Running, engine: str, mode: str,
                          creds: Credentials) -> int:  # fmt: skip
    """A testnet CCXT account pointed at the local venue by `config.ccxt`, with its keys."""
    options = ({"fetchCurrencies": False} if "binance" in engine
               else {"fetchMarkets": {"types": ["linear"]}})  # fmt: skip
    config = {"ccxt": {"urls": running.ccxt_urls(), "options": options}}
    async with store.transaction() as conn:
        account_id = await insert_account(conn, exchange_id=engine, label=mode,
                                          position_mode=mode, is_testnet=True, is_live=False,
                                          config=config)  # fmt: skip
        await upsert_credentials(conn, account_id, api_key=creds.api_key, secret=creds.secret,
                                 passphrase=None)  # fmt: skip
    return account_id


async def hedge_venue_account(running: Running, exchange: Any) -> Credentials:
    """A venue account switched to hedge mode by CCXT's own class."""
    creds = await running.venue.new_account()
    exchange.apiKey, exchange.secret = creds.api_key, creds.secret
    try:
        await exchange.set_position_mode(True)
    finally:
        await exchange.close()
    return creds


async def test_a_netting_account_on_a_hedge_mode_venue_account_is_refused(
    gateway: Store, futures: Running
) -> None:
    creds = await hedge_venue_account(futures, point_usdm(ccxt_async.binanceusdm(
        usdm_config(Credentials(0, "", ""))), futures))
    account_id = await gateway_account(gateway, futures, "ccxtpro.binanceusdm", "netting", creds)
    account = await load_account(gateway, account_id)
    venues = VenueCache(Settings(), gateway)
    h = Harness(gateway)
    try:
        assert await venues.open(account) is None
        problem = venues.problem(account)
        assert problem.startswith(f"account {account_id} (ccxtpro.binanceusdm) has "
                                  "position_mode netting but its venue account is in hedge "
                                  "mode (dualSidePosition true)")
        assert "switch the venue account to one-way mode (dualSidePosition false)" in problem
        assert "or use an account with position_mode hedge" in problem
        # where an account without a usable venue shows it: its commands fail with the reason
        item = await h.send(account_id, "send_order", symbol=SYMBOL, side="buy",
                            order_type="market", qty="0.01")
        assert item["ok"], item
        rt = await no_venue_runtime(gateway, account_id)
        await fail_unsupported(rt, problem)
        command = await h.command(item["command_id"])
        assert (command["status"], command["error_code"]) == ("failed", "venue_unavailable")
        assert "position_mode netting" in command["error_message"]
        order = await h.order(item["order_id"])
        assert (order["status"], order["error_code"]) == ("REJECTED", "venue_unavailable")
    finally:
        await venues.close()


async def test_a_venue_that_cannot_answer_the_mode_for_now_fails_nothing(
    gateway: Store, futures: Running
) -> None:
    """The mode read meets a transient venue error (503: CCXT's ExchangeNotAvailable): the
    account is not refused and its queued send is not failed; the next open checks the mode
    and the send goes."""
    creds = await futures.venue.new_account()
    account_id = await gateway_account(gateway, futures, "ccxtpro.binanceusdm", "netting", creds)
    account = await load_account(gateway, account_id)
    item = await Harness(gateway).send(account_id, "send_order", symbol=SYMBOL, side="buy",
                                       order_type="market", qty="0.01")  # fmt: skip
    assert item["ok"], item
    await set_faults(futures, {"kind": "unavailable", "endpoints": "reads", "count": 1})
    venues = VenueCache(Settings(), gateway)
    try:
        with pytest.raises(VenueNotReady, match="could not read its venue account's position"):
            await venues.open(account)
        h = Harness(gateway)
        assert (await h.command(item["command_id"]))["status"] == "queued"
        assert await venues.open(account) is not None  # the fault has passed
        h.venues = venues
        await h.drain(account_id, housekeeping=False)
        assert (await h.command(item["command_id"]))["status"] == "completed"
    finally:
        await venues.close()
        await admin(futures, "DELETE", "/admin/faults")


async def no_venue_runtime(store: Store, account_id: int) -> AccountRuntime:
    """The runtime the worker runs an account without a venue under (`fail_unsupported`)."""
    from apps.oms.clock import utcnow

    async with store.transaction() as conn:
        taken, _ = await leases.acquire(conn, owner="w", now=utcnow(), lease_seconds=30,
                                        limit=1000, dialect=store.dialect)  # fmt: skip
    lease = next(t for t in taken if t.account_id == account_id)
    account = await load_account(store, account_id)
    return AccountRuntime(store, Harness(store).settings, "w", lease, account,
                          venue=None)  # type: ignore[arg-type]


async def test_matching_modes_run_and_a_hedge_account_holds_both_sides(
    gateway: Store, futures: Running
) -> None:
    creds = await hedge_venue_account(futures, point_usdm(ccxt_async.binanceusdm(
        usdm_config(Credentials(0, "", ""))), futures))
    account_id = await gateway_account(gateway, futures, "ccxtpro.binanceusdm", "hedge", creds)
    netting = await gateway_account(gateway, futures, "ccxt.binanceusdm", "netting",
                                    await futures.venue.new_account())  # one-way: matches
    h = Harness(gateway)
    h.venues = VenueCache(Settings(), gateway)
    try:
        assert await h.venues.open(await load_account(gateway, netting)) is not None
        assert await h.venues.open(await load_account(gateway, account_id)) is not None
        for side in ("buy", "sell"):  # a long and a short of one symbol, at once
            item = await h.send(account_id, "send_order", symbol=SYMBOL, side=side,
                                order_type="market", qty="0.01")
            assert item["ok"], item
            await h.drain(account_id)
            assert (await h.order(item["order_id"]))["status"] == "FILLED"
        # the fills reach the books by their trades; the venue's sides, summed, match them
        checked = await reconcile(h, account_id, SYMBOL)
        assert (checked["positions_checked"], checked["out_of_sync"]) == (True, False)
        assert await venue_sides(futures, creds) == {("long", D("0.01")), ("short", D("0.01"))}
        books = await open_positions(gateway, account_id)
        assert sorted(p["side"] for p in books) == ["buy", "sell"]
        long_id = next(p["id"] for p in books if p["side"] == "buy")
        close = await h.send(account_id, "close_position", position_id=long_id)
        assert close["ok"], close
        await h.drain(account_id)
        assert (await reconcile(h, account_id, SYMBOL))["out_of_sync"] is False
        # the close went out as SELL LONG: the venue's long closed, its short untouched
        assert await venue_sides(futures, creds) == {("short", D("0.01"))}
        assert [p["side"] for p in await open_positions(gateway, account_id)] == ["sell"]
    finally:
        await h.venues.close()


async def venue_sides(running: Running, creds: Credentials) -> set[tuple[str, Decimal]]:
    """The venue account's open position sides, as its own engine holds them."""
    venue = running.venue.accounts.venue(creds.api_key)
    return {(p["info"]["position_side"], p["contracts"]) for p in await venue.fetch_positions()}


async def open_positions(store: Store, account_id: int) -> list[dict[str, Any]]:
    async with store.read() as conn:
        rows = await conn.execute(select(positions).where(
            positions.c.account_id == account_id))  # fmt: skip
        return [dict(r) for r in rows.mappings() if r["state"] == "open"]


async def test_bybit_modes_are_read_by_position_rows(gateway: Store, served: Running) -> None:
    """CCXT's bybit reads no position mode: the worker reads it from a linear symbol's
    position rows (`positionIdx`); a hedge account on a one-way venue account is refused,
    and runs once the venue account is switched."""
    creds = await served.venue.new_account()
    account_id = await gateway_account(gateway, served, "ccxt.bybit", "hedge", creds)
    account = await load_account(gateway, account_id)
    venues = VenueCache(Settings(), gateway)
    try:
        assert await venues.open(account) is None
        problem = venues.problem(account)
        assert "has position_mode hedge but its venue account is in one-way mode (merged " \
               "single, switch-mode 0)" in problem
        assert "switch the venue account to hedge mode (both sides, switch-mode 3)" in problem
        exchange = point(ccxt_async.bybit(bybit_config(creds)), served)
        try:
            await exchange.set_position_mode(True)
        finally:
            await exchange.close()
        venue = await venues.open(account)
        assert venue is not None
        await venue.create_order(SYMBOL, "market", "sell", D("0.01"), None,
                                 {GATEWAY_POSITION_SIDE: "short"})  # as positionIdx 2
        held = [(p["info"]["positionIdx"], p["side"], p["contracts"])
                for p in await venue.fetch_positions([SYMBOL]) if p["contracts"]]  # fmt: skip
        assert held == [(2, "short", D("0.01"))]
    finally:
        await venues.close()
