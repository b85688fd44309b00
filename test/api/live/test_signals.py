"""Signals end to end over HTTP with a real uvicorn server and a real worker (SQLite and
MariaDB): a signed webhook opens a position with TP/SL on paper and the take-profit closes it;
a wrong signature, an old timestamp and a replay are refused with clear errors and write
nothing; shadow mode (account and strategy) records without trading."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
import uvicorn
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from apps.api.app import create_app
from apps.api.ws.preframed import PreframedProtocol  # the protocol `ccxt-oms api` serves
from apps.oms.clock import iso_z, utcnow
from apps.oms.config import load_settings
from apps.oms.domain.access import AccountFlags, Role
from apps.oms.security.signatures import sign
from apps.oms.service import admin
from apps.oms.service.install import InstallRequest, install
from apps.oms.store.audit import CLI_ACTOR
from apps.oms.store.migrate import upgrade
from apps.oms.store.signal_tables import account_signal_secrets, signals
from apps.oms.store.store import Store
from apps.oms.store.strategies import create_strategy
from apps.oms.store.tables import audit_log, commands, deals, orders, outbox, positions
from apps.paper.store.tables import paper_balances, paper_fills, paper_orders
from apps.worker.main import Worker
from test.conftest import create_mysql_database, drop_mysql_database

PEPPER = "test-pepper-for-signal-tests-0123456789"
SECRET = "tv-" + secrets.token_urlsafe(32)
SWAP = "BTC/USDT:USDT"
D = Decimal


@dataclass
class Stack:
    client: httpx.AsyncClient
    store: Store
    account_id: int
    strategy_id: int
    admin: str
    trader: str
    risk: str
    readonly: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module", params=["sqlite", "mysql"])
def signals_url(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:  # fmt: skip
    """A database of its own: the in-process worker must not run other tests' commands."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('signals') / 'oms.sqlite3'}"
        upgrade(url)
        yield url
        return
    name, url = create_mysql_database("oms_signals")
    try:
        upgrade(url)
        yield url
    finally:
        drop_mysql_database(name)


async def _seed(store: Store) -> dict[str, Any]:
    tag = secrets.token_hex(3)
    done = await install(store, PEPPER, InstallRequest(admin_name=f"a{tag}", with_account=True,
                                                       user_name=f"t{tag}"))  # fmt: skip
    account_id = int(done["account"]["id"])
    keys = {}
    async with store.transaction() as conn:
        strategy_id = await create_strategy(conn, name=f"s{tag}", client_strategy_id=None,
                                            account_ids=[account_id], user_id=None, now=utcnow())
        for role, flags in (
            (Role.RISK, AccountFlags(can_risk_manage=True, can_block_new_positions=True)),
            (Role.READONLY, AccountFlags()),
        ):
            user = await admin.create_user(conn, CLI_ACTOR, name=f"{role.value}{tag}", role=role)
            key = await admin.create_api_key(conn, CLI_ACTOR, pepper=PEPPER, user_id=user,
                                             label=role.value)  # fmt: skip
            await admin.set_permission(conn, CLI_ACTOR, api_key_id=key.id, account_id=account_id,
                                       flags=flags)  # fmt: skip
            keys[role] = key.plain
    return {"account_id": account_id, "strategy_id": strategy_id,
            "admin": done["admin"]["api_key"]["plain"], "trader": done["api_key"]["plain"],
            "risk": keys[Role.RISK], "readonly": keys[Role.READONLY]}  # fmt: skip


