"""Shadow mode at acceptance: an order-creating command of a shadowed account or strategy is
validated and risk-checked as usual, then recorded as a finished command whose result is the
order it would have sent; no order row, no reservation, nothing for a worker or a venue.

Decided in `accept_orders._record_order`, the one place where orders are written, so
`send_order`, `close_position` and signals (which become `send_order`) all pass through it.
"""

from __future__ import annotations

from typing import Literal

from apps.oms.domain.events import COMMAND_SHADOWED, CommandShadowed
from apps.oms.service.acceptance import Accepted, Ctx
from apps.oms.service.command_models import plain_json
from apps.oms.store import strategies as strategy_store
from apps.oms.store.records import ColumnValues, StrategyLink

Scope = Literal["account", "strategy"]


def note_strategy_link(ctx: Ctx, strategy_id: int, link: StrategyLink | None) -> None:
    """Remember a strategy's shadow flag already read during acceptance (saves a query)."""
    ctx.strategy_shadow[strategy_id] = link is not None and link.shadow


async def shadow_scope(ctx: Ctx, strategy_id: int) -> Scope | None:
    """`account` when the account is in shadow mode, `strategy` when the order's strategy is
    (on this account), else None."""
    if ctx.account.shadow:
        return "account"
    if strategy_id <= 0:
        return None
    known = ctx.strategy_shadow
    if strategy_id not in known:
        note_strategy_link(
            ctx, strategy_id, await strategy_store.get_link(ctx.conn, strategy_id, ctx.account_id)
        )
    return "strategy" if known[strategy_id] else None


async def record_shadow(
    ctx: Ctx, client_order_id: str | None, fields: ColumnValues, scope: Scope
) -> Accepted:
    """The command, finished (`completed`), with `result = {shadow, scope, would_send}` and a
    `command_shadowed` event in the same transaction (held like any accepted send: `Ctx.hold`)."""
    would = {k: v for k, v in plain_json(fields).items() if v is not None}
    if client_order_id is not None:
        would["client_order_id"] = client_order_id
    result = {"shadow": True, "scope": scope, "would_send": would}
    strategy_id = int(fields.get("strategy_id") or 0)
    payload: CommandShadowed = {"command_id": None, "command": ctx.envelope.command,
                                "status": "completed", "shadow": True, "scope": scope,
                                "would_send": would}  # fmt: skip
    accepted = Accepted(0, None, "completed", shadow=True)

    def complete(command_id: int, _order: ColumnValues | None) -> None:
        payload["command_id"] = command_id

    ctx.hold(accepted, complete, client_order_id=client_order_id, status="completed", result=result)
    await ctx.event(COMMAND_SHADOWED, payload, strategy_id)
    return accepted
