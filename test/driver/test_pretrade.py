"""Issue 53: the pre-trade controls reach a bot through the driver as CCXT's classes: a price
collar refusal is `InvalidOrder` (the driver's `RiskBlocked`, with the rule's details), the
command rate `RateLimitExceeded`."""

from __future__ import annotations

from datetime import UTC, datetime

import ccxt
import pytest
from sqlalchemy import create_engine, insert

from apps.oms.store.tables import risk_limits
from ccxt_driver import OmsCcxtExchange, RiskBlocked
from test.driver.conftest import SYMBOL, Stack

pytestmark = pytest.mark.mysql


def limits(stack: Stack, account: int, **values: object) -> None:
    engine = create_engine(stack.url.replace("+aiomysql", "+pymysql"))
    with engine.begin() as conn:
        conn.execute(insert(risk_limits).values(account_id=account, strategy_id=0,
                                                updated_at=datetime.now(UTC), **values))
    engine.dispose()


def test_controls_raise_ccxt_classes(ex: OmsCcxtExchange, stack: Stack, account: int) -> None:
    limits(stack, account, price_collar_bps=50, max_commands_per_minute=1)
    with pytest.raises(RiskBlocked) as collared:
        ex.create_order(SYMBOL, "limit", "buy", 0.1, 101)  # 100 bps through the last price 100
    assert isinstance(collared.value, ccxt.InvalidOrder)
    details = getattr(collared.value, "details", {})
    assert (details["rule"], details["limit"], details["value"]) == ("price_collar", "50", "100")
    # one command a minute: of three in a row at most one starts a new minute, so one of the
    # last two is refused whatever the clock
    refused = []
    for price in (99, 98, 97):
        try:
            ex.create_order(SYMBOL, "limit", "buy", 0.1, price)
        except ccxt.RateLimitExceeded as exc:
            refused.append(exc)
    assert refused
    assert getattr(refused[0], "details", {})["rule"] == "max_commands_per_minute"
