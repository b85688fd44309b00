"""Regression: a strategy-restricted key's `cancel_all_orders` cancels only its strategies' orders
(it used to cancel every open order of the account)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from apps.oms.clock import utcnow
from apps.oms.config import Settings
from apps.oms.domain.access import AccountFlags, Role
from apps.oms.errors import OmsError
from apps.oms.security.principal import Principal
from apps.oms.service.submit import submit
from apps.oms.store.strategies import create_strategy

from .conftest import Harness


def robot(account_id: int, strategies: set[int]) -> Principal:
    flags = AccountFlags(can_trade=True, can_close_position=True, restrict_to_strategies=True,
                         strategy_ids=frozenset(strategies))
    return Principal(2, "robot", Role.ROBOT, 2, "api_key", None, "robot", {account_id: flags})


async def as_robot(h: Harness, principal: Principal, account_id: int, **payload: Any
                   ) -> dict[str, Any]:
    body = {"account_id": account_id, "command": "cancel_all_orders", "payload": payload}
    _, result = await submit(h.store, Settings(), principal, body, wait=False)
    item: dict[str, Any] = result["results"][0]
    return item


async def _strategies(h: Harness, acct: int) -> tuple[int, int]:
    async with h.store.transaction() as conn:
        return tuple([await create_strategy(  # type: ignore[return-value]
            conn, name=name, client_strategy_id=None, account_ids=[acct], user_id=None,
            now=utcnow()) for name in ("mine", "theirs")])


async def _tidy(h: Harness, acct: int) -> None:
    """Leave no resting order behind (later tests run workers over every account)."""
    await h.send(acct, "cancel_all_orders")
    await h.drain(acct)


async def _resting(h: Harness, acct: int, strategy_id: int) -> int:
    item = await h.send(acct, "send_order", symbol="SOL/USDT:USDT", side="sell",
                        order_type="limit", qty="1", price="160", strategy_id=strategy_id)
    assert item["ok"], item
    return int(item["order_id"])


async def test_restricted_cancel_all_leaves_other_strategies(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    acct = await h.account("hedge")
    await h.price("SOL/USDT:USDT", "150")
    s_mine, s_theirs = await _strategies(h, acct)
    mine, theirs, none = (await _resting(h, acct, s_mine), await _resting(h, acct, s_theirs),
                          await _resting(h, acct, 0))
    await h.drain(acct)
    item = await as_robot(h, robot(acct, {s_mine}), acct, symbol="SOL/USDT:USDT")
    assert item["ok"], item
    await h.drain(acct)
    assert (await h.order(mine))["status"] == "CANCELED"
    assert (await h.order(theirs))["status"] != "CANCELED"
    assert (await h.order(none))["status"] != "CANCELED"
    stored = await h.command(item["command_id"])
    assert stored["payload"]["strategy_ids"] == [s_mine]
    await _tidy(h, acct)


async def test_restricted_key_without_strategies_cancels_nothing(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    acct = await h.account("hedge")
    await h.price("SOL/USDT:USDT", "150")
    _, s_theirs = await _strategies(h, acct)
    other = await _resting(h, acct, s_theirs)
    await h.drain(acct)
    item = await as_robot(h, robot(acct, set()), acct)
    assert item["ok"], item
    assert item["status"] == "completed"
    await h.drain(acct)
    assert (await h.order(other))["status"] != "CANCELED"
    await _tidy(h, acct)


async def test_restricted_key_naming_foreign_strategy_is_refused(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    acct = await h.account("hedge")
    body = {"account_id": acct, "command": "cancel_all_orders",
            "payload": {"strategy_ids": [8]}}
    with pytest.raises(OmsError) as refused:
        await submit(h.store, Settings(), robot(acct, {7}), body, wait=False)
    assert refused.value.code == "strategy_permission_denied"
