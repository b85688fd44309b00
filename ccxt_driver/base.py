"""What the sync and asyncio exchanges share: construction (spec form and CCXT config form),
`describe()` / `has`, request encoding and the gateway error hook. No I/O here."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import ccxt
from ccxt.base.decimal_to_precision import TICK_SIZE

from ccxt_driver.errors import ORDER_ERRORS, exception_for
from ccxt_driver.plans import Call

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
OMS_HAS = {
    "CORS": None, "spot": True, "margin": False, "swap": True, "future": False, "option": False,
    "fetchMarkets": True, "fetchCurrencies": False, "fetchTicker": True, "fetchTickers": True,
    "fetchOrderBook": True, "fetchTrades": True, "fetchOHLCV": True, "fetchBalance": True,
    "createOrder": True, "createMarketOrder": True, "createLimitOrder": True,
    "createReduceOnlyOrder": True, "createPostOnlyOrder": True, "createStopOrder": True,
    "createTriggerOrder": True, "editOrder": True, "cancelOrder": True, "cancelAllOrders": True,
    "fetchOrder": True, "fetchOrders": True, "fetchOpenOrders": True, "fetchClosedOrders": True,
    "fetchCanceledOrders": True, "fetchMyTrades": True, "fetchPositions": True,
    "fetchPosition": True, "closePosition": True, "closeAllPositions": False,
    "omsClosePosition": True, "omsCloseBy": True, "omsMergePositions": True,
    "omsSetPositionTargets": True, "fetchFundingHistory": True,
    # brackets and OCOs are held by the gateway (docs/orders.md → Groups)
    "createOrderWithTakeProfitAndStopLoss": True, "createStopLossOrder": True,
    "createTakeProfitOrder": True, "createOrders": True,
}  # fmt: skip
# venue capabilities taken from the gateway (`GET /ccxt/{account_id}/has`) into `has`: the market
# types, the reads the driver passes to the venue, and the venue functions forwarded raw
# (`VENUE_FUNCTIONS`). Every other OMS key keeps the OMS value (the OMS features stay True).
MARKET_TYPES = ("spot", "margin", "swap", "future", "option")
VENUE_READS = ("fetchMarkets", "fetchTicker", "fetchTickers", "fetchOrderBook",
               "fetchL2OrderBook", "fetchTrades", "fetchOHLCV", "fetchBalance", "fetchTradingFee",
               "fetchTradingFees", "fetchLeverageTiers", "fetchMarketLeverageTiers")  # fmt: skip
# venue-only functions the driver forwards to `/ccxt/{account_id}/{func}` (raw gateway result,
# exact strings); a call the venue or the key's grants do not allow raises as the gateway says
VENUE_FUNCTIONS = (
    "fetch_status", "fetch_time", "fetch_bids_asks", "fetch_mark_ohlcv", "fetch_index_ohlcv",
    "fetch_funding_rate", "fetch_funding_rates", "fetch_funding_rate_history",
    "fetch_open_interest", "fetch_leverage", "fetch_leverages", "fetch_margin_mode",
    "fetch_position_mode", "fetch_margin_modes", "fetch_deposits",
    "fetch_withdrawals", "fetch_deposit_address", "fetch_ledger", "fetch_transfers",
    "fetch_accounts", "withdraw", "transfer", "set_leverage", "set_margin_mode",
    "set_position_mode", "set_margin", "add_margin", "reduce_margin", "create_deposit_address",
)  # fmt: skip


def camel(name: str) -> str:
    """`fetch_ohlcv` → `fetchOHLCV` (CCXT's `has` spelling)."""
    head, *rest = name.split("_")
    return head + "".join("OHLCV" if p == "ohlcv" else p.capitalize() for p in rest)


VENUE_KEYS = frozenset((*MARKET_TYPES, *VENUE_READS, *(camel(n) for n in VENUE_FUNCTIONS)))


def merged_has(own: dict[str, Any], venue: dict[str, Any]) -> dict[str, Any]:
    """`own` (the driver's `has`) with the venue's value for every key in `VENUE_KEYS` that the
    venue reports; OMS features keep their OMS value whatever the venue says."""
    out = dict(own)
    out.update({k: v for k, v in venue.items() if k in VENUE_KEYS})
    return out


# CCXT's `timeframes` until the gateway says which the venue serves (`GET /ccxt/{id}/has`,
# read by `load_markets`): the paper venue's, the default venue of the gateway
DEFAULT_TIMEFRAMES = {tf: tf for tf in ("1m", "5m", "15m", "30m", "1h", "4h", "1d")}
_ORDER_FEATURES = {
    "marginMode": False, "triggerPrice": True,
    # the gateway holds what the venue lacks (trailing stops, a mark-price trigger, GTD on a
    # conditional order): docs/orders.md
    "triggerPriceType": {"last": True, "mark": True, "index": False},
    "triggerDirection": False, "stopLossPrice": True, "takeProfitPrice": True,
    # `stopLoss` / `takeProfit` objects make a bracket the gateway holds
    "attachedStopLossTakeProfit": {"triggerPriceType": {"last": True, "mark": True,
                                                        "index": False}, "price": True},
    "hedged": False, "leverage": False,
    "marketBuyByCost": False, "marketBuyRequiresPrice": False, "selfTradePrevention": False,
    "trailing": True, "iceberg": False,
    "timeInForce": {"IOC": True, "FOK": True, "PO": True, "GTD": True},
}  # fmt: skip
_MARKET_FEATURES = {
    "sandbox": False,
    "createOrder": _ORDER_FEATURES,
    # one call per order; `params={"oco": True}` makes them one OCO (docs/orders.md)
    "createOrders": {"max": 5},
    "fetchMyTrades": {"marginMode": False, "limit": 500, "daysBack": None, "untilDays": None,
                      "symbolRequired": False},
    "fetchOrder": {"marginMode": False, "trigger": False, "trailing": False,
                   "symbolRequired": False},
    "fetchOpenOrders": {"marginMode": False, "limit": None, "trigger": False, "trailing": False,
                        "symbolRequired": False},
    "fetchOrders": {"marginMode": False, "limit": 500, "daysBack": None, "untilDays": None,
                    "trigger": False, "trailing": False, "symbolRequired": False},
    "fetchClosedOrders": {"marginMode": False, "limit": 500, "daysBack": None,
                          "daysBackCanceled": None, "untilDays": None, "trigger": False,
                          "trailing": False, "symbolRequired": False},
    "fetchOHLCV": {"limit": 1000},
}  # fmt: skip
# CCXT's `features` (per market type: what the unified methods accept); paged OMS reads serve
# 500 rows a page, the venues' candles 1,000 a call
OMS_FEATURES = {"spot": _MARKET_FEATURES, "swap": {"linear": _MARKET_FEATURES, "inverse": None},
                "future": {"linear": None, "inverse": None}}  # fmt: skip

OMS_OPTIONS = {
    "maxPages": 20,  # paged OMS reads: at most this many pages of 500 rows per call
    "pollInterval": 1.0,  # seconds: watch_* polling (market data, and the socket fallback)
    "watchCacheLimit": 1000,  # bounded caches of the watch_* methods
    "wsConnectAttempts": 3,  # failed first connects before falling back to polling
    "includeInternalDeals": False,  # watch_my_trades: also close-by / merge deals
}


class OmsBase:
    """Mixin placed before CCXT's `Exchange` in the MRO."""

    account_id: int
    strategy_id: int
    base_url: str
    oms_account: dict[str, Any] | None
    oms_venue_has: dict[str, Any] | None
    oms_venue_timeframes: dict[str, str] | None
    oms_identity: tuple[str, str] | None = None

    if TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any: ...

    def _oms_setup(
        self,
        config: dict[str, Any] | None,
        api_key: str | None,
        account_id: int | None,
        strategy_id: int | None,
        base_url: str | None,
        timeout_seconds: float | None,
    ) -> dict[str, Any]:
        """Set the OMS attributes; return the CCXT config left for `Exchange.__init__`."""
        cfg = dict(config or {})
        options = dict(cfg.get("options") or {})
        key = api_key or cfg.pop("api_key", None) or cfg.get("apiKey")
        account = account_id or cfg.pop("accountId", None) or cfg.pop("account_id", None)
        account = account or options.get("accountId")
        strategy = strategy_id if strategy_id is not None else cfg.pop("strategyId", None)
        strategy = strategy if strategy is not None else cfg.pop("strategy_id", None)
        urls = cfg.get("urls") or {}
        api = urls.get("api") if isinstance(urls, dict) else None
        url = base_url or cfg.pop("base_url", None) or cfg.pop("baseUrl", None)
        url = url or (api.get("rest") if isinstance(api, dict) else api) or DEFAULT_BASE_URL
        seconds = timeout_seconds or cfg.pop("timeout_seconds", None)
        if seconds is not None:
            cfg["timeout"] = int(float(seconds) * 1000)
        cfg.setdefault("timeout", 30_000)
        if account is None:
            raise ccxt.ArgumentsRequired("an account_id (accountId) is required")
        cfg["apiKey"] = key
        self.account_id = int(account)
        self.strategy_id = int(strategy or 0)
        self.base_url = str(url).rstrip("/")
        self.oms_account = None
        self.oms_venue_has = None
        self.oms_venue_timeframes = None
        return cfg

    def describe(self) -> Any:
        described = self.deep_extend(super().describe(), self._oms_describe())  # type: ignore[misc]
        venue = getattr(self, "oms_venue_has", None)
        if venue is not None:  # loaded from the gateway (`load_markets` / `load_venue_has`)
            described["has"] = merged_has(described["has"], venue)
        timeframes = getattr(self, "oms_venue_timeframes", None)
        if timeframes:
            described["timeframes"] = dict(timeframes)
        return described

    def _set_venue_has(self, venue: dict[str, Any] | None,
                       timeframes: dict[str, Any] | None = None) -> dict[str, Any]:
        """Remember the venue's `has` (and `timeframes`) and merge them into `self.has` and
        `self.timeframes`; returns `self.has`."""
        own: dict[str, Any] = getattr(self, "has", None) or {}
        if venue is not None:
            self.oms_venue_has = venue
            self.options["venueHas"] = venue
            own = merged_has(own, venue)
            setattr(self, "has", own)  # noqa: B010 - CCXT's attribute, untyped for mypy
        if timeframes:
            self.oms_venue_timeframes = {str(k): str(v) for k, v in timeframes.items()}
            setattr(self, "timeframes", dict(self.oms_venue_timeframes))  # noqa: B010
        return own

    def _oms_describe(self) -> dict[str, Any]:
        """`id` and `name` are the gateway's, or those of the exchange this class stands for
        when the autopatch replaced one (`oms_identity`, e.g. `("binance", "Binance")`): a
        program that decides by the exchange's identity (freqtrade does) sees one exchange."""
        exchange_id, name = getattr(self, "oms_identity", None) or ("oms", "ccxt-oms gateway")
        return {
            "id": exchange_id,
            "name": name,
            "countries": [],
            "version": "v1",
            "rateLimit": 0,
            "pro": True,
            "precisionMode": TICK_SIZE,
            "requiredCredentials": {"apiKey": True, "secret": False},
            "urls": {"api": {"rest": DEFAULT_BASE_URL}, "doc": ["ccxt_driver/README.md"]},
            "has": OMS_HAS,
            "timeframes": DEFAULT_TIMEFRAMES,
            "features": OMS_FEATURES,
            "options": OMS_OPTIONS,
        }

    def _request_args(self, call: Call) -> tuple[str, dict[str, str], str | None]:
        query = {k: v for k, v in call.query.items() if v is not None}
        url = self.base_url + call.path + ("?" + urlencode(query) if query else "")
        headers = {"x-api-key": str(self.apiKey or ""), "Accept": "application/json"}
        body = None
        if call.body is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(call.body, separators=(",", ":"))
        return url, headers, body

    def on_json_response(self, response_body: str) -> Any:
        """Gateway JSON: integers stay integers (ids, `seq`), decimals are strings already and a
        stray JSON float is kept as its exact text, never a binary float."""
        return json.loads(response_body, parse_float=str)

    def handle_errors(
        self, code: int, reason: str, url: str, method: str, headers: Any, body: Any,
        response: Any, request_headers: Any, request_body: Any,
    ) -> None:
        """CCXT's per-exchange error hook: any non-2xx gateway answer raises its mapped class."""
        if code is not None and code >= 400:
            raise exception_for(code, response if response is not None else body, prefix=self.id)

    @staticmethod
    def _remap(exc: Exception, call: Call) -> Exception:
        """Order commands: `validation_error` → InvalidOrder, `conflict` → DuplicateOrderId."""
        code = getattr(exc, "code", None)
        if not call.order or code not in ORDER_ERRORS:
            return exc
        return exception_for(getattr(exc, "status", None),
                             {"error": {"code": code, "message": str(exc),
                                        "details": getattr(exc, "details", {})}},
                             prefix="oms", order=True)
