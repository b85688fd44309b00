"""MetaTrader's two error vocabularies, from the gateway's errors: `last_error()` codes (`RES_*`)
for a function that could not run, and `TRADE_RETCODE_*` for a trade request the trade server
(the gateway and its venue) answered. Pure mapping, no I/O."""

from __future__ import annotations

from mt5_driver import constants as c
from mt5_driver.wire import GatewayError, Unreachable

RES_TEXT = {
    c.RES_S_OK: "Success",
    c.RES_E_FAIL: "Terminal: Call failed",
    c.RES_E_INVALID_PARAMS: "Terminal: Invalid params",
    c.RES_E_NOT_FOUND: "Terminal: Not found",
    c.RES_E_AUTH_FAILED: "Terminal: Authorization failed",
    c.RES_E_UNSUPPORTED: "Terminal: Unsupported",
    c.RES_E_AUTO_TRADING_DISABLED: "Terminal: Auto trading disabled",
    c.RES_E_INTERNAL_FAIL: "Terminal: Internal error",
    c.RES_E_INTERNAL_FAIL_CONNECT: "No IPC connection",
    c.RES_E_INTERNAL_FAIL_TIMEOUT: "IPC timeout",
}


class Failure(Exception):
    """A function failed: it answers None (or False, or 0) and `last_error()` says why."""

    def __init__(self, code: int, detail: str = "") -> None:
        text = RES_TEXT.get(code, "Terminal: Call failed")
        super().__init__(f"{text}: {detail}" if detail else text)
        self.code = code


NOT_CONNECTED = Failure(c.RES_E_INTERNAL_FAIL_CONNECT)


def failure_of(exc: Exception) -> Failure:
    """The `last_error()` of a gateway error or an unanswered call."""
    if isinstance(exc, Failure):
        return exc
    if isinstance(exc, Unreachable):
        code = c.RES_E_INTERNAL_FAIL_TIMEOUT if exc.timed_out else c.RES_E_INTERNAL_FAIL_CONNECT
        return Failure(code, str(exc))
    if isinstance(exc, GatewayError):
        return Failure(_res_code(exc), f"{exc.code}: {exc.message}")
    return Failure(c.RES_E_INTERNAL_FAIL, repr(exc))


def _res_code(exc: GatewayError) -> int:
    if exc.status == 401 or exc.code == "account_not_found":
        return c.RES_E_AUTH_FAILED
    if exc.code in ("not_supported", "function_not_allowed"):
        return c.RES_E_UNSUPPORTED
    if exc.status == 403:
        return c.RES_E_AUTO_TRADING_DISABLED
    if exc.status == 404:
        return c.RES_E_NOT_FOUND
    if exc.status in (400, 409, 413, 415, 422):
        return c.RES_E_INVALID_PARAMS
    if exc.status == 504:
        return c.RES_E_INTERNAL_FAIL_TIMEOUT
    return c.RES_E_FAIL


RETCODE_TEXT = {
    c.TRADE_RETCODE_REJECT: "Request rejected",
    c.TRADE_RETCODE_DONE: "Request executed",
    c.TRADE_RETCODE_DONE_PARTIAL: "Request executed partially",
    c.TRADE_RETCODE_ERROR: "Request processing error",
    c.TRADE_RETCODE_TIMEOUT: "Request canceled by timeout",
    c.TRADE_RETCODE_INVALID: "Invalid request",
    c.TRADE_RETCODE_INVALID_VOLUME: "Invalid volume in the request",
    c.TRADE_RETCODE_INVALID_PRICE: "Invalid price in the request",
    c.TRADE_RETCODE_INVALID_STOPS: "Invalid stops in the request",
    c.TRADE_RETCODE_TRADE_DISABLED: "Trade is disabled",
    c.TRADE_RETCODE_MARKET_CLOSED: "Market is closed",
    c.TRADE_RETCODE_NO_MONEY: "There is not enough money to complete the request",
    c.TRADE_RETCODE_PRICE_OFF: "There are no quotes to process the request",
    c.TRADE_RETCODE_INVALID_EXPIRATION: "Invalid order expiration date in the request",
    c.TRADE_RETCODE_TOO_MANY_REQUESTS: "Too frequent requests",
    c.TRADE_RETCODE_NO_CHANGES: "No changes in request",
    c.TRADE_RETCODE_INVALID_FILL: "Invalid order filling type",
    c.TRADE_RETCODE_CONNECTION: "No connection with the trade server",
    c.TRADE_RETCODE_LIMIT_ORDERS: "The number of pending orders has reached the limit",
    c.TRADE_RETCODE_LIMIT_VOLUME: "The volume of orders and positions has reached the limit",
    c.TRADE_RETCODE_INVALID_ORDER: "Incorrect or prohibited order type",
    c.TRADE_RETCODE_POSITION_CLOSED: "Position with the specified POSITION_IDENTIFIER has "
    "already been closed",
    c.TRADE_RETCODE_INVALID_CLOSE_VOLUME: "A close volume exceeds the current position volume",
    c.TRADE_RETCODE_CLOSE_ORDER_EXIST: "A close order already exists for a specified position",
    c.TRADE_RETCODE_LIMIT_POSITIONS: "The number of open positions has reached the limit",
    c.TRADE_RETCODE_LONG_ONLY: "Only long positions are allowed",
    c.TRADE_RETCODE_CLOSE_ONLY: "Only position closing is allowed",
}

