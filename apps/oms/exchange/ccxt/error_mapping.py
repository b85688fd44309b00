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


def _entry(klass: type) -> tuple[str, int, str] | None:
    """The row of `_MAP` for a CCXT error class: its own or its nearest listed base's."""
    from apps.oms.exchange.ccxt_errors import errors as ccxt  # the classes, not all of CCXT

    for row in _MAP:
        base = getattr(ccxt, row[0], None)
        if base is not None and issubclass(klass, base):
            return row
    return None


def status_of(ccxt_error: str | None) -> int | None:
    """The HTTP status of a CCXT class name recorded by the worker (`result.ccxt_error`): one
    code (`exchange_error`) is a 422 refusal for `BadRequest` and a 502 for a venue failure, so
    the class decides, not the code. None for a name that is no CCXT class."""
    from apps.oms.exchange.ccxt_errors import errors as ccxt

    klass = getattr(ccxt, ccxt_error or "", None)
    entry = _entry(klass) if isinstance(klass, type) else None
    return None if entry is None else entry[1]


def to_oms_error(exc: BaseException) -> OmsError:
    """Map a CCXT exception (or a TypeError from bad arguments) to an `OmsError`."""
    from apps.oms.exchange.ccxt_errors import errors as ccxt  # the classes, not all of CCXT

    name = str(getattr(exc, "ccxt_error", "") or type(exc).__name__)  # a subclass's CCXT name
    if isinstance(exc, TimeoutError):
        return OmsError("venue call timed out", code="exchange_unavailable", status=504,
                        details={"ccxt_error": "RequestTimeout"})
    if isinstance(exc, TypeError | ValueError) and not isinstance(exc, ccxt.BaseError):
        return OmsError(f"bad arguments: {exc}", code="validation_error", status=422,
                        details={"ccxt_error": None})
    entry = _entry(type(exc))
    if entry is not None:
        class_name, status, code = entry
        details: dict[str, object] = {"ccxt_error": name}
        retry_after = getattr(exc, "retry_after_seconds", None)  # the request budget's refusal
        if isinstance(retry_after, int):
            details["retry_after_seconds"] = retry_after  # and the answer's `Retry-After`
        return OmsError(str(exc)[:2000] or class_name, code=code, status=status, details=details)
    return OmsError(f"{name}: {exc}"[:2000], code="exchange_error", status=502,
                    details={"ccxt_error": name})