@pytest.fixture(scope="module")
async def stack(signals_url: str) -> AsyncIterator[Stack]:
    settings = load_settings(
        env="prod",
        database={"url": signals_url},
        security={"api_key_pepper": PEPPER, "encryption_master_key": Fernet.generate_key().decode()},
        worker={"poll_min_ms": 2, "poll_max_ms": 20, "heartbeat_seconds": 1},
    )
    app = create_app(settings)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on", timeout_graceful_shutdown=5, ws=PreframedProtocol))
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.02)
    store: Store = app.state.store
    seeded = await _seed(store)
    worker_store = Store.from_url(signals_url, pool_size=4)
    stop = asyncio.Event()
    worker = asyncio.create_task(Worker(settings, worker_store).run(stop))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            yield Stack(client, store, **seeded)
    finally:
        stop.set()
        await asyncio.wait_for(worker, 60)
        await worker_store.close()
        server.should_exit = True
        await asyncio.wait_for(serving, 30)


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 90) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not await check():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


def body_of(**fields: Any) -> bytes:
    signal = {"symbol": SWAP, "side": "buy", "signal_id": f"tv-{secrets.token_hex(6)}",
              "timestamp": iso_z(utcnow()), **fields}  # fmt: skip
    return json.dumps(signal).encode()


async def post_signed(s: Stack, body: bytes, signature: str | None = None,
                      in_query: bool = False) -> httpx.Response:  # fmt: skip
    sig = signature if signature is not None else sign(SECRET, body)
    headers = {"content-type": "application/json"}
    if in_query:
        return await s.client.post(f"/signals/{s.account_id}?signature={sig}", content=body,
                                   headers=headers)  # fmt: skip
    return await s.client.post(f"/signals/{s.account_id}", content=body,
                               headers={**headers, "x-oms-signature": sig})  # fmt: skip


async def counts(s: Stack) -> dict[str, Any]:
    """Rows that a signal or command may write: books, venue, queue, stream, signals."""
    out: dict[str, Any] = {}
    async with s.store.read() as conn:
        for name, table in (("signals", signals), ("commands", commands), ("orders", orders),
                            ("positions", positions), ("deals", deals),
                            ("paper_orders", paper_orders), ("paper_fills", paper_fills),
                            ("outbox", outbox)):  # fmt: skip
            out[name] = (await conn.execute(select(func.count()).select_from(table).where(
                table.c.account_id == s.account_id))).scalar_one()  # fmt: skip
        rows = await conn.execute(select(paper_balances).where(
            paper_balances.c.account_id == s.account_id))  # fmt: skip
        out["balances"] = sorted(tuple(sorted(dict(r).items())) for r in rows.mappings())
    return out


async def settled(s: Stack, command_id: int) -> None:
    """Wait until the worker finished the command (its writes are done)."""

    async def done() -> bool:
        async with s.store.read() as conn:
            status = (await conn.execute(select(commands.c.status).where(
                commands.c.id == command_id))).scalar_one()  # fmt: skip
        return status in ("completed", "failed")

    await eventually(done)