# risk rules (`risk_blocked` details.rule) by what MetaTrader calls them; a rule that refuses
# opening orders only (closing stays possible) is "close only"
RISK_RETCODES = {
    "account_blocked": c.TRADE_RETCODE_TRADE_DISABLED,
    "symbol_not_allowed": c.TRADE_RETCODE_TRADE_DISABLED,
    "max_open_positions": c.TRADE_RETCODE_LIMIT_POSITIONS,
    "max_open_positions_per_symbol": c.TRADE_RETCODE_LIMIT_POSITIONS,
    "max_open_orders_per_symbol": c.TRADE_RETCODE_LIMIT_ORDERS,
    "max_order_qty": c.TRADE_RETCODE_LIMIT_VOLUME,
    "max_order_notional": c.TRADE_RETCODE_LIMIT_VOLUME,
    "max_position_notional": c.TRADE_RETCODE_LIMIT_VOLUME,
    "min_order_notional": c.TRADE_RETCODE_INVALID_VOLUME,
    "no_reference_price": c.TRADE_RETCODE_PRICE_OFF,
    "new_positions_not_allowed": c.TRADE_RETCODE_CLOSE_ONLY,
    "strategy_new_positions_not_allowed": c.TRADE_RETCODE_CLOSE_ONLY,
    "account_out_of_sync": c.TRADE_RETCODE_CLOSE_ONLY,
    "daily_loss_limit": c.TRADE_RETCODE_CLOSE_ONLY,
    # issue 53's controls (a duplicate order is a plain reject)
    "price_collar": c.TRADE_RETCODE_INVALID_PRICE,
    "max_open_orders": c.TRADE_RETCODE_LIMIT_ORDERS,
    "kill_switch": c.TRADE_RETCODE_TRADE_DISABLED,
}
CODE_RETCODES = {
    "invalid_qty": c.TRADE_RETCODE_INVALID_VOLUME,
    "invalid_price": c.TRADE_RETCODE_INVALID_PRICE,
    "insufficient_funds": c.TRADE_RETCODE_NO_MONEY,
    "position_close_in_progress": c.TRADE_RETCODE_CLOSE_ORDER_EXIST,
    "venue_rejected": c.TRADE_RETCODE_REJECT,
    "exchange_error": c.TRADE_RETCODE_ERROR,
    "venue_error": c.TRADE_RETCODE_ERROR,
    "internal_error": c.TRADE_RETCODE_ERROR,
    "venue_unavailable": c.TRADE_RETCODE_CONNECTION,
    "exchange_unavailable": c.TRADE_RETCODE_CONNECTION,
    "engine_unavailable": c.TRADE_RETCODE_CONNECTION,
    "store_unavailable": c.TRADE_RETCODE_CONNECTION,
    "order_outcome_unknown": c.TRADE_RETCODE_TIMEOUT,
    "outcome_unknown_not_found": c.TRADE_RETCODE_TIMEOUT,
    "rate_limited": c.TRADE_RETCODE_TOO_MANY_REQUESTS,
    "permission_denied": c.TRADE_RETCODE_TRADE_DISABLED,
    "admin_read_only": c.TRADE_RETCODE_TRADE_DISABLED,
    "strategy_permission_denied": c.TRADE_RETCODE_TRADE_DISABLED,
}
FILL_FIELDS = frozenset({"time_in_force", "post_only"})
ORDER_FIELDS = frozenset({"order_type", "trigger_price", "stop_price", "take_profit_price"})


def retcode_of(code: str, message: str = "", details: dict[str, object] | None = None, *,
               closing: bool = False) -> int:  # fmt: skip
    """The `TRADE_RETCODE_*` of a gateway error code (`closing`: the request named a
    position to close, so a refused quantity is a refused close volume)."""
    details = details or {}
    if code == "risk_blocked":
        return RISK_RETCODES.get(str(details.get("rule")), c.TRADE_RETCODE_REJECT)
    if code == "invalid_qty" and closing:
        return c.TRADE_RETCODE_INVALID_CLOSE_VOLUME
    if code == "invalid_position_id" and "closed" in message:
        return c.TRADE_RETCODE_POSITION_CLOSED
    if code == "validation_error" and ("stop_loss" in message or "stop_gain" in message):
        return c.TRADE_RETCODE_INVALID_STOPS
    if code == "not_supported":
        field = str(details.get("field"))
        if field in FILL_FIELDS:
            return c.TRADE_RETCODE_INVALID_FILL
        return c.TRADE_RETCODE_INVALID_ORDER if field in ORDER_FIELDS else c.TRADE_RETCODE_INVALID
    return CODE_RETCODES.get(code, c.TRADE_RETCODE_INVALID)


def retcode_of_status(status: int) -> int:
    """A failed call without a gateway code, by its HTTP status."""
    if status == 429:
        return c.TRADE_RETCODE_TOO_MANY_REQUESTS
    if status == 504:
        return c.TRADE_RETCODE_TIMEOUT
    if status in (502, 500):
        return c.TRADE_RETCODE_ERROR
    return c.TRADE_RETCODE_CONNECTION if status == 503 else c.TRADE_RETCODE_INVALID
