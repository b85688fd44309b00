"""The driver's answers that need no gateway: Binance's maintenance amount (`cum`) of leverage
tiers, and the translation of gateway results into CCXT's leverage-tier, trading-fee and
funding-history structures (plans driven by hand with the gateway's answers)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ccxt_driver import OmsCcxtExchange, identity, plans
from ccxt_driver.plans import Call, Plan

RATES = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("0.5"), places=4)


def drive(plan: Plan[Any], *answers: Any) -> tuple[list[Call], Any]:
    """Run a plan, answering its gateway calls in order; the calls it made and its result."""
    calls = [next(plan)]
    try:
        for answer in answers:
            calls.append(plan.send(answer))
    except StopIteration as stop:
        return calls, stop.value
    raise AssertionError(f"the plan asked for more than {len(answers)} answers: {calls}")


def result(value: Any) -> dict[str, Any]:
    """The gateway's answer to `POST /ccxt/{account_id}/{func}`."""
    return {"ok": True, "result": value}


def exchange(standing_for: str | None = None) -> OmsCcxtExchange:
    ex = OmsCcxtExchange({"apiKey": "k", "accountId": 3, "strategyId": 5})
    if standing_for:
        ex.oms_identity = (standing_for, standing_for.title())
    ex.markets = {"BTC/USDT:USDT": {"settle": "USDT", "quote": "USDT", "contractSize": 1.0}}
    return ex


@given(st.lists(st.tuples(st.integers(1, 10**7), RATES), min_size=1, max_size=8))
def test_binance_cum_keeps_the_maintenance_margin_continuous(steps: list[Any]) -> None:
    """Maintenance margin of a notional N in tier i is N x rate_i - cum_i; at each tier's floor
    it equals the previous tier's (Binance's definition of `cum`), and the first tier's is 0."""
    floors = [Decimal(0)]
    for width, _ in steps[1:]:
        floors.append(floors[-1] + width)
    tiers = [{"minNotional": str(f), "maintenanceMarginRate": str(r)}
             for f, (_, r) in zip(floors, steps, strict=True)]
    cum = [Decimal(c) for c in identity.binance_cum(tiers)]
    assert cum[0] == 0
    for i in range(1, len(tiers)):
        floor = floors[i]
        here = floor * Decimal(tiers[i]["maintenanceMarginRate"]) - cum[i]
        below = floor * Decimal(tiers[i - 1]["maintenanceMarginRate"]) - cum[i - 1]
        assert here == below


def test_binance_cum_of_binances_published_btcusdt_tiers() -> None:
    tiers = [{"minNotional": f, "maintenanceMarginRate": r} for f, r in
             (("0", "0.004"), ("50000", "0.005"), ("600000", "0.0065"), ("3000000", "0.01"))]
    assert identity.binance_cum(tiers) == ["0", "50", "950", "11450"]


TIER = {"tier": "1", "symbol": "BTC/USDT:USDT", "currency": "USDT", "minNotional": "0",
        "maxNotional": "50000", "maintenanceMarginRate": "0.005", "maxLeverage": "100",
        "info": {"bracket": "1"}}  # fmt: skip


def test_leverage_tiers_are_ccxt_numbers_with_cum_when_standing_for_binance() -> None:
    second = {**TIER, "tier": "2", "minNotional": "50000", "maxNotional": "250000",
              "maintenanceMarginRate": "0.01", "maxLeverage": "50"}
    answer = {"BTC/USDT:USDT": [TIER, second]}
    calls, plain = drive(plans.fetch_leverage_tiers(exchange(), None, None), result(answer))
    assert calls[0].path == "/ccxt/3/fetch_leverage_tiers"
    tiers = plain["BTC/USDT:USDT"]
    assert [t["maxLeverage"] for t in tiers] == [100.0, 50.0]
    assert tiers[1]["minNotional"] == 50000.0
    assert "cum" not in tiers[1]["info"]
    _, binance = drive(plans.fetch_leverage_tiers(exchange("binance"), None, None), result(answer))
    assert [t["info"]["cum"] for t in binance["BTC/USDT:USDT"]] == ["0", "250"]
    _, one = drive(plans.fetch_market_leverage_tiers(exchange(), "BTC/USDT:USDT", None),
                   result([TIER]))
    assert one[0]["maintenanceMarginRate"] == 0.005
    assert one[0]["info"] == {"bracket": "1"}


def test_trading_fees() -> None:
    fee = {"symbol": "BTC/USDT", "maker": "0.0002", "taker": "0.0005", "percentage": True,
           "tierBased": False, "info": {}}
    _, fees = drive(plans.fetch_trading_fees(exchange(), None), result({"BTC/USDT": fee}))
    assert fees["BTC/USDT"]["taker"] == 0.0005
    assert fees["BTC/USDT"]["maker"] == 0.0002
    _, one = drive(plans.fetch_trading_fee(exchange(), "BTC/USDT", None), result(fee))
    assert one == fees["BTC/USDT"]


def deal(deal_id: int, reason: str, pnl: str, when: str) -> dict[str, Any]:
    return {"id": deal_id, "symbol": "BTC/USDT:USDT", "side": "sell", "qty": "0", "price": "50000",
            "pnl": pnl, "reason": reason, "executed_at": when, "order_id": None,
            "exchange_trade_id": f"funding:{deal_id}:7" if reason == "funding" else f"t{deal_id}",
            "fee": "0", "fee_currency": "USDT", "strategy_id": 5}  # fmt: skip


def test_funding_history_is_the_funding_deals_of_the_keys_books() -> None:
    page = {"items": [deal(2, "funding", "-0.05", "2026-11-25T08:00:00Z"),
                      deal(1, "expert", "0", "2026-11-25T07:00:00Z"),
                      deal(3, "funding", "0.02", "2026-11-25T16:00:00Z")],
            "total": 3}  # fmt: skip
    calls, history = drive(plans.fetch_funding_history(exchange(), "BTC/USDT:USDT", None, None,
                                                       None), page)
    assert calls[0].path == "/oms/deals"
    assert calls[0].query["symbol"] == "BTC/USDT:USDT"
    assert [(h["id"], h["amount"], h["code"]) for h in history] == [
        ("funding:2:7", -0.05, "USDT"), ("funding:3:7", 0.02, "USDT")]
    assert history[0]["timestamp"] == 1_795_593_600_000  # 2026-11-25 08:00 UTC
    assert sum(h["amount"] for h in history) == -0.05 + 0.02  # what freqtrade adds up
    _, trades = drive(plans.fetch_my_trades(exchange(), None, None, None, None), dict(page))
    assert [t["id"] for t in trades] == ["1"]  # funding is not a trade
