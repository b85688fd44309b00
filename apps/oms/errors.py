"""One error hierarchy for the whole service, split by what the caller should do.

    OmsError(code, message, details, status)
    ├── Rejected          do not retry: the request itself is wrong or not allowed
    │   ├── ValidationFailed        422 validation_error
    │   ├── AuthenticationFailed    401 missing_api_key / invalid_api_key
    │   ├── PermissionDenied        403 permission_denied / admin_required / admin_read_only /
    │   │                                strategy_permission_denied
    │   ├── NotFound                404 account_not_found / order_not_found / position_not_found
    │   └── Conflict                409 conflict / risk_blocked / position_close_in_progress
    ├── Transient         retry later: 429 rate_limited, 503 exchange_unavailable / engine_unavailable
    └── NeedsHuman        500 internal_error and configuration problems (ConfigError)

Leaf codes follow `api.md` and CCXT error names where one exists so the driver can re-raise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict


class ErrorBody(TypedDict):
    """An error as the wire shows it (a command item's `error`, the error body)."""

    code: str
    message: str
    details: NotRequired[Mapping[str, object]]  # per error code


class OmsError(Exception):
    """Base of every error the service raises on purpose; carries the wire error fields."""

    status: int = 500
    code: str = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.details: dict[str, Any] = details or {}


class Rejected(OmsError):
    """The request is wrong or not allowed; retrying it unchanged will fail again."""

    status = 400
    code = "bad_request"


class ValidationFailed(Rejected):
    status = 422
    code = "validation_error"


class AuthenticationFailed(Rejected):
    status = 401
    code = "invalid_api_key"


class PermissionDenied(Rejected):
    status = 403
    code = "permission_denied"


class NotFound(Rejected):
    status = 404
    code = "not_found"


class Conflict(Rejected):
    status = 409
    code = "conflict"


class Transient(OmsError):
    """Temporarily impossible; the same request may succeed later."""

    status = 503
    code = "engine_unavailable"


class RateLimited(Transient):
    status = 429
    code = "rate_limited"


class NeedsHuman(OmsError):
    """Something an operator must fix (configuration, corrupted state)."""

    status = 500
    code = "internal_error"


class ConfigError(NeedsHuman):
    """Invalid configuration; the CLI prints the message as one line and exits non-zero."""

    code = "config_error"
