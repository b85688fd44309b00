"""`watch_*` over the OMS stream: ccxt.pro semantics, exactly-once delivery across a server-side
disconnect (the API process is killed and restarted while the worker keeps writing events), and
the polling fallback when the socket cannot be opened."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ccxt
import pytest
from sqlalchemy import create_engine, select

from apps.oms.domain.access import AccountFlags, Role
from apps.oms.service import admin
from apps.oms.store.audit import CLI_ACTOR
from apps.oms.store.store import Store
from apps.oms.store.tables import outbox
from ccxt_driver import OmsCcxtProExchange
from test.driver.conftest import SYMBOL, Stack
from test.driver.shapes import check
from test.e2e.pipeline.conftest import PEPPER, make_stack

pytestmark = pytest.mark.mysql


async def collect(watch: Any, enough: Any, seconds: float = 30) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    async with asyncio.timeout(seconds):
        while not enough(got):
            got.extend(await watch())
    return got


async def test_watch_orders_trades_positions(pro: OmsCcxtProExchange, stack: Stack) -> None:
    watcher = asyncio.create_task(collect(
        pro.watch_orders, lambda got: any(o["status"] == "closed" for o in got)))
    await pro.stream.start()
    order = await pro.create_order(SYMBOL, "market", "buy", 0.5)
    orders = await watcher
    assert [o["id"] for o in orders] == [order["id"]] * len(orders)
    for o in orders:
        check("order", o)
    assert orders[-1]["status"] == "closed"
    assert orders[-1]["filled"] == 0.5
    trades = await pro.watch_my_trades(SYMBOL)
    assert [(t["order"], t["amount"]) for t in trades] == [(order["id"], 0.5)]
    check("trade", trades[0])
    assert trades[0]["takerOrMaker"] == "taker"
    positions = await pro.watch_positions([SYMBOL])
    check("position", positions[-1])
    assert (positions[-1]["side"], positions[-1]["contracts"]) == ("long", 0.5)
    assert pro.stream.mode == "ws"
    assert pro.stream.connects == 1


def order_events(url: str, account_id: int, after: int) -> list[tuple[int, str, Any]]:
    engine = create_engine(url.replace("+aiomysql", "+pymysql"))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(outbox.c.seq, outbox.c.event, outbox.c.payload)
                .where(outbox.c.account_id == account_id, outbox.c.seq > after,
                       outbox.c.namespace == "position")
                .order_by(outbox.c.seq)
            ).all()
    finally:
        engine.dispose()
    return [(int(r.seq), str(r.event), r.payload) for r in rows if r.seq is not None]


@pytest.fixture
def own_stack(tmp_path: Path) -> Iterator[Stack]:
    with make_stack(tmp_path) as s:
        s.price("100")
        yield s


async def test_resume_after_server_side_disconnect(own_stack: Stack) -> None:
    stack = own_stack
    # a venue that answers in 150 ms: the 12 orders take ~2 s, so the API is killed mid-stream
    # (with instant fills every event could arrive before the kill, and nothing would resume)
    account = await asyncio.to_thread(stack.account, "hedge",
                                      {"paper": {"faults": {"ack_latency_ms": 150}}})
    pro = OmsCcxtProExchange(api_key=stack.trader_key, account_id=account, base_url=stack.base)
    try:
        await pro.load_markets()
        await pro.stream.start()
        start = pro.stream.last_seq
        assert start is not None
        orders: list[dict[str, Any]] = []
        positions: list[dict[str, Any]] = []

        async def drain(watch: Any, into: list[dict[str, Any]]) -> None:
            while True:
                into.extend(await watch())

        tasks = [asyncio.create_task(drain(pro.watch_orders, orders)),
                 asyncio.create_task(drain(pro.watch_positions, positions))]
        body = [{"account_id": account, "command": "send_order",
                 "payload": {"symbol": SYMBOL, "side": "buy", "order_type": "market",
                             "qty": "0.1"}} for _ in range(12)]
        response = stack.post(body, wait=False)
        assert response.status_code == 200, response.text
        await asyncio.sleep(0.3)  # mid-stream: some events delivered, the worker still busy
        assert stack.api is not None
        stack.kill(stack.api, signal.SIGKILL)
        await asyncio.sleep(1.0)  # the worker keeps committing events while the API is down
        await asyncio.to_thread(stack.start_api)
        def all_filled() -> list[tuple[int, str, Any]] | None:
            events = order_events(stack.url, account, start)
            fills = [e for e in events if e[1] == "order_filled"]
            return events if len(fills) == 12 else None

        expected = await asyncio.to_thread(stack.until, all_filled, 300, "12 fills")
        want_orders = [(s, p["id"], p["status"], p["filled_qty"]) for s, e, p in expected
                       if e.startswith("order_")]
        want_positions = [(s, p["id"], p["qty"]) for s, e, p in expected
                          if e.startswith("position_")]
        async with asyncio.timeout(120):
            while len(orders) < len(want_orders) or len(positions) < len(want_positions):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # nothing extra (no repeat) arrives later
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert pro.stream.connects >= 2, "the connection was not dropped and resumed"
        got_orders = [(o["info"]["id"], o["info"]["status"], o["info"]["filled_qty"])
                      for o in orders]
        assert got_orders == [w[1:] for w in want_orders]
        assert [(p["info"]["id"], p["info"]["qty"]) for p in positions] == [
            w[1:] for w in want_positions]
        delivered = pro.stream.delivered
        assert delivered == sorted(set(delivered))  # every seq once, in order
        assert set(delivered) >= {w[0] for w in want_orders + want_positions}
    finally:
        await pro.close()


async def test_polling_fallback_when_the_socket_is_unavailable(
    pro: OmsCcxtProExchange, stack: Stack
) -> None:
    pro.options["wsConnectAttempts"] = 1
    pro.stream.ws_url = lambda: "ws://127.0.0.1:9/ws"  # type: ignore[method-assign]
    await pro.stream.start()
    assert pro.stream.mode == "poll"
    watcher = asyncio.create_task(collect(
        pro.watch_orders, lambda got: any(o["status"] == "closed" for o in got)))
    order = await pro.create_order(SYMBOL, "market", "sell", 0.2)
    orders = await watcher
    assert orders[-1]["id"] == order["id"]
    assert orders[-1]["status"] == "closed"
    trades = await pro.watch_my_trades()
    assert trades[-1]["order"] == order["id"]
    positions = await pro.watch_positions()
    assert positions[-1]["side"] == "short"


async def test_market_watches_poll(pro: OmsCcxtProExchange, stack: Stack) -> None:
    first = await pro.watch_ticker(SYMBOL)
    check("ticker", first)
    mover = asyncio.get_running_loop().run_in_executor(None, stack.price, "123.4")
    second = await asyncio.wait_for(pro.watch_ticker(SYMBOL), 20)
    await mover
    assert second["last"] == 123.4
    balance = await pro.watch_balance()
    assert balance["USDT"]["total"] > 0
    book = await pro.watch_order_book(SYMBOL, 3)
    assert len(book["asks"]) == 3


async def test_watch_ohlcv_keeps_ccxt_pros_candle_cache(pro: OmsCcxtProExchange,
                                                       stack: Stack) -> None:
    """Watched candles land where CCXT Pro keeps them (`ohlcvs[symbol][timeframe]`): freqtrade
    reads its websocket candles from that cache, not from what `watch_ohlcv` returns. The first
    poll reads the history, later ones only the last two candles."""
    first = await pro.watch_ohlcv(SYMBOL, "1m")
    cache = pro.ohlcvs[SYMBOL]["1m"]
    assert len(first) > 2
    assert list(cache) == first
    mover = asyncio.get_running_loop().run_in_executor(None, stack.price, "123.4")
    second = await asyncio.wait_for(pro.watch_ohlcv(SYMBOL, "1m"), 20)
    await mover
    assert 1 <= len(second) <= 2
    assert second[-1][4] == 123.4  # the current candle's close
    assert cache[-1] == second[-1]
    stamps = [row[0] for row in cache]
    assert stamps == sorted(set(stamps))
    assert stamps[: len(first) - 1] == [row[0] for row in first][:-1]  # history kept


async def test_watch_raises_when_the_account_grant_is_revoked(stack: Stack, account: int) -> None:
    """The key loses the right to read the account while `watch_orders` waits: the gateway
    ends the subscription (`subscription_revoked`, within one re-check period, 5 s by default)
    and the watcher raises `AccountNotEnabled` instead of waiting forever."""
    store = Store.from_url(stack.url)
    try:
        async with store.transaction() as conn:
            user_id = await admin.create_user(conn, CLI_ACTOR, name=f"rv{secrets.token_hex(4)}",
                                              role=Role.TRADER)
            key = await admin.create_api_key(conn, CLI_ACTOR, pepper=PEPPER, user_id=user_id,
                                             label="revoked")
            await admin.set_permission(conn, CLI_ACTOR, api_key_id=key.id, account_id=account,
                                       flags=AccountFlags(can_trade=True))
        pro = OmsCcxtProExchange(api_key=key.plain, account_id=account, base_url=stack.base,
                                 timeout_seconds=20)
        try:
            await pro.load_markets()
            watcher = asyncio.create_task(pro.watch_orders())
            await pro.stream.start()
            assert pro.stream.mode == "ws"
            async with store.transaction() as conn:
                await admin.set_permission(conn, CLI_ACTOR, api_key_id=key.id,
                                           account_id=account, flags=AccountFlags(can_read=False))
            with pytest.raises(ccxt.AccountNotEnabled):
                await asyncio.wait_for(watcher, 5 + 5)
        finally:
            await pro.close()
    finally:
        await store.close()
