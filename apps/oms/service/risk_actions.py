"""Risk officers' actions (api.md → Risk): stop new positions on an account or one strategy,
block or unblock an account. Each needs its flag, a comment (persisted on the row and in the
audit log) and announces itself on the `risk` event namespace; all in one transaction.

Shadow mode (account or strategy) is a risk action of the same kind (`set_account_shadow`,
`set_strategy_shadow`); what it does at acceptance is `service/shadow.py`.

A blocked account stays visible (reads, the websocket stream) and accepts cancels and
reduce-only closes by keys that may close or manage risk (`acceptance._allowed_on_blocked`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, TypedDict, cast

from apps.oms.clock import iso_z, utcnow
from apps.oms.domain import events
from apps.oms.domain.access import Action
from apps.oms.domain.events import ChangedBy, Event, RiskSwitchChanged
from apps.oms.errors import NotFound
from apps.oms.security.principal import Principal
from apps.oms.service.request_model import mandatory_comment
from apps.oms.store import audit, outbox
from apps.oms.store import risk as risk_store
from apps.oms.store.audit import Actor
from apps.oms.store.boundary import Connection
from apps.oms.store.records import ColumnValues
from apps.oms.store.store import Store

AccountStatus = Literal["active", "blocked"]


async def _locked_account(conn: Connection, account_id: int) -> ColumnValues:
    row = await risk_store.account_risk_row(conn, account_id)
    if row is None:
        raise NotFound(f"account {account_id} not found", code="account_not_found")
    return row


def _by(principal: Principal) -> ChangedBy:
    return {"user_id": principal.user_id, "user_name": principal.user_name,
            "api_key_id": principal.api_key_id}  # fmt: skip


async def _announce(
    conn: Connection,
    account_id: int,
    event: Event[RiskSwitchChanged],
    payload: RiskSwitchChanged,
    strategy_id: int | None = None,
) -> None:
    await outbox.append_events(
        conn, [outbox.event_row(event, payload, account_id=account_id, strategy_id=strategy_id)]
    )


class StrategyLinks(TypedDict):
    """`GET /oms/risk/{account_id}/strategies`: the strategy link rows, flags as booleans."""

    account_id: int
    items: list[ColumnValues]


async def strategies_of(store: Store, principal: Principal, account_id: int) -> StrategyLinks:
    """`GET /oms/risk/{account_id}/strategies`: each linked strategy's allow flag and comment
    (a read: `can_read`; a strategy-restricted key sees its strategies only)."""
    principal.require(Action.READ, account_id)
    flags = principal.flags_for(account_id)
    async with store.read() as conn:
        rows = await risk_store.strategy_links(conn, account_id)
    items = [
        {
            **row,
            "allow_new_positions": bool(row["allow_new_positions"]),
            "shadow": bool(row["shadow"]),
            "updated_at": iso_z(row["updated_at"]),
        }
        for row in rows
        if flags is None or flags.sees_strategy(int(row["strategy_id"]))
    ]
    return {"account_id": account_id, "items": items}


@dataclass(frozen=True, slots=True)
class _Switch:
    """One risk switch: the row field it flips, the flag it needs, how it is audited and
    announced, and its store write (on the account, or on one strategy link)."""

    field: str
    needs: Action
    audit_action: str
    event: Event[RiskSwitchChanged]
    write: Callable[..., Awaitable[object]]

    def previous(self, row: ColumnValues) -> bool | str:
        return row[self.field] if self.field == "status" else bool(row[self.field])


async def _switch(
    store: Store,
    principal: Principal,
    actor: Actor,
    switch: _Switch,
    account_id: int,
    value: bool | str,
    comment: str,
    strategy_id: int | None = None,
) -> RiskSwitchChanged:
    """Check, lock, write, audit and announce one risk switch in one transaction."""
    principal.require(switch.needs, account_id)
    flags = principal.flags_for(account_id)
    if strategy_id is not None and flags is not None and not flags.sees_strategy(strategy_id):
        raise NotFound(f"strategy {strategy_id} not found on account {account_id}",
                       code="invalid_strategy_id")  # fmt: skip
    text = mandatory_comment(comment)
    target: dict[str, int] = {} if strategy_id is None else {"strategy_id": strategy_id}
    async with store.transaction() as conn:
        row = await _locked_account(conn, account_id)
        if strategy_id is not None:
            row = await _linked_strategy(conn, account_id, strategy_id)
        now = utcnow()
        previous = switch.previous(row)
        await switch.write(conn, account_id, *target.values(), value, text, now)
        await audit.record(conn, actor, action=switch.audit_action, target_type="account",
                           target_id=account_id, before={switch.field: previous},
                           after={**target, switch.field: value}, comment=text)  # fmt: skip
        # the switched field's key is the switch's (`_Switch.field`)
        result = cast(RiskSwitchChanged, {
            "ok": True, "account_id": account_id, **target, switch.field: value,
            "previous": previous, "comment": text, "changed_at": iso_z(now),
            "changed_by": _by(principal)})  # fmt: skip
        await _announce(conn, account_id, switch.event, result, strategy_id)
    return result


async def _linked_strategy(
    conn: Connection, account_id: int, strategy_id: int
) -> ColumnValues:
    links = {int(r["strategy_id"]): r for r in await risk_store.strategy_links(conn, account_id)}
    if strategy_id not in links:
        raise NotFound(f"strategy {strategy_id} is not linked to account {account_id}",
                       code="invalid_strategy_id")  # fmt: skip
    return dict(links[strategy_id])


ACCOUNT_ALLOW_NEW = _Switch("allow_new_positions", Action.ALLOW_NEW_POSITIONS,
                            "risk_allow_new_positions", events.ACCOUNT_ALLOW_NEW_POSITIONS_CHANGED,
                            risk_store.set_account_allow_new)
STRATEGY_ALLOW_NEW = _Switch("allow_new_positions", Action.ALLOW_NEW_POSITIONS,
                             "risk_strategy_allow_new_positions",
                             events.STRATEGY_ALLOW_NEW_POSITIONS_CHANGED,
                             risk_store.set_strategy_allow_new)
ACCOUNT_STATUS = _Switch("status", Action.BLOCK_ACCOUNT, "risk_account_status",
                         events.ACCOUNT_STATUS_CHANGED, risk_store.set_account_status)
ACCOUNT_SHADOW = _Switch("shadow", Action.ALLOW_NEW_POSITIONS, "risk_shadow",
                         events.ACCOUNT_SHADOW_CHANGED, risk_store.set_account_shadow)
STRATEGY_SHADOW = _Switch("shadow", Action.ALLOW_NEW_POSITIONS, "risk_strategy_shadow",
                          events.STRATEGY_SHADOW_CHANGED, risk_store.set_strategy_shadow)


async def set_account_allow_new(
    store: Store, principal: Principal, actor: Actor, account_id: int, allow: bool, comment: str
) -> RiskSwitchChanged:
    return await _switch(store, principal, actor, ACCOUNT_ALLOW_NEW, account_id, allow, comment)


async def set_strategy_allow_new(
    store: Store, principal: Principal, actor: Actor, account_id: int, strategy_id: int,
    allow: bool, comment: str,
) -> RiskSwitchChanged:  # fmt: skip
    return await _switch(store, principal, actor, STRATEGY_ALLOW_NEW, account_id, allow, comment,
                         strategy_id)  # fmt: skip


async def set_account_status(
    store: Store, principal: Principal, actor: Actor, account_id: int, status: AccountStatus,
    comment: str,
) -> RiskSwitchChanged:  # fmt: skip
    return await _switch(store, principal, actor, ACCOUNT_STATUS, account_id, status, comment)


async def set_account_shadow(
    store: Store, principal: Principal, actor: Actor, account_id: int, shadow: bool, comment: str
) -> RiskSwitchChanged:
    """Shadow mode on the account: new orders are validated, risk-checked and recorded, never
    sent (`service/shadow.py`). Needs what `allow_new_positions` needs."""
    return await _switch(store, principal, actor, ACCOUNT_SHADOW, account_id, shadow, comment)


async def set_strategy_shadow(
    store: Store, principal: Principal, actor: Actor, account_id: int, strategy_id: int,
    shadow: bool, comment: str,
) -> RiskSwitchChanged:  # fmt: skip
    """Shadow mode for one strategy on the account (its orders only)."""
    return await _switch(store, principal, actor, STRATEGY_SHADOW, account_id, shadow, comment,
                         strategy_id)  # fmt: skip
