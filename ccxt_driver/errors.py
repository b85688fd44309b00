"""Gateway error codes → CCXT exception classes (the caller keeps catching what it catches with CCXT).

    ccxt.BaseError
    ├── ExchangeError
    │   ├── BadRequest ─ BadSymbol, PositionNotFound*
    │   ├── InvalidOrder ─ OrderNotFound, DuplicateOrderId, InsufficientFunds (AccountError),
    │   │                  RiskBlocked*, PositionCloseInProgress*
    │   ├── AuthenticationError ─ PermissionDenied ─ AccountNotEnabled
    │   └── NotSupported
    └── NetworkError ─ ExchangeNotAvailable, RequestTimeout, DDoSProtection ─ RateLimitExceeded

`*` are this package's subclasses for OMS-only conditions. Every raised error carries `code`
(the gateway's error code), `status` (HTTP status) and `details` (the gateway's details).
"""

from __future__ import annotations

from typing import Any

import ccxt


class RiskBlocked(ccxt.InvalidOrder):  # type: ignore[misc]
    """A pre-trade risk rule or an account/strategy block refused the order (see `details`)."""


class PositionCloseInProgress(ccxt.InvalidOrder):  # type: ignore[misc]
    """The position already has a close pending for that quantity."""


class PositionNotFound(ccxt.BadRequest):  # type: ignore[misc]
    """No such position visible to this key."""


ERRORS: dict[str, type[Exception]] = {
    "validation_error": ccxt.BadRequest,
    "payload_too_large": ccxt.BadRequest,
    "invalid_strategy_id": ccxt.BadRequest,
    "invalid_position_id": ccxt.BadRequest,
    "not_found": ccxt.BadRequest,
    "invalid_qty": ccxt.InvalidOrder,
    "invalid_price": ccxt.InvalidOrder,
    "invalid_order_state": ccxt.InvalidOrder,
    "venue_rejected": ccxt.InvalidOrder,
    "order_not_found": ccxt.OrderNotFound,
    "position_not_found": PositionNotFound,
    "position_close_in_progress": PositionCloseInProgress,
    "risk_blocked": RiskBlocked,
    "insufficient_funds": ccxt.InsufficientFunds,
    "unsupported_market": ccxt.BadSymbol,
    "missing_api_key": ccxt.AuthenticationError,
    "invalid_api_key": ccxt.AuthenticationError,
    "permission_denied": ccxt.PermissionDenied,
    "admin_required": ccxt.PermissionDenied,
    "admin_read_only": ccxt.PermissionDenied,
    "strategy_permission_denied": ccxt.PermissionDenied,
    "function_not_allowed": ccxt.PermissionDenied,
    "account_not_found": ccxt.AccountNotEnabled,
    "not_supported": ccxt.NotSupported,
    "unsupported_engine": ccxt.NotSupported,
    "rate_limited": ccxt.RateLimitExceeded,
    "exchange_error": ccxt.ExchangeError,
    "venue_error": ccxt.ExchangeError,
    "internal_error": ccxt.ExchangeError,
    "exchange_unavailable": ccxt.ExchangeNotAvailable,
    "venue_unavailable": ccxt.ExchangeNotAvailable,
    "engine_unavailable": ccxt.ExchangeNotAvailable,
    "order_outcome_unknown": ccxt.RequestTimeout,
    "outcome_unknown_not_found": ccxt.RequestTimeout,
    "conflict": ccxt.BadRequest,
}
# order commands: a refused payload is an invalid order, a reused client order id a duplicate
ORDER_ERRORS: dict[str, type[Exception]] = {
    "validation_error": ccxt.InvalidOrder,
    "conflict": ccxt.DuplicateOrderId,
}
BY_STATUS: dict[int, type[Exception]] = {
    400: ccxt.BadRequest,
    401: ccxt.AuthenticationError,
    403: ccxt.PermissionDenied,
    404: ccxt.BadRequest,
    409: ccxt.InvalidOrder,
    413: ccxt.BadRequest,
    422: ccxt.BadRequest,
    429: ccxt.RateLimitExceeded,
    502: ccxt.ExchangeError,
    503: ccxt.ExchangeNotAvailable,
    504: ccxt.RequestTimeout,
}
# the CCXT class the venue raised (details.ccxt_error) wins over the generic code
CCXT_NAMED = frozenset({
    "OrderNotFound", "InsufficientFunds", "InvalidOrder", "BadSymbol", "NotSupported",
    "RateLimitExceeded", "DDoSProtection", "RequestTimeout", "ExchangeNotAvailable",
    "AuthenticationError", "PermissionDenied", "BadRequest", "ArgumentsRequired",
    "DuplicateOrderId", "OrderImmediatelyFillable", "OrderNotFillable", "InvalidAddress",
    "AccountSuspended", "AccountNotEnabled", "CancelPending", "MarginModeAlreadySet",
})  # fmt: skip


def error_fields(body: Any) -> tuple[str | None, str, dict[str, Any]]:
    """(code, message, details) of a gateway error body (REST `{"error": ...}`, a command
    result item's `error`, or a websocket error payload); the first failed item's code wins."""
    error = body.get("error") if isinstance(body, dict) and "error" in body else body
    if not isinstance(error, dict):
        return None, str(body)[:500], {}
    code, message = error.get("code"), str(error.get("message") or "")
    raw_details = error.get("details")
    details: dict[str, Any] = raw_details if isinstance(raw_details, dict) else {}
    items = details.get("results")
    if isinstance(items, list):
        for item in items:
            inner = item.get("error") if isinstance(item, dict) else None
            if isinstance(inner, dict) and inner.get("code"):
                extra = inner.get("details")
                merged = {**details, **(extra if isinstance(extra, dict) else {})}
                return str(inner["code"]), str(inner.get("message") or message), merged
    return (str(code) if code else None), message, details


def exception_for(
    status: int | None, body: Any, *, prefix: str = "oms", order: bool = False
) -> Exception:
    """The CCXT exception for a failed gateway answer."""
    code, message, details = error_fields(body)
    klass: type[Exception] | None = None
    venue_class = details.get("ccxt_error")
    if isinstance(venue_class, str) and venue_class in CCXT_NAMED:
        klass = getattr(ccxt, venue_class, None)
    if klass is None and code is not None:
        klass = (ORDER_ERRORS.get(code) if order else None) or ERRORS.get(code)
    if klass is None and status is not None:
        klass = BY_STATUS.get(status) or (ccxt.ExchangeError if status >= 500 else ccxt.BadRequest)
    klass = klass or ccxt.ExchangeError
    exc: Any = klass(f"{prefix} {code or status}: {message}".strip())
    exc.code = code
    exc.status = status
    exc.details = details
    result: Exception = exc
    return result
