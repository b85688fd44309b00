"""The per-minute command counters `max_commands_per_minute` is enforced against
(`service/command_rate.py`): one row per scope (an account, api_key_id 0; or one key on it) and
UTC minute, counted up in the acceptance transaction, so a refused or rolled-back command counts
nothing and every API process and a restarted one see the same count."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, delete, insert, update

from apps.oms.store.boundary import Connection
from apps.oms.store.tables import command_rates

C = command_rates.c
_SCOPE = (C.account_id == bindparam("b_account")) & (C.api_key_id == bindparam("b_key"))
# one more command in the scope's minute, if it has room (the row stays locked to the commit)
COUNT_UP = (
    update(command_rates)
    .where(_SCOPE, C.window_start == bindparam("b_window"), C.n < bindparam("b_limit"))
    .values(n=C.n + 1)
)
# the scope's first command of the minute (a concurrent first one: ignored, then counted up)
FIRST = (
    insert(command_rates)
    .values(account_id=bindparam("b_account"), api_key_id=bindparam("b_key"),
            window_start=bindparam("b_window"), n=1)
    .prefix_with("IGNORE", dialect="mysql")
    .prefix_with("OR IGNORE", dialect="sqlite")
)  # fmt: skip
PAST = delete(command_rates).where(_SCOPE, C.window_start < bindparam("b_window"))


async def take(
    conn: Connection, account_id: int, api_key_id: int, window: datetime, limit: int
) -> bool:
    """Count one command in the scope's minute `window` if fewer than `limit` are counted;
    False (nothing written) when it is full. One statement while the minute has a row; on the
    scope's first command of a minute, the insert and the deletion of its past minutes."""
    params = {"b_account": account_id, "b_key": api_key_id, "b_window": window,
              "b_limit": limit}  # fmt: skip
    if (await conn.execute(COUNT_UP, params)).rowcount:
        return True
    if (await conn.execute(FIRST, params)).rowcount:
        await conn.execute(PAST, params)
        return True
    # a concurrent first command inserted the row meanwhile (ours was ignored): count up again
    return bool((await conn.execute(COUNT_UP, params)).rowcount)
