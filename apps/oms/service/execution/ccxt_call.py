"""`ccxt_call` commands (queued by the `/ccxt` gateway): run one CCXT trade or granted
restricted function on the account's venue with a timeout, store the raw result, finish the
command with the JSON-ready result or the mapped error (`result.ccxt_error` = CCXT class name).

Never re-sent: a command claimed again after its worker died (`attempts > 1`) may already have
reached the venue, so it fails with `order_outcome_unknown` instead of calling twice.
"""

from __future__ import annotations

import asyncio
from typing import Any

from apps.oms.exchange.ccxt.error_mapping import to_oms_error
from apps.oms.exchange.ccxt.wire import jsonable
from apps.oms.ports import Params
from apps.oms.service.execution.results import finish
from apps.oms.service.execution.runtime import AccountRuntime, Recorder
from apps.oms.store import order_records
from apps.oms.store.queue import Claimed


async def execute_ccxt_call(rt: AccountRuntime, cmd: Claimed, stop: asyncio.Event) -> None:
    func = str(cmd.payload.get("func"))
    method = getattr(rt.venue, func, None)
    if cmd.attempts > 1 or method is None or func.startswith("_"):
        code = "order_outcome_unknown" if cmd.attempts > 1 else "not_supported"
        async with rt.record(cmd) as rec:
            await finish(rec, cmd, error_code=code, error_message=f"{func}: {code}")
        return
    args: list[Any] = list(cmd.payload.get("args") or [])
    kwargs: Params = dict(cmd.payload.get("kwargs") or {})
    try:
        result = await asyncio.wait_for(method(*args, **kwargs), rt.settings.venue_timeout_seconds)
    except Exception as exc:
        error = to_oms_error(exc)
        async with rt.record(cmd) as rec:
            await finish(rec, cmd, result={"ccxt_error": error.details.get("ccxt_error")},
                         error_code=error.code, error_message=error.message)
        return
    async with rt.record(cmd) as rec:
        await _store_raw(rec, func, result)
        await finish(rec, cmd, result={"result": jsonable(result), "ccxt_error": None})


async def _store_raw(rec: Recorder, func: str, result: Any) -> None:
    """Order structures as `order` payloads (reconciliation picks them up), the rest as `call`."""
    items = result if isinstance(result, list) else [result]
    orders = [i for i in items if isinstance(i, dict) and i.get("id") is not None]
    acct = rec.rt.account
    for order in orders:
        await order_records.store_payload(
            rec.conn, account_id=acct.account_id, kind="order", exchange_id=acct.exchange_id,
            object_id=str(order["id"]), payload=order, now=rec.now,
        )
    if not orders:
        await order_records.store_payload(
            rec.conn, account_id=acct.account_id, kind="call", exchange_id=acct.exchange_id,
            object_id=None, payload={"func": func, "result": jsonable(result)}, now=rec.now,
        )
