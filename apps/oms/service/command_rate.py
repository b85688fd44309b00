"""The command rate (`max_commands_per_minute`) of an account and of a key on it: counted in the
store (`store/command_rates.py`) inside the acceptance transaction, so that it holds across API
processes and survives a restart, and a refused command counts nothing (its transaction or
savepoint rolls the count back). A full minute refuses with 429 `rate_limited` and
`Retry-After` = the seconds to the next UTC minute."""

from __future__ import annotations

from datetime import datetime

from apps.oms.domain.controls import rate_window
from apps.oms.domain.risk import RiskLimits
from apps.oms.errors import OmsError
from apps.oms.store import command_rates
from apps.oms.store.boundary import Connection


def limited(account: RiskLimits | None, key: RiskLimits | None) -> bool:
    """Whether a command of this account and key is counted at all."""
    return any(s is not None and s.max_commands_per_minute is not None for s in (account, key))


async def count_command(
    conn: Connection,
    account_id: int,
    api_key_id: int | None,
    account: RiskLimits | None,
    key: RiskLimits | None,
    now: datetime,
) -> None:
    """Count the command in each scope that sets a rate (the account's, then the key's own on
    the account); raise 429 `rate_limited` for the first full one."""
    window, retry_after = rate_window(now)
    scopes = (("account", 0, account), ("key", api_key_id or 0, key if api_key_id else None))
    for name, key_id, limits in scopes:
        limit = None if limits is None else limits.max_commands_per_minute
        if limit is None:
            continue
        if not await command_rates.take(conn, account_id, key_id, window, limit):
            raise OmsError(
                f"command rate limit reached: {limit} commands per minute ({name}); "
                f"retry in {retry_after} s",
                code="rate_limited",
                status=429,
                details={"rule": "max_commands_per_minute", "scope": name,
                         "limit": str(limit), "value": str(limit + 1),
                         "retry_after_seconds": retry_after},
            )  # fmt: skip
