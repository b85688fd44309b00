"""`OmsCcxtExchange`: the synchronous CCXT exchange backed by the gateway."""

# mypy: disallow-subclassing-any=False
from __future__ import annotations

from typing import Any, TypeVar

import ccxt

from ccxt_driver import plans
from ccxt_driver.base import VENUE_FUNCTIONS, OmsBase
from ccxt_driver.plans import Plan

T = TypeVar("T")
S = dict[str, Any]
L = list[dict[str, Any]]


class OmsCcxtExchange(OmsBase, ccxt.Exchange):
    """A CCXT exchange whose orders go through the OMS (`/oms`) and everything else through the
    account's CCXT gateway (`/ccxt/{account_id}/{func}`)."""

    def __init__(
        self,
        config: dict[str, Any] | None = None,
        *,
        api_key: str | None = None,
        account_id: int | None = None,
        strategy_id: int | None = None,
        base_url: str | None = None,
        timeout_seconds: float | None = None,
    ) -> None:
        cfg = self._oms_setup(config, api_key, account_id, strategy_id, base_url, timeout_seconds)
        super().__init__(cfg)

    def _run(self, plan: Plan[T]) -> T:
        try:
            call = next(plan)
            while True:
                url, headers, body = self._request_args(call)
                try:
                    answer = self.fetch(url, call.method, headers, body)
                except ccxt.BaseError as exc:
                    call = plan.throw(self._remap(exc, call))
                    continue
                call = plan.send(answer)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    def ccxt_call(self, func: str, *args: Any, **kwargs: Any) -> Any:
        """Any CCXT function the gateway allows, as the raw gateway result (exact strings)."""
        return self._run(plans.gateway(self, func, *args, **kwargs))

    def load_venue_has(self) -> S:
        """Merge the venue's capabilities (`GET /ccxt/{account_id}/has`) into `has` now
        (`load_markets` does it once by itself); returns `has`."""
        return self._run(plans.load_venue_has(self))

    # market data (/ccxt)
    def fetch_markets(self, params: S | None = None) -> L:
        return self._run(plans.fetch_markets(self, params))

    def fetch_ticker(self, symbol: str, params: S | None = None) -> S:
        return self._run(plans.fetch_ticker(self, symbol, params))

    def fetch_tickers(self, symbols: list[str] | None = None, params: S | None = None) -> S:
        return self._run(plans.fetch_tickers(self, symbols, params))

    def fetch_order_book(self, symbol: str, limit: int | None = None, params: S | None = None
                         ) -> S:
        return self._run(plans.fetch_order_book(self, symbol, limit, params))

    def fetch_trades(self, symbol: str, since: int | None = None, limit: int | None = None,
                     params: S | None = None) -> L:
        return self._run(plans.fetch_trades(self, symbol, since, limit, params))

    def fetch_ohlcv(self, symbol: str, timeframe: str = "1m", since: int | None = None,
                    limit: int | None = None, params: S | None = None) -> list[list[Any]]:
        return self._run(plans.fetch_ohlcv(self, symbol, timeframe, since, limit, params))

    def fetch_balance(self, params: S | None = None) -> S:
        return self._run(plans.fetch_balance(self, params))

    def fetch_trading_fee(self, symbol: str, params: S | None = None) -> S:
        return self._run(plans.fetch_trading_fee(self, symbol, params))

    def fetch_trading_fees(self, params: S | None = None) -> S:
        return self._run(plans.fetch_trading_fees(self, params))

    def fetch_leverage_tiers(self, symbols: list[str] | None = None, params: S | None = None
                             ) -> S:
        return self._run(plans.fetch_leverage_tiers(self, symbols, params))

    def fetch_market_leverage_tiers(self, symbol: str, params: S | None = None) -> L:
        return self._run(plans.fetch_market_leverage_tiers(self, symbol, params))

    def fetch_funding_history(self, symbol: str | None = None, since: int | None = None,
                              limit: int | None = None, params: S | None = None) -> L:
        return self._run(plans.fetch_funding_history(self, symbol, since, limit, params))

    # orders (/oms)
    def create_order(self, symbol: str, type: str, side: str, amount: Any, price: Any = None,
                     params: S | None = None) -> S:
        return self._run(plans.create_order(self, symbol, type, side, amount, price, params))

    def create_orders(self, orders: list[S], params: S | None = None) -> list[S]:
        return self._run(plans.create_orders(self, orders, params))

    def edit_order(self, id: Any, symbol: str | None = None, type: str | None = None,
                   side: str | None = None, amount: Any = None, price: Any = None,
                   params: S | None = None) -> S:
        return self._run(plans.edit_order(self, id, type, side, amount, price, params))

    def cancel_order(self, id: Any, symbol: str | None = None, params: S | None = None) -> S:
        return self._run(plans.cancel_order(self, id, params))

    def cancel_all_orders(self, symbol: str | None = None, params: S | None = None) -> L:
        return self._run(plans.cancel_all_orders(self, symbol, params))

    def fetch_order(self, id: Any, symbol: str | None = None, params: S | None = None) -> S:
        return self._run(plans.fetch_order(self, id, symbol, params))

    def fetch_orders(self, symbol: str | None = None, since: int | None = None,
                     limit: int | None = None, params: S | None = None) -> L:
        return self._run(plans.fetch_history(self, symbol, since, limit, params, None))

    def fetch_open_orders(self, symbol: str | None = None, since: int | None = None,
                          limit: int | None = None, params: S | None = None) -> L:
        return self._run(plans.fetch_open_orders(self, symbol, since, limit, params))

    def fetch_closed_orders(self, symbol: str | None = None, since: int | None = None,
                            limit: int | None = None, params: S | None = None) -> L:
        return self._run(plans.fetch_history(self, symbol, since, limit, params, "closed"))

    def fetch_canceled_orders(self, symbol: str | None = None, since: int | None = None,
                              limit: int | None = None, params: S | None = None) -> L:
        return self._run(plans.fetch_history(self, symbol, since, limit, params, "canceled"))

    def fetch_my_trades(self, symbol: str | None = None, since: int | None = None,
                        limit: int | None = None, params: S | None = None) -> L:
        return self._run(plans.fetch_my_trades(self, symbol, since, limit, params))

    # positions and the OMS extras
    def fetch_positions(self, symbols: list[str] | None = None, params: S | None = None) -> L:
        return self._run(plans.fetch_positions(self, symbols, params))

    def fetch_position(self, symbol: Any, params: S | None = None) -> S:
        return self._run(plans.fetch_position(self, symbol, params))

    def close_position(self, symbol: Any, side: str | None = None, params: S | None = None) -> S:
        return self._run(plans.close_position(self, symbol, side, params))

    def close_by(self, position_id_a: Any, position_id_b: Any, qty: Any = None,
                 params: S | None = None) -> L:
        return self._run(plans.close_by(self, position_id_a, position_id_b, qty, params))

    def merge_positions(self, source: Any, target: Any, params: S | None = None) -> S:
        return self._run(plans.merge_positions(self, source, target, params))

    def set_position_targets(self, position_id: Any, stop_loss: Any = ...,
                             stop_gain: Any = ..., params: S | None = None) -> S:
        return self._run(plans.set_position_targets(self, position_id, stop_loss, stop_gain,
                                                    params))


def _forwarder(name: str) -> Any:
    def forward(self: OmsCcxtExchange, *args: Any, **kwargs: Any) -> Any:
        return self.ccxt_call(name, *args, **kwargs)

    forward.__name__ = name
    forward.__doc__ = f"`{name}` on the venue through `/ccxt` (raw gateway result)."
    return forward


for _name in VENUE_FUNCTIONS:  # venue-only functions: the merged `has` reports them
    setattr(OmsCcxtExchange, _name, _forwarder(_name))
