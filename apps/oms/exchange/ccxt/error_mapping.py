"""CCXT errors (and bad call arguments) as the API error model: status, code, and the CCXT class
name in `details.ccxt_error`. The most specific class wins (checked in this order)."""

from __future__ import annotations

from apps.oms.errors import OmsError

# (CCXT class name, HTTP status, error code); subclasses before their bases
_MAP: tuple[tuple[str, int, str], ...] = (
    ("OrderNotFound", 404, "order_not_found"),
    ("BadSymbol", 422, "unsupported_market"),
    ("NotSupported", 422, "not_supported"),
    ("InsufficientFunds", 422, "insufficient_funds"),
    ("InvalidOrder", 422, "exchange_error"),
    ("ArgumentsRequired", 422, "validation_error"),
    ("BadRequest", 422, "exchange_error"),
    ("AuthenticationError", 502, "exchange_error"),
    ("RateLimitExceeded", 429, "rate_limited"),
    ("DDoSProtection", 429, "rate_limited"),
    ("RequestTimeout", 504, "exchange_unavailable"),
    ("NetworkError", 503, "exchange_unavailable"),
    ("ExchangeError", 502, "exchange_error"),
    ("BaseError", 502, "exchange_error"),
)
# the same, by error code, for results recorded by the worker
CODE_STATUS = {code: status for _name, status, code in _MAP}


def to_oms_error(exc: BaseException) -> OmsError:
    """Map a CCXT exception (or a TypeError from bad arguments) to an `OmsError`."""
    from apps.oms.exchange.ccxt_errors import errors as ccxt  # the classes, not all of CCXT

    name = type(exc).__name__
    if isinstance(exc, TimeoutError):
        return OmsError("venue call timed out", code="exchange_unavailable", status=504,
                        details={"ccxt_error": "RequestTimeout"})
    if isinstance(exc, TypeError | ValueError) and not isinstance(exc, ccxt.BaseError):
        return OmsError(f"bad arguments: {exc}", code="validation_error", status=422,
                        details={"ccxt_error": None})
    for class_name, status, code in _MAP:
        klass = getattr(ccxt, class_name, None)
        if klass is not None and isinstance(exc, klass):
            return OmsError(str(exc)[:2000] or class_name, code=code, status=status,
                            details={"ccxt_error": name})
    return OmsError(f"{name}: {exc}"[:2000], code="exchange_error", status=502,
                    details={"ccxt_error": name})
