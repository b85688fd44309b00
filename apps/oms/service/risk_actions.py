"""Risk officers' actions (api.md → Risk): stop new positions on an account or one strategy,
block or unblock an account. Each needs its flag, a comment (persisted on the row and in the
audit log) and announces itself on the `risk` event namespace; all in one transaction.

Shadow mode (account or strategy) is a risk action of the same kind (`set_account_shadow`,
`set_strategy_shadow`); what it does at acceptance is `service/shadow.py`.

A blocked account stays visible (reads, the websocket stream) and accepts cancels and
reduce-only closes by keys that may close or manage risk (`acceptance._allowed_on_blocked`).
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.clock import iso_z, utcnow
from apps.oms.domain.access import Action
from apps.oms.errors import NotFound, ValidationFailed
from apps.oms.service.principal import Principal
from apps.oms.store import audit, outbox
from apps.oms.store import risk as risk_store
from apps.oms.store.audit import Actor
from apps.oms.store.store import Store

AccountStatus = Literal["active", "blocked"]


def _comment(comment: str) -> str:
    text = comment.strip()
    if not text:
        raise ValidationFailed("comment is mandatory for risk actions", details={"field": "comment"})
    return text


async def _locked_account(conn: AsyncConnection, account_id: int) -> dict[str, Any]:
    row = await risk_store.account_risk_row(conn, account_id)
    if row is None:
        raise NotFound(f"account {account_id} not found", code="account_not_found")
    return row


def _by(principal: Principal) -> dict[str, Any]:
    return {"user_id": principal.user_id, "user_name": principal.user_name,
            "api_key_id": principal.api_key_id}  # fmt: skip


async def _announce(
    conn: AsyncConnection,
    account_id: int,
    event: str,
    payload: dict[str, Any],
    strategy_id: int | None = None,
) -> None:
    await outbox.append_events(
        conn,
        [
            outbox.event_row(
                account_id=account_id,
                namespace="risk",
                event=event,
                payload=payload,
                strategy_id=strategy_id,
            )
        ],
    )


async def strategies_of(store: Store, principal: Principal, account_id: int) -> dict[str, Any]:
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


async def set_account_allow_new(
    store: Store, principal: Principal, actor: Actor, account_id: int, allow: bool, comment: str
) -> dict[str, Any]:
    principal.require(Action.ALLOW_NEW_POSITIONS, account_id)
    text = _comment(comment)
    async with store.transaction() as conn:
        row = await _locked_account(conn, account_id)
        now = utcnow()
        await risk_store.set_account_allow_new(conn, account_id, allow, text, now)
        before = {"allow_new_positions": bool(row["allow_new_positions"])}
        after = {"allow_new_positions": allow}
        await audit.record(conn, actor, action="risk_allow_new_positions", target_type="account",
                           target_id=account_id, before=before, after=after, comment=text)
        result = {"ok": True, "account_id": account_id, "allow_new_positions": allow,
                  "previous": before["allow_new_positions"], "comment": text,
                  "changed_at": iso_z(now), "changed_by": _by(principal)}  # fmt: skip
        await _announce(conn, account_id, "account_allow_new_positions_changed", result)
    return result


async def set_strategy_allow_new(
    store: Store,
    principal: Principal,
    actor: Actor,
    account_id: int,
    strategy_id: int,
    allow: bool,
    comment: str,
) -> dict[str, Any]:
    principal.require(Action.ALLOW_NEW_POSITIONS, account_id)
    flags = principal.flags_for(account_id)
    if flags is not None and not flags.sees_strategy(strategy_id):
        raise NotFound(f"strategy {strategy_id} not found on account {account_id}",
                       code="invalid_strategy_id")  # fmt: skip
    text = _comment(comment)
    async with store.transaction() as conn:
        await _locked_account(conn, account_id)
        links = {int(r["strategy_id"]): r for r in await risk_store.strategy_links(conn, account_id)}
        if strategy_id not in links:
            raise NotFound(f"strategy {strategy_id} is not linked to account {account_id}",
                           code="invalid_strategy_id")  # fmt: skip
        now = utcnow()
        await risk_store.set_strategy_allow_new(conn, account_id, strategy_id, allow, text, now)
        before = {"allow_new_positions": bool(links[strategy_id]["allow_new_positions"])}
        await audit.record(conn, actor, action="risk_strategy_allow_new_positions",
                           target_type="account", target_id=account_id, before=before,
                           after={"strategy_id": strategy_id, "allow_new_positions": allow},
                           comment=text)  # fmt: skip
        result = {"ok": True, "account_id": account_id, "strategy_id": strategy_id,
                  "allow_new_positions": allow, "previous": before["allow_new_positions"],
                  "comment": text, "changed_at": iso_z(now), "changed_by": _by(principal)}  # fmt: skip
        await _announce(conn, account_id, "strategy_allow_new_positions_changed", result,
                        strategy_id)  # fmt: skip
    return result


async def set_account_status(
    store: Store,
    principal: Principal,
    actor: Actor,
    account_id: int,
    status: AccountStatus,
    comment: str,
) -> dict[str, Any]:
    principal.require(Action.BLOCK_ACCOUNT, account_id)
    text = _comment(comment)
    async with store.transaction() as conn:
        row = await _locked_account(conn, account_id)
        now = utcnow()
        await risk_store.set_account_status(conn, account_id, status, text, now)
        await audit.record(conn, actor, action="risk_account_status", target_type="account",
                           target_id=account_id, before={"status": row["status"]},
                           after={"status": status}, comment=text)  # fmt: skip
        result = {"ok": True, "account_id": account_id, "status": status,
                  "previous": row["status"], "comment": text, "changed_at": iso_z(now),
                  "changed_by": _by(principal)}  # fmt: skip
        await _announce(conn, account_id, "account_status_changed", result)
    return result


async def set_account_shadow(
    store: Store, principal: Principal, actor: Actor, account_id: int, shadow: bool, comment: str
) -> dict[str, Any]:
    """Shadow mode on the account: new orders are validated, risk-checked and recorded, never
    sent (`service/shadow.py`). Needs what `allow_new_positions` needs."""
    principal.require(Action.ALLOW_NEW_POSITIONS, account_id)
    text = _comment(comment)
    async with store.transaction() as conn:
        row = await _locked_account(conn, account_id)
        now = utcnow()
        await risk_store.set_account_shadow(conn, account_id, shadow, text, now)
        before = {"shadow": bool(row["shadow"])}
        await audit.record(conn, actor, action="risk_shadow", target_type="account",
                           target_id=account_id, before=before, after={"shadow": shadow},
                           comment=text)  # fmt: skip
        result = {"ok": True, "account_id": account_id, "shadow": shadow,
                  "previous": before["shadow"], "comment": text, "changed_at": iso_z(now),
                  "changed_by": _by(principal)}  # fmt: skip
        await _announce(conn, account_id, "account_shadow_changed", result)
    return result


async def set_strategy_shadow(
    store: Store,
    principal: Principal,
    actor: Actor,
    account_id: int,
    strategy_id: int,
    shadow: bool,
    comment: str,
) -> dict[str, Any]:
    """Shadow mode for one strategy on the account (its orders only)."""
    principal.require(Action.ALLOW_NEW_POSITIONS, account_id)
    flags = principal.flags_for(account_id)
    if flags is not None and not flags.sees_strategy(strategy_id):
        raise NotFound(f"strategy {strategy_id} not found on account {account_id}",
                       code="invalid_strategy_id")  # fmt: skip
    text = _comment(comment)
    async with store.transaction() as conn:
        await _locked_account(conn, account_id)
        links = {int(r["strategy_id"]): r for r in await risk_store.strategy_links(conn, account_id)}
        if strategy_id not in links:
            raise NotFound(f"strategy {strategy_id} is not linked to account {account_id}",
                           code="invalid_strategy_id")  # fmt: skip
        now = utcnow()
        await risk_store.set_strategy_shadow(conn, account_id, strategy_id, shadow, text, now)
        before = {"shadow": bool(links[strategy_id]["shadow"])}
        await audit.record(conn, actor, action="risk_strategy_shadow", target_type="account",
                           target_id=account_id, before=before,
                           after={"strategy_id": strategy_id, "shadow": shadow},
                           comment=text)  # fmt: skip
        result = {"ok": True, "account_id": account_id, "strategy_id": strategy_id,
                  "shadow": shadow, "previous": before["shadow"], "comment": text,
                  "changed_at": iso_z(now), "changed_by": _by(principal)}  # fmt: skip
        await _announce(conn, account_id, "strategy_shadow_changed", result, strategy_id)
    return result
