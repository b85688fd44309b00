"""The exchange a replaced CCXT constructor stands for (autopatch, aggressive mode).

A program that believes it talks to Binance may call Binance's own endpoints besides CCXT's
unified methods; freqtrade's Binance class does at start-up. Those calls ask about account
settings that the gateway decides for every program the same way, so the driver answers them
itself, without a request, and the answer is the gateway's behaviour:

- position mode: one-way. The program sends plain buy/sell orders; the gateway keeps the books
  (hedge, netting or strategy netting) and an opposite order reduces the strategy's position.
- multi-assets margin: off. Margin is held in the settle currency of each market.
- spot delisting schedule: empty. The gateway delists nothing on its own.

Nothing here does I/O; `methods(exchange_id, asynchronous)` returns the attributes the
autopatch adds to the class standing for `exchange_id`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ccxt.base.precise import Precise

_ONE_WAY = {"dualSidePosition": False}
_SINGLE_ASSET = {"multiAssetsMargin": False}
_BINANCE: dict[str, Any] = {
    # CCXT spells each implicit endpoint in camelCase and in snake_case
    "fapiPrivateGetPositionSideDual": _ONE_WAY,
    "fapiprivate_get_positionsidedual": _ONE_WAY,
    "fapiPrivateGetMultiAssetsMargin": _SINGLE_ASSET,
    "fapiprivate_get_multiassetsmargin": _SINGLE_ASSET,
    "sapiGetSpotDelistSchedule": [],
    "sapi_get_spot_delist_schedule": [],
}
ANSWERS: dict[str, dict[str, Any]] = {"binance": _BINANCE, "binanceusdm": _BINANCE}


def _answer(name: str, value: Any, asynchronous: bool) -> Callable[..., Any]:
    def sync(self: Any, params: dict[str, Any] | None = None) -> Any:
        return _copy(value)

    async def coroutine(self: Any, params: dict[str, Any] | None = None) -> Any:
        return _copy(value)

    method = coroutine if asynchronous else sync
    method.__name__ = name
    method.__doc__ = f"`{name}`: answered by the driver (`ccxt_driver.identity`)."
    return method


def _copy(value: Any) -> Any:
    return dict(value) if isinstance(value, dict) else list(value)


def methods(exchange_id: str, asynchronous: bool) -> dict[str, Callable[..., Any]]:
    """The exchange-specific endpoints the driver answers for `exchange_id`."""
    return {name: _answer(name, value, asynchronous)
            for name, value in ANSWERS.get(exchange_id, {}).items()}  # fmt: skip


def binance_cum(tiers: list[dict[str, Any]]) -> list[str]:
    """Binance's `cum` (maintenance amount) of each tier, from the tiers' floors and rates as
    decimal strings: cumᵢ = cumᵢ₋₁ + floorᵢ × (rateᵢ − rateᵢ₋₁), rate₋₁ = cum₋₁ = 0 (the first
    floor is 0). The maintenance
    margin of a notional N in tier i is then N × rateᵢ − cumᵢ, continuous across tiers."""
    out: list[str] = []
    cum, rate = "0", "0"
    for tier in tiers:
        floor = str(tier.get("minNotional") or "0")
        new_rate = str(tier.get("maintenanceMarginRate") or "0")
        cum = Precise.string_add(cum, Precise.string_mul(floor, Precise.string_sub(new_rate, rate)))
        out.append(cum)
        rate = new_rate
    return out
