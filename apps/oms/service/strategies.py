"""Strategies (list, create) and risk limits (read, set) use cases."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields
from typing import TypedDict, cast

from apps.oms.clock import iso_z, utcnow
from apps.oms.domain.access import Action
from apps.oms.domain.risk import RiskLimits
from apps.oms.errors import Conflict, NotFound, ValidationFailed
from apps.oms.security.principal import Principal
from apps.oms.service.request_model import mandatory_comment
from apps.oms.service.views import wire_value
from apps.oms.store import audit
from apps.oms.store import risk as risk_store
from apps.oms.store import strategies as strategy_store
from apps.oms.store.audit import Actor
from apps.oms.store.boundary import IntegrityError
from apps.oms.store.records import StrategyAccount, StrategyRecord
from apps.oms.store.store import Store


class StrategyLinkOut(TypedDict):
    account_id: int
    allow_new_positions: bool


class StrategyOut(TypedDict):
    """A strategy on the wire, with its links."""

    strategy_id: int
    name: str
    client_strategy_id: int | None
    status: str
    created_at: str | None
    accounts: list[StrategyLinkOut]


def strategy_out(
    row: StrategyRecord, accounts: Iterable[StrategyAccount] | None = None
) -> StrategyOut:
    """A strategy on the wire, with its links (`accounts`: only those given)."""
    return {
        "strategy_id": row.strategy_id,
        "name": row.name,
        "client_strategy_id": row.client_strategy_id,
        "status": row.status,
        "created_at": iso_z(row.created_at),
        "accounts": [
            {"account_id": a.account_id, "allow_new_positions": a.allow_new_positions}
            for a in (row.accounts if accounts is None else accounts)
        ],
    }


class StrategyList(TypedDict):
    items: list[StrategyOut]


class StrategyCreated(TypedDict):
    ok: bool
    strategy_id: int


class LimitsView(TypedDict, total=False):
    """One scope's limits on the wire (`RiskLimits`' fields in order; empty without a row)."""

    max_open_positions: int | None
    max_open_positions_per_symbol: int | None
    max_order_qty: str | None
    max_order_notional: str | None
    min_order_notional: str | None
    max_position_notional: str | None
    max_open_orders_per_symbol: int | None
    daily_loss_limit: str | None
    symbol_allowlist: list[str] | None
    max_commands_per_minute: int | None


class Limits(TypedDict):
    account_id: int
    account: LimitsView
    strategies: dict[str, LimitsView]


async def list_strategies(store: Store, principal: Principal) -> StrategyList:
    visible = principal.visible_account_ids()
    async with store.read() as conn:
        rows = await strategy_store.list_for_accounts(conn, visible)
    items = []
    for row in rows:
        accounts = [a for a in row.accounts if visible is None or a.account_id in visible]
        accounts = [a for a in accounts if _sees(principal, a.account_id, row.strategy_id)]
        if accounts:
            items.append(strategy_out(row, accounts))
    return {"items": items}


def _sees(principal: Principal, account_id: int, strategy_id: int) -> bool:
    flags = principal.flags_for(account_id)
    return flags is None or flags.sees_strategy(strategy_id)


async def create_strategy(
    store: Store,
    principal: Principal,
    actor: Actor,
    *,
    name: str,
    account_ids: list[int],
    client_strategy_id: int | None,
) -> StrategyCreated:
    if not account_ids:
        raise ValidationFailed("account_ids must list at least one account")
    for account_id in account_ids:
        principal.require(Action.TRADE, account_id)
    try:
        async with store.transaction() as conn:
            strategy_id = await strategy_store.create_strategy(
                conn,
                name=name,
                client_strategy_id=client_strategy_id,
                account_ids=account_ids,
                user_id=principal.user_id,
                now=utcnow(),
            )
            await audit.record(
                conn,
                actor,
                action="create_strategy",
                target_type="strategy",
                target_id=strategy_id,
                after={
                    "name": name,
                    "account_ids": sorted(account_ids),
                    "client_strategy_id": client_strategy_id,
                },
            )
    except IntegrityError as exc:
        raise Conflict("strategy already exists") from exc
    return {"ok": True, "strategy_id": strategy_id}


async def get_limits(store: Store, principal: Principal, account_id: int) -> Limits:
    principal.require(Action.READ, account_id)
    async with store.read() as conn:
        limits = await risk_store.get_limits(conn, account_id)
    return {
        "account_id": account_id,
        "account": limits_out(limits.get(0)),
        "strategies": {str(s): limits_out(values) for s, values in sorted(limits.items()) if s},
    }


def limits_out(limits: RiskLimits | None) -> LimitsView:
    """One scope's limits on the wire, every column in table order ({} without a row)."""
    if limits is None:
        return {}
    out = {f.name: wire_value(getattr(limits, f.name)) for f in fields(RiskLimits)}
    allow = limits.symbol_allowlist
    out["symbol_allowlist"] = None if allow is None else list(allow)
    return cast(LimitsView, out)  # LimitsView's keys are RiskLimits' fields


async def put_limits(
    store: Store,
    principal: Principal,
    actor: Actor,
    account_id: int,
    strategy_id: int,
    limits: RiskLimits,
    comment: str,
) -> Limits:
    principal.require(Action.RISK_LIMITS, account_id)
    comment = mandatory_comment(comment)
    async with store.transaction() as conn:
        before = (await risk_store.get_limits(conn, account_id)).get(strategy_id)
        try:
            await risk_store.put_limits(conn, account_id, strategy_id, limits, utcnow())
        except LookupError as exc:
            raise NotFound(str(exc), code="account_not_found") from exc
        await audit.record(
            conn,
            actor,
            action="set_risk_limits",
            target_type="account",
            target_id=account_id,
            before=None if before is None else limits_out(before),
            after={"strategy_id": strategy_id, **limits_out(limits)},
            comment=comment,
        )
    return await get_limits(store, principal, account_id)
