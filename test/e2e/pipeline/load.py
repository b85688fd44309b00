"""A mixed command load over HTTP for the reliability tests: market and limit sends, cancels
(of queued and of resting orders), changes, cancel-all, price moves that fill resting limits,
close_position, position_change, and in hedge accounts close_by and merge_positions; on
Binance spot, the exchange's own OCO too.

Every command carries a `request_id`; with `retry=True` a request that hit a connection error is
re-sent unchanged until an API answers, and a repeat must return the first command."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable
from typing import Any

import httpx

from .conftest import SYMBOL, Stack

PRICES = ["50000", "49890", "50000", "50110"]  # 49890 fills buys at 49900, 50110 sells at 50100


RETRY_SECONDS = 300  # a client keeps re-sending this long (an API restart on a loaded machine)

class Unavailable(Exception):
    """The API answered 503 (`store_unavailable`): the store takes no writes right now."""


class Load:
    def __init__(self, stack: Stack, modes: dict[int, str], *, seed: int = 1,
                 retry: bool = False, retry_unavailable: bool = False,
                 timeout: float = 20, symbol: str = SYMBOL,
                 set_price: Callable[[str], None] | None = None,
                 venue_oco: bool = False) -> None:
        self.stack, self.modes, self.retry = stack, modes, retry
        # the market traded, and how a price is set on its venue: the paper venue's by the
        # gateway's `POST /paper/prices`; a venue at the wire's by its own admin surface
        self.symbol, self.set_price = symbol, set_price
        # a 503 is re-sent unchanged too (a store that takes no writes for a while: HA tests)
        self.retry_unavailable = retry_unavailable
        self.timeout = timeout
        self.unavailable = 0  # 503 answers re-sent
        self.transport_errors = 0  # requests that got no HTTP answer at all
        self.rng = random.Random(seed)
        self.ids = itertools.count(1)
        self.accepted: list[int] = []
        self.acked: dict[tuple[int, str], int] = {}  # (account, request_id) -> command id
        self.retries = 0
        self.refused: list[str] = []
        self.prices = itertools.cycle(PRICES)
        # each round also sells through the venue's own OCO (Binance spot's order list): a
        # limit 300 above the last price, which the prices never reach, and a stop 60 below
        # it, which the next lower price fires (the exchange then expires the limit)
        self.venue_oco = venue_oco
        self.last_price: int | None = None  # the last price set (None: the venue's own)

    def body(self, account_id: int, command: str, **payload: Any) -> dict[str, Any]:
        return {"account_id": account_id, "command": command,
                "request_id": f"r{next(self.ids)}", "payload": payload}

    def post(self, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        deadline = time.monotonic() + RETRY_SECONDS
        while True:
            try:
                response = self.stack.client.post("/oms/commands", json=bodies,
                                                  timeout=self.timeout)
            except httpx.TransportError:
                self.transport_errors += 1
                if not self.retry or time.monotonic() > deadline:
                    raise
                self.retries += 1
                time.sleep(0.1)
                continue
            if self._unavailable(response, deadline):
                continue
            break
        data = response.json()
        if response.status_code in (200, 207):
            items = data["results"]
        else:
            error = data["error"]
            assert error["code"] != "conflict", error  # a retry never conflicts with itself
            assert response.status_code < 500, response.text
            items = error["details"].get("results", [])
            self.refused.append(error["code"])
        for body, item in zip(bodies, items, strict=False):
            # a command id means it is stored (also a cancel refused as failed at acceptance)
            if item["command_id"] is not None:
                key = (body["account_id"], body["request_id"])
                if key in self.acked:  # a retried request: the first command, never a second
                    assert self.acked[key] == item["command_id"], (key, item)
                else:
                    self.acked[key] = item["command_id"]
                    self.accepted.append(item["command_id"])
            if not item["ok"]:
                self.refused.append((item.get("error") or {}).get("code", "?"))
        return list(items)

    def send_round(self, account_id: int) -> None:
        m, symbol = "market", self.symbol
        first = [
            self.body(account_id, "send_order", symbol=symbol, side="buy", order_type=m,
                      qty="0.002"),
            self.body(account_id, "send_order", symbol=symbol, side="sell", order_type=m,
                      qty="0.001"),
            self.body(account_id, "send_order", symbol=symbol, side="sell", order_type=m,
                      qty="0.002"),
            self.body(account_id, "send_order", symbol=symbol, side="buy", order_type=m,
                      qty="0.001"),
            *(self.body(account_id, "send_order", symbol=symbol, side=side,
                        order_type="limit", qty="0.001", price=price)
              for side, price in (("buy", "49900"), ("buy", "49800"), ("sell", "50100"),
                                  ("buy", "49700"))),
        ]
        if self.venue_oco and self.last_price is not None:
            first.append(self.body(account_id, "send_order", symbol=symbol, side="sell",
                                   order_type="limit", qty="0.001",
                                   price=str(self.last_price + 300), emulation="venue",
                                   oco_orders=[{"stop_price": str(self.last_price - 60)}]))

        items = self.post(first)
        orders = [i["order_id"] for i in items[4:8] if i["ok"]]
        second = []
        if len(orders) == 4:
            second = [
                self.body(account_id, "cancel_order", order_id=orders[1]),
                self.body(account_id, "change_order", order_id=orders[3], new_price="49850"),
                self.body(account_id, "cancel_order", order_ids=[orders[0], orders[2]]),
            ]
            if self.rng.random() < 0.3:
                second.append(self.body(account_id, "cancel_all_orders", symbol=symbol))
        if second:
            self.post(second)

    def _unavailable(self, response: httpx.Response, deadline: float) -> bool:
        """A 503 to re-send (after a pause) when the load retries them."""
        if response.status_code != 503 or not self.retry_unavailable:
            return False
        assert response.json()["error"]["code"] == "store_unavailable", response.text
        assert time.monotonic() < deadline, "the store stayed unavailable"
        self.unavailable += 1
        time.sleep(0.1)
        return True

    def _checked(self, response: httpx.Response) -> Any:
        if response.status_code == 503 and self.retry_unavailable:
            raise Unavailable(response.text)
        assert response.status_code == 200, response.text
        return response.json()

    def position_round(self, account_id: int) -> None:
        open_ = self._retrying(lambda: self._checked(self.stack.client.get(
            "/oms/positions/open", params={"account_ids": account_id},
            timeout=self.timeout)))["items"]
        open_ = [p for p in open_ if p["state"] == "open"]
        bodies = []
        longs = [p for p in open_ if p["side"] == "buy"]
        shorts = [p for p in open_ if p["side"] == "sell"]
        if self.modes[account_id] == "hedge":
            if longs and shorts:
                bodies.append(self.body(account_id, "close_by", position_id_a=longs[0]["id"],
                                        position_id_b=shorts[0]["id"]))
            if len(longs) >= 3:
                bodies.append(self.body(account_id, "merge_positions",
                                        source_position_id=longs[1]["id"],
                                        target_position_id=longs[2]["id"]))
        for p in open_[-2:]:
            low, high = ("40000", "60000") if p["side"] == "buy" else ("60000", "40000")
            if self.rng.random() < 0.5:
                bodies.append(self.body(account_id, "position_change", position_id=p["id"],
                                        oms_stop_loss=low, oms_stop_gain=high))
            else:
                bodies.append(self.body(account_id, "close_position", position_id=p["id"]))
        if bodies:
            self.post(bodies)

    def move_price(self) -> None:
        price = next(self.prices)
        self.last_price = int(price)
        if self.set_price is not None:
            self.set_price(price)
            return
        self._retrying(lambda: self._checked(self.stack.client.post(
            "/paper/prices", json={"symbol": self.symbol, "price": price},
            headers={"x-api-key": self.stack.admin_key}, timeout=self.timeout)))

    def _retrying(self, call: Callable[[], Any]) -> Any:
        deadline = time.monotonic() + RETRY_SECONDS
        while True:
            try:
                return call()
            except httpx.TransportError:
                self.transport_errors += 1
                if not self.retry or time.monotonic() > deadline:
                    raise
                self.retries += 1
                time.sleep(0.1)
            except Unavailable:
                assert time.monotonic() < deadline, "the store stayed unavailable"
                self.unavailable += 1
                time.sleep(0.1)

    def run(self, commands: int, *, while_: Callable[[], bool] = lambda: False,
            pause: float = 0) -> None:
        """Rounds over every account until at least `commands` were accepted and `while_()` no
        longer holds (a chaos thread still at work keeps the load going, so its kills land under
        load however fast the machine drains the fixed part); `pause` seconds between rounds
        paces the load to a venue slower than the paper one (a venue at the wire)."""
        n = 0
        while len(self.accepted) < commands or while_():
            for account_id in self.modes:
                self.send_round(account_id)
                if n % 2 == 1:
                    self.position_round(account_id)
            self.move_price()
            n += 1
            time.sleep(pause)
