"""Property: after a random (seeded) sequence of mixed commands, worker kills (SIGKILL, restart)
and dropped database connections of the API (its outbox tailer reconnects), the API's in-memory
read model answers `GET /oms/orders/open` and `/oms/positions/open` with exactly the bytes the
store path gives (a second API process with the read model off). And read-your-writes: a resting
limit order just accepted through the model's API is in its very next open-orders read."""

from __future__ import annotations

import contextlib
import functools
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pymysql
import pytest

from .conftest import SYMBOL, TERMINAL, Stack, free_port, make_stack
from .load import Load

pytestmark = [pytest.mark.mysql, pytest.mark.slow, pytest.mark.reliability, pytest.mark.timeout(300)]
MODES = ["hedge", "netting", "strategy_netting"]


def kill_connections(stack: Stack) -> int:
    """Kill every server connection to this test's database (API, store API and worker)."""
    with (
        pymysql.connect(host="127.0.0.1", user="root", password="", autocommit=True) as conn,
        conn.cursor() as cur,
    ):
        cur.execute(
            "SELECT id FROM information_schema.processlist WHERE db = %s AND id <> CONNECTION_ID()",
            (stack.name,),
        )
        ids = [int(row[0]) for row in cur.fetchall()]
        for connection_id in ids:
            with contextlib.suppress(pymysql.err.OperationalError):  # already gone
                cur.execute(f"KILL {connection_id}")
        return len(ids)


def absorb_stale_pool(client: httpx.Client, account_ids: list[int]) -> None:
    """The pool learns that its connections died on the first request that uses one (it then
    drops them all; engine.py: no pre-ping): that request fails, as documented, and a client
    retries it. Make that request here (a store read), not in the middle of the load."""
    params = {"account_ids": ",".join(map(str, account_ids))}
    for _ in range(5):
        try:
            if client.get("/oms/orders/history", params=params).status_code == 200:
                return
        except httpx.TransportError:  # the failed request may also end in a reset connection
            time.sleep(0.1)
    raise AssertionError("the API did not recover from dropped connections")


def start_store_api(stack: Stack, tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A second API on the same store with the read model off: the store path."""
    port = free_port()
    env = {**stack.env(), "OMS_API_PORT": str(port), "OMS_API__READ_MODEL": "false"}
    with (tmp / "store-api.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "apps.cli", "api"], cwd=tmp, env=env, stdout=log, stderr=log
        )
    stack.all_procs.append(proc)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                return proc, base
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("store API did not start")


def bodies(client: httpx.Client, account_ids: list[int]) -> tuple[bytes, bytes]:
    params = {"account_ids": ",".join(map(str, account_ids)), "limit": "5000"}
    out = []
    for path in ("/oms/orders/open", "/oms/positions/open"):
        response = client.get(path, params=params)
        assert response.status_code == 200, response.text
        out.append(response.content)
    return out[0], out[1]


def read_your_write(stack: Stack, account_id: int, price: str) -> None:
    item = stack.cmd(account_id, "send_order", wait=False, symbol=SYMBOL, side="buy",
                     order_type="limit", qty="0.001", price=price)  # fmt: skip
    listed = stack.get("/oms/orders/open", account_ids=account_id, limit=5000)["items"]
    assert item["order_id"] in [o["id"] for o in listed], "accepted order missing from the read"


@pytest.mark.parametrize("seed", [11, 23])
def test_read_model_equals_store_after_commands_kills_and_reconnects(
    tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    with make_stack(tmp_path, workers=1) as stack:
        ids = stack.accounts(MODES)
        modes = dict(zip(ids, MODES, strict=True))
        stack.price("50000")
        _store_api, store_base = start_store_api(stack, tmp_path)
        load = Load(stack, modes, seed=seed, retry=True)
        kills = reconnects = 0
        for step in range(12):
            account_id = rng.choice(ids)
            action = rng.random()
            if action < 0.45:
                load.send_round(account_id)
            elif action < 0.7:
                load.position_round(account_id)
            elif action < 0.8:
                load.move_price()
            elif action < 0.9 and stack.workers:
                stack.kill(stack.workers[0], signal.SIGKILL)
                stack.start_worker()
                kills += 1
            else:
                reconnects += 1 if kill_connections(stack) else 0
                absorb_stale_pool(stack.client, ids)
            if step % 4 == 3:  # a deep resting buy: never filled by the load's prices
                load._retrying(functools.partial(read_your_write, stack, account_id, "30000"))
        if kills == 0:  # every run has at least one kill and one reconnect
            stack.kill(stack.workers[0], signal.SIGKILL)
            stack.start_worker()
        if reconnects == 0:
            kill_connections(stack)
            absorb_stale_pool(stack.client, ids)
        load.send_round(ids[0])

        def all_done() -> bool:
            for start in range(0, len(load.accepted), 400):
                chunk = ",".join(map(str, load.accepted[start : start + 400]))
                items = stack.get(f"/oms/commands/{chunk}")["items"]
                if any(c["status"] not in TERMINAL for c in items):
                    return False
            return True

        stack.until(all_done, 120, "every accepted command finished")
        with httpx.Client(base_url=store_base, timeout=30,
                          headers={"x-api-key": stack.trader_key}) as store_client:  # fmt: skip

            def equal() -> bool:
                try:
                    model = bodies(stack.client, ids)
                    store = bodies(store_client, ids)
                    # settled: the store did not move between the two reads
                    return model == store and store == bodies(store_client, ids)
                except httpx.TransportError:
                    return False

            stack.until(equal, 60, "read model equals the store")
            orders, _positions = bodies(stack.client, ids)
            assert orders.count(b'"id":') > 0  # the resting buys at least
            history = stack.get("/oms/positions/history", account_ids=",".join(map(str, ids)))
            assert history["total"] > 0  # positions were opened (and maybe closed) on the way