def error_of(resp: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = resp.json()["error"]
    assert set(body) >= {"code", "message", "details", "trace_id"}
    assert body["message"]
    return body


async def set_price(s: Stack, price: str) -> None:
    resp = await s.client.post("/paper/prices", json={"symbol": SWAP, "price": price},
                               headers={"x-api-key": s.trader})  # fmt: skip
    assert resp.status_code == 200, resp.text


async def set_secret(s: Stack) -> None:
    resp = await s.client.put(f"/admin/accounts/{s.account_id}/signal-secret",
                              json={"secret": SECRET}, headers={"x-api-key": s.admin})
    assert resp.status_code == 200, resp.text
    assert resp.json()["has_signal_secret"] is True
    assert SECRET not in resp.text


async def test_signed_webhook_opens_a_position_with_tp_sl_and_tp_closes_it(stack: Stack) -> None:
    s = stack
    await set_secret(s)
    async with s.store.read() as conn:  # write-only and encrypted at rest
        stored = (await conn.execute(select(account_signal_secrets.c.secret).where(
            account_signal_secrets.c.account_id == s.account_id))).scalar_one()  # fmt: skip
    assert stored.startswith("enc:v1:")
    assert SECRET not in stored
    listed = await s.client.get("/admin/accounts", headers={"x-api-key": s.admin})
    assert SECRET not in listed.text
    await set_price(s, "52000")
    # limit buy at 52100 (marketable): its own price is the reference of the targets
    body = body_of(order_type="limit", price="52100", notional="1042", tp_pct="5", sl_pct="2",
                   reason="tv: breakout")  # fmt: skip
    resp = await post_signed(s, body, in_query=True)
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["signal"]["status"] == "accepted"
    assert out["shadow"] is False
    order_id = out["order_id"]

    async def filled() -> bool:
        async with s.store.read() as conn:
            row = (await conn.execute(select(orders).where(orders.c.id == order_id))).mappings().one()
        return bool(row["status"] == "FILLED")

    await eventually(filled)
    async with s.store.read() as conn:
        order = (await conn.execute(select(orders).where(orders.c.id == order_id))).mappings().one()
        pos = (await conn.execute(select(positions).where(
            positions.c.id == order["position_id"]))).mappings().one()  # fmt: skip
    assert order["reason"] == "signal"
    assert order["comment"] == "tv: breakout"
    assert order["qty"] == D("0.02")  # 1042 / 52100, step 0.0001
    assert order["stop_gain"] == D("54705.0")
    assert order["stop_loss"] == D("51058.0")
    assert pos["is_open"]
    assert pos["qty"] == D("0.02")
    assert pos["stop_gain"] == D("54705.0")
    assert pos["stop_loss"] == D("51058.0")
    # readers see the signal with its outcome
    listed = await s.client.get(f"/signals/{s.account_id}", headers={"x-api-key": s.readonly})
    assert listed.status_code == 200, listed.text
    first = listed.json()["items"][0]
    assert first["status"] == "accepted"
    assert first["command_id"] == out["command_id"]
    assert first["auth"] == "signature"
    assert first["body"]["notional"] == "1042"
    # the take-profit closes the position by itself once the market crosses it
    await set_price(s, "56000")

    async def closed() -> bool:
        async with s.store.read() as conn:
            row = (await conn.execute(select(positions).where(
                positions.c.id == pos["id"]))).mappings().one()  # fmt: skip
        return not row["is_open"]

    await eventually(closed)
    async with s.store.read() as conn:
        reasons = set((await conn.execute(select(orders.c.reason).where(
            orders.c.position_id == pos["id"]))).scalars())  # fmt: skip
    assert reasons == {"signal", "take_profit"}


async def test_wrong_signature_old_timestamp_and_replay_write_nothing(stack: Stack) -> None:
    s = stack
    await set_secret(s)
    await set_price(s, "52000")
    good = body_of(qty="0.001")
    accepted = await post_signed(s, good)
    assert accepted.status_code == 200, accepted.text
    await settled(s, accepted.json()["command_id"])
    before = await counts(s)
    # a wrong signature (another secret), a signature of another body, a missing signature
    for sig in (sign("x" * 40, good), sign(SECRET, good + b" "), "nothex"):
        resp = await post_signed(s, good, sig)
        assert resp.status_code == 401, resp.text
        assert error_of(resp)["code"] == "invalid_signature"
    resp = await s.client.post(f"/signals/{s.account_id}", content=body_of(qty="0.001"))
    assert resp.status_code == 401
    assert error_of(resp)["code"] == "missing_api_key"
    # an old (correctly signed) timestamp, and one from the future
    for shift in (timedelta(hours=-1), timedelta(hours=1)):
        old = body_of(qty="0.001", timestamp=iso_z(utcnow() + shift))
        resp = await post_signed(s, old)
        assert resp.status_code == 422, resp.text
        err = error_of(resp)
        assert err["code"] in ("signal_expired", "signal_from_future")
        assert err["details"]["window_seconds"] == 300
    # a replay of the accepted signal, byte for byte (a valid signature)
    resp = await post_signed(s, good)
    assert resp.status_code == 409, resp.text
    err = error_of(resp)
    assert err["code"] == "signal_replayed"
    assert err["details"]["command_id"] == accepted.json()["command_id"]
    # a signed signal without replay protection, and malformed bodies
    for bad in (json.dumps({"symbol": SWAP, "side": "buy", "qty": "0.001"}).encode(),
                b'{"symbol": ', body_of(qty="0.1", notional="5"), body_of(qty="-1")):
        resp = await post_signed(s, bad)
        assert resp.status_code == 422, resp.text
        assert error_of(resp)["code"] == "validation_error"
    assert await counts(s) == before


async def test_refusal_after_intake_is_stored_with_its_reason(stack: Stack) -> None:
    s = stack
    await set_secret(s)
    before = await counts(s)
    resp = await post_signed(s, body_of(symbol="NOPE/USDT", qty="1"))
    assert resp.status_code == 422, resp.text
    err = error_of(resp)
    assert err["code"] == "unsupported_market"
    row_id = err["details"]["signal"]["id"]
    after = await counts(s)
    assert after["signals"] == before["signals"] + 1
    assert {k: v for k, v in after.items() if k != "signals"} == {
        k: v for k, v in before.items() if k != "signals"}
    listed = await s.client.get(f"/signals/{s.account_id}?status=refused",
                                headers={"x-api-key": s.trader})  # fmt: skip
    item = next(i for i in listed.json()["items"] if i["id"] == row_id)
    assert item["error"]["code"] == "unsupported_market"
    assert item["command_id"] is None


async def test_api_key_signal_and_permissions(stack: Stack) -> None:
    s = stack
    await set_price(s, "52000")
    body = json.dumps({"symbol": SWAP, "side": "sell", "qty": "0.001", "tp_pct": "1"}).encode()
    resp = await s.client.post(f"/signals/{s.account_id}", content=body,
                               headers={"x-api-key": s.readonly})  # fmt: skip
    assert resp.status_code == 403, resp.text
    resp = await s.client.post(f"/signals/{s.account_id}", content=body,
                               headers={"x-api-key": s.trader})  # fmt: skip
    assert resp.status_code == 200, resp.text
    await settled(s, resp.json()["command_id"])
    async with s.store.read() as conn:
        row = (await conn.execute(select(signals).where(
            signals.c.id == resp.json()["signal"]["id"]))).mappings().one()  # fmt: skip
    assert row["auth"] == "api_key"
    assert row["api_key_id"] is not None


async def _risk(s: Stack, path: str, **body: Any) -> dict[str, Any]:
    resp = await s.client.post(f"/oms/risk/{s.account_id}/{path}", json=body,
                               headers={"x-api-key": s.risk})  # fmt: skip
    assert resp.status_code == 200, resp.text
    out: dict[str, Any] = resp.json()
    return out


async def _shadow_command(s: Stack, command_id: int) -> dict[str, Any]:
    async with s.store.read() as conn:
        row = (await conn.execute(select(commands).where(commands.c.id == command_id))
               ).mappings().one()  # fmt: skip
        events = list((await conn.execute(select(outbox.c.event, outbox.c.payload).where(
            outbox.c.account_id == s.account_id, outbox.c.event == "command_shadowed"))).all())
    assert row["status"] == "completed"
    assert row["order_id"] is None
    assert row["attempts"] == 0
    assert row["started_at"] is None
    assert row["result"]["shadow"] is True
    payload = [p if isinstance(p, dict) else json.loads(p) for _e, p in events]
    assert any(p["command_id"] == command_id for p in payload)
    return dict(row)


async def test_shadow_mode_records_without_trading(stack: Stack) -> None:
    s = stack
    await set_secret(s)
    await set_price(s, "52000")
    changed = await _risk(s, "shadow", shadow=True, comment="dry run of the TV strategy")
    assert changed["shadow"] is True
    assert changed["previous"] is False
    try:
        before = await counts(s)
        resp = await post_signed(s, body_of(notional="520", tp_pct="2", sl_pct="1"))
        assert resp.status_code == 200, resp.text
        out = resp.json()
        assert out["shadow"] is True
        assert out["signal"]["status"] == "shadowed"
        assert out["order_id"] is None
        assert out["status"] == "completed"
        row = await _shadow_command(s, out["command_id"])
        would = row["result"]["would_send"]
        assert row["result"]["scope"] == "account"
        assert would["reason"] == "signal"
        assert D(would["qty"]) > 0
        assert D(would["stop_loss"]) < D(would["stop_gain"])
        # a plain command is shadowed too, and a risk refusal is still a refusal
        cmd = await s.client.post("/oms/commands", headers={"x-api-key": s.trader}, json={
            "account_id": s.account_id, "command": "send_order",
            "payload": {"symbol": SWAP, "side": "buy", "qty": "0.001"}})  # fmt: skip
        assert cmd.status_code == 200, cmd.text
        item = cmd.json()["results"][0]
        assert item["shadow"] is True
        assert item["order_id"] is None
        await _shadow_command(s, item["command_id"])
        after = await counts(s)
        assert after["balances"] == before["balances"]
        for table in ("orders", "positions", "deals", "paper_orders", "paper_fills"):
            assert after[table] == before[table], table
        assert after["commands"] == before["commands"] + 2
        assert after["signals"] == before["signals"] + 1
    finally:
        await _risk(s, "shadow", shadow=False, comment="back to live")
    async with s.store.read() as conn:
        actions = list((await conn.execute(select(audit_log.c.action, audit_log.c.comment).where(
            audit_log.c.action == "risk_shadow"))).all())  # fmt: skip
    assert ("risk_shadow", "dry run of the TV strategy") in actions


async def test_strategy_shadow_covers_that_strategy_only(stack: Stack) -> None:
    s = stack
    await set_price(s, "52000")
    await _risk(s, "strategies/shadow", strategy_id=s.strategy_id, shadow=True, comment="paper")
    try:
        listed = await s.client.get(f"/oms/risk/{s.account_id}/strategies",
                                    headers={"x-api-key": s.risk})  # fmt: skip
        assert listed.json()["items"][0]["shadow"] is True
        send = {"symbol": SWAP, "side": "buy", "qty": "0.001"}
        resp = await s.client.post("/oms/commands", headers={"x-api-key": s.trader}, json=[
            {"account_id": s.account_id, "command": "send_order",
             "payload": {**send, "strategy_id": s.strategy_id}},
            {"account_id": s.account_id, "command": "send_order", "payload": send}])  # fmt: skip
        assert resp.status_code == 200, resp.text
        shadowed, real = resp.json()["results"]
        assert shadowed.get("shadow") is True
        assert shadowed["order_id"] is None
        assert "shadow" not in real
        assert real["order_id"] is not None
        row = await _shadow_command(s, shadowed["command_id"])
        assert row["result"]["scope"] == "strategy"
    finally:
        await _risk(s, "strategies/shadow", strategy_id=s.strategy_id, shadow=False,
                    comment="live")  # fmt: skip


async def test_concurrent_copies_of_one_signal_trade_once(stack: Stack) -> None:
    s = stack
    await set_secret(s)
    await set_price(s, "52000")
    body = body_of(qty="0.001")
    before = await counts(s)
    answers = await asyncio.gather(*(post_signed(s, body) for _ in range(4)))
    codes = sorted(r.status_code for r in answers)
    assert codes == [200, 409, 409, 409], [r.text for r in answers]
    assert {error_of(r)["code"] for r in answers if r.status_code == 409} == {"signal_replayed"}
    [ok] = [r.json() for r in answers if r.status_code == 200]
    await settled(s, ok["command_id"])
    after = await counts(s)
    assert after["signals"] == before["signals"] + 1
    assert after["commands"] == before["commands"] + 1
    assert after["orders"] == before["orders"] + 1
