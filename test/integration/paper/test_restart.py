"""Paper venue adapter on SQLite and MariaDB: state survives a restart, accounts are independent,
faults and latency behave, clientOrderId lookups resolve unknown outcomes."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import ccxt
import pytest
from sqlalchemy import event

from apps.oms.store.engine import create_engine
from apps.paper.domain.faults import FaultConfig
from apps.paper.exchange.venue import PaperVenue
from apps.paper.store.venue_store import PaperStore

D = Decimal
BTC = "BTC/USDT"
PERP = "ETH/USDT:USDT"


async def snapshot(venue: PaperVenue) -> tuple[object, ...]:
    balance = await venue.fetch_balance()
    return (
        balance["total"], balance["used"], await venue.fetch_open_orders(),
        await venue.fetch_closed_orders(), await venue.fetch_my_trades(),
        [{k: v for k, v in p.items() if k not in ("timestamp", "datetime")}
         for p in await venue.fetch_positions()],
    )


async def test_state_survives_restart(store_url, new_account, make_venue, clock) -> None:
    account_id = await new_account()
    first = make_venue(account_id)
    await first.set_price(BTC, D(50000))
    await first.set_price(PERP, D(3000))
    bought = await first.create_order(BTC, "market", "buy", D("0.5"), None, {"clientOrderId": "a1"})
    assert bought["status"] == "closed"
    resting = await first.create_order(BTC, "limit", "sell", D("0.2"), D(52000))
    await first.create_order(PERP, "market", "sell", D(2))
    before = await snapshot(first)

    again = make_venue(account_id)  # a new adapter over a new store object
    engine = create_engine(store_url)
    try:
        other_engine = PaperVenue(account_id, PaperStore(engine), clock=clock)
        assert await snapshot(again) == before
        assert await snapshot(other_engine) == before
    finally:
        await engine.dispose()
    fills = await again.on_price(BTC, D(52100))
    assert [(f["order"], f["price"], f["takerOrMaker"]) for f in fills] == [
        (resting["id"], D(52000), "maker")
    ]
    balance = await first.fetch_balance()
    assert balance["BTC"]["total"] == D("0.3")
    positions = await make_venue(account_id).fetch_positions()
    assert [(p["symbol"], p["side"], p["contracts"]) for p in positions] == [(PERP, "short", D(2))]


async def test_accounts_are_independent(new_account, make_venue) -> None:
    a, b = make_venue(await new_account()), make_venue(await new_account())
    await a.set_price(BTC, D(50000))
    await a.create_order(BTC, "market", "buy", D(1))
    assert (await b.fetch_balance())["total"] == {"USDT": D(100000)}
    assert await b.fetch_my_trades() == []
    assert (await a.fetch_balance())["total"]["BTC"] == D(1)


async def test_start_balance_is_configurable(new_account, make_venue) -> None:
    venue = make_venue(await new_account(), start_balances={"USDT": D(500), "BTC": D("0.01")})
    assert (await venue.fetch_balance())["total"] == {"USDT": D(500), "BTC": D("0.01")}


async def test_timeout_fault_places_and_lookup_by_client_id(new_account, make_venue) -> None:
    venue = make_venue(await new_account(), faults=FaultConfig(timeout_rate=D(1)))
    await venue.set_price(BTC, D(50000))
    with pytest.raises(ccxt.RequestTimeout):
        await venue.create_order(BTC, "market", "buy", D("0.1"), None, {"clientOrderId": "u-1"})
    found = await venue.fetch_order("", BTC, {"clientOrderId": "u-1"})
    assert found["status"] == "closed"
    assert found["filled"] == D("0.1")
    assert len(found["trades"]) == 1
    with pytest.raises(ccxt.OrderNotFound):
        await venue.fetch_order("", BTC, {"clientOrderId": "never-sent"})
    with pytest.raises(ccxt.InvalidOrder):
        await venue.create_order(BTC, "market", "buy", D("0.1"), None, {"clientOrderId": "u-1"})


async def test_reject_and_outage_faults_place_nothing(new_account, make_venue) -> None:
    rejecting = make_venue(await new_account(), faults=FaultConfig(reject_rate=D(1)))
    with pytest.raises(ccxt.InvalidOrder):
        await rejecting.create_order(BTC, "market", "buy", D("0.1"), None, {"clientOrderId": "r"})
    assert await rejecting.fetch_orders() == []
    down = make_venue(await new_account(), faults=FaultConfig(unavailable_rate=D(1)))
    with pytest.raises(ccxt.ExchangeNotAvailable):
        await down.create_order(BTC, "market", "buy", D("0.1"))
    assert await down.fetch_orders() == []


async def test_fault_sequence_is_deterministic(new_account, make_venue) -> None:
    async def outcomes(account_id: int) -> list[str]:
        venue = make_venue(account_id, faults=FaultConfig(reject_rate=D("0.5"), seed=7))
        result = []
        for i in range(12):
            try:
                await venue.create_order(BTC, "limit", "buy", D("0.001"), D(10000), {
                    "clientOrderId": f"f{i}"})
                result.append("ok")
            except ccxt.InvalidOrder:
                result.append("reject")
        return result

    account_id = await new_account()
    first = await outcomes(account_id)
    assert set(first) == {"ok", "reject"}
    # same seed, same account id, same call numbers: same decisions (pure function of them)
    from apps.paper.domain.faults import decide

    expected = ["reject" if decide(FaultConfig(reject_rate=D("0.5"), seed=7), account_id, n)
                == "reject" else "ok" for n in range(1, 13)]
    assert first == expected


async def test_fill_latency_and_ack_latency(new_account, make_venue, clock) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    venue = make_venue(
        await new_account(), faults=FaultConfig(ack_latency_ms=50, fill_latency_ms=200),
        sleep=sleep,
    )
    await venue.set_price(BTC, D(50000))
    order = await venue.create_order(BTC, "market", "buy", D("0.1"))
    assert slept == [0.05]
    assert order["status"] == "open"
    assert await venue.match() == []
    clock.now += 200
    (fill,) = await venue.match()
    assert fill["order"] == order["id"]
    assert (await venue.fetch_order(order["id"]))["status"] == "closed"


async def test_concurrent_writers_on_one_account(new_account, make_venue) -> None:
    account_id = await new_account()
    venues = [make_venue(account_id) for _ in range(4)]
    await venues[0].fetch_balance()
    await asyncio.gather(*(
        v.create_order(BTC, "limit", "buy", D("0.01"), D(40000), {"clientOrderId": f"c{i}"})
        for i, v in enumerate(venues)
    ))
    open_orders = await venues[0].fetch_open_orders()
    assert sorted(o["clientOrderId"] for o in open_orders) == ["c0", "c1", "c2", "c3"]
    assert len({o["id"] for o in open_orders}) == 4
    balance = await venues[1].fetch_balance()
    assert balance["used"]["USDT"] == 4 * D("0.01") * 40000 * D("1.001")


async def test_racing_duplicate_client_order_ids(new_account, make_venue) -> None:
    account_id = await new_account()
    venues = [make_venue(account_id) for _ in range(3)]
    await venues[0].fetch_balance()
    results = await asyncio.gather(*(
        v.create_order(BTC, "limit", "buy", D("0.01"), D(40000), {"clientOrderId": "same"})
        for v in venues
    ), return_exceptions=True)
    placed = [r for r in results if isinstance(r, dict)]
    assert len(placed) == 1
    assert all(isinstance(r, ccxt.InvalidOrder) for r in results if not isinstance(r, dict))
    assert len(await venues[0].fetch_open_orders()) == 1


async def test_trigger_params_fire_on_price(new_account, make_venue) -> None:
    venue = make_venue(await new_account())
    await venue.set_price(PERP, D(3000))
    await venue.create_order(PERP, "market", "buy", D(1))
    stop = await venue.create_order(PERP, "market", "sell", D(1), None,
                                    {"stopLossPrice": "2900", "reduceOnly": True})
    take = await venue.create_order(PERP, "limit", "sell", D(1), D(3200),
                                    {"takeProfitPrice": "3200", "reduceOnly": True,
                                     "clientOrderId": "tp"})
    assert (stop["stopLossPrice"], take["takeProfitPrice"]) == (D(2900), D(3200))
    moved = await venue.edit_order("", PERP, "limit", "sell", None, None,
                                   {"clientOrderId": "tp", "triggerPrice": "3100"})
    assert moved["triggerPrice"] == D(3100)
    assert await venue.on_price(PERP, D(2950)) == []
    (fill,) = await venue.on_price(PERP, D(2890))
    assert (fill["order"], fill["price"], fill["side"]) == (stop["id"], D(2890), "sell")
    assert await venue.fetch_positions() == []
    # the take-profit can no longer reduce anything: it cancels when it fires
    assert await venue.on_price(PERP, D(3150)) == []
    assert (await venue.fetch_order(take["id"]))["status"] == "canceled"
    canceled = await venue.cancel_all_orders(PERP)
    assert canceled == []


async def test_cached_state_follows_other_writers(
    store_url, engine, new_account, make_venue
) -> None:
    """Two adapters (two store objects, as two worker processes would have) writing the same
    account in turns: each reuses its cached state only while the account's version is its
    own, so no write is lost and every view equals a fresh adapter's."""
    account_id = await new_account()
    a, b = make_venue(account_id), make_venue(account_id)
    await a.set_price(BTC, D(50000))
    for venue, side in ((a, "buy"), (b, "buy"), (a, "sell"), (b, "buy"), (b, "buy"), (a, "buy")):
        await venue.create_order(BTC, "market", side, D("0.1"), None)
    fresh = await snapshot(make_venue(account_id))
    assert await snapshot(a) == fresh
    assert await snapshot(b) == fresh
    assert fresh[0]["BTC"] == D("0.4")  # 5 buys and 1 sell of 0.1: nothing lost

    statements: list[str] = []

    def count(conn, cursor, statement, params, context, executemany) -> None:
        statements.append(statement)

    store = a.store
    await store.load(account_id)  # a's cache is current again after its own load
    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        state, _ = await store.load(account_id)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(reads) == 1
    assert "paper_accounts" in reads[0]
    assert state.balances["BTC"] == D("0.4")
