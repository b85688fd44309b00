"""`CcxtVenue`'s derivatives pass-through (`MarginVenuePort`) over the real
`ccxt.async_support.binanceusdm` class fed recorded responses (no network): leverage tiers come
back parsed by CCXT with `Decimal` numbers, margin mode and leverage reach binance's endpoints."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlparse

import ccxt.async_support as ccxt_async

from apps.oms.exchange.ccxt.venue import CcxtVenue
from test.unit.exchange import binance_usdm as usdm


async def test_margin_settings_and_tiers_pass_through() -> None:
    exchange = ccxt_async.binanceusdm({"apiKey": "k" * 64, "secret": "s" * 64})
    exchange.options["fetchCurrencies"] = False
    exchange.number = str
    requests: list[tuple[str, str, dict[str, list[str]]]] = []
    responses: dict[tuple[str, str], Any] = {
        ("GET", "/fapi/v1/exchangeInfo"): usdm.EXCHANGE_INFO,
        ("GET", "/fapi/v1/leverageBracket"): usdm.LEVERAGE_BRACKET,
        ("POST", "/fapi/v1/marginType"): {"code": 200, "msg": "success"},
        ("POST", "/fapi/v1/leverage"): {"leverage": 5, "maxNotionalValue": "50000",
                                        "symbol": "BTCUSDT"},
    }

    async def fetch(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        parsed = urlparse(url)
        requests.append((method, parsed.path, parse_qs(parsed.query or (body or ""))))
        return responses[(method, parsed.path)]

    exchange.fetch = fetch
    venue = CcxtVenue(exchange)
    try:
        tiers = await venue.fetch_market_leverage_tiers("BTC/USDT:USDT")
        assert [(t["tier"], t["maxLeverage"], t["maintenanceMarginRate"]) for t in tiers] == [
            (Decimal(1), Decimal(125), Decimal("0.004")),
            (Decimal(2), Decimal(100), Decimal("0.005"))]
        assert tiers[1]["minNotional"] == Decimal(50000)
        await venue.set_margin_mode("isolated", "BTC/USDT:USDT")
        await venue.set_leverage(5, "BTC/USDT:USDT")
    finally:
        await venue.close()
    sent = {path: query for _method, path, query in requests}
    assert sent["/fapi/v1/marginType"]["marginType"] == ["ISOLATED"]
    assert sent["/fapi/v1/leverage"]["leverage"] == ["5"]
