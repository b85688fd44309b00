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
    price_collar_bps: int | None
    price_collar_symbols: dict[str, int] | None
    duplicate_window_ms: int | None
    max_open_orders: int | None
    loss_breaker: str | None
    drawdown_breaker: str | None
    breaker_action: str | None


class Limits(TypedDict):
    account_id: int
    account: LimitsView
    strategies: dict[str, LimitsView]
    keys: dict[str, LimitsView]


# what a key's own limits may set: limits of the orders and commands it sends, not of the
# books it shares with other keys (positions, daily loss)
KEY_SCOPE_FIELDS = frozenset({
    "max_order_qty", "max_order_notional", "min_order_notional", "max_open_orders_per_symbol",
    "symbol_allowlist", "max_commands_per_minute", "price_collar_bps", "price_collar_symbols",
    "duplicate_window_ms", "max_open_orders",
})  # fmt: skip


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
        keys = await risk_store.get_key_limits(conn, account_id)
    return {
        "account_id": account_id,
        "account": limits_out(limits.get(0)),
        "strategies": {str(s): limits_out(values) for s, values in sorted(limits.items()) if s},
        "keys": {str(k): limits_out(values) for k, values in sorted(keys.items())},
    }


def limits_out(limits: RiskLimits | None) -> LimitsView:
    """One scope's limits on the wire, every column in table order ({} without a row)."""
    if limits is None:
        return {}
    out = {f.name: wire_value(getattr(limits, f.name)) for f in fields(RiskLimits)}
    allow = limits.symbol_allowlist
    out["symbol_allowlist"] = None if allow is None else list(allow)
    collars = limits.price_collar_symbols
    out["price_collar_symbols"] = None if collars is None else dict(collars)
    return cast(LimitsView, out)  # LimitsView's keys are RiskLimits' fields


async def put_limits(
    store: Store,
    principal: Principal,
    actor: Actor,
    account_id: int,
    strategy_id: int,
    limits: RiskLimits,
    comment: str,
    api_key_id: int | None = None,
) -> Limits:
    """Set one scope's limits: the account's (strategy 0), a strategy's, or with `api_key_id` a
    key's own on the account (only `KEY_SCOPE_FIELDS`; the key must hold a grant there)."""
    principal.require(Action.RISK_LIMITS, account_id)
    comment = mandatory_comment(comment)
    if api_key_id is not None:
        _check_key_scope(strategy_id, limits)
    elif strategy_id:
        _check_strategy_scope(limits)
    async with store.transaction() as conn:
        if api_key_id is None:
            before = (await risk_store.get_limits(conn, account_id)).get(strategy_id)
        else:
            if not await risk_store.key_has_grant(conn, account_id, api_key_id):
                raise NotFound(f"api key {api_key_id} has no grant on account {account_id}",
                               code="not_found")  # fmt: skip
            before = (await risk_store.get_key_limits(conn, account_id)).get(api_key_id)
        try:
            await risk_store.put_limits(conn, account_id, strategy_id, limits, utcnow(),
                                        api_key_id or 0)  # fmt: skip
        except LookupError as exc:
            raise NotFound(str(exc), code="account_not_found") from exc
        await audit.record(
            conn,
            actor,
            action="set_risk_limits",
            target_type="account",
            target_id=account_id,
            before=None if before is None else limits_out(before),
            after={"strategy_id": strategy_id, **limits_out(limits),
                   **({"api_key_id": api_key_id} if api_key_id is not None else {})},
            comment=comment,
        )
    return await get_limits(store, principal, account_id)


#: limits a strategy cannot have: the command rate is counted per account and per key (a
#: strategy's commands come through its keys, whose own rate is the one to set)
NOT_STRATEGY_FIELDS = frozenset({"max_commands_per_minute"})


def _check_strategy_scope(limits: RiskLimits) -> None:
    """Refuse what a strategy's limits row would store and nothing would enforce."""
    extra = sorted(name for name in NOT_STRATEGY_FIELDS if getattr(limits, name) is not None)
    if extra:
        raise ValidationFailed(
            f"{', '.join(extra)}: not a limit of a strategy (set it on the account, or on the "
            "strategy's key with api_key_id)", details={"field": extra[0]},
        )  # fmt: skip


def _check_key_scope(strategy_id: int, limits: RiskLimits) -> None:
    if strategy_id:
        raise ValidationFailed("a key's limits are set with strategy_id 0",
                               details={"field": "strategy_id"})  # fmt: skip
    extra = sorted(f.name for f in fields(RiskLimits)
                   if getattr(limits, f.name) is not None and f.name not in KEY_SCOPE_FIELDS)
    if extra:
        raise ValidationFailed(
            f"{', '.join(extra)}: not a limit of a key (set it on the account or a strategy)",
            details={"field": extra[0], "key_scope_fields": sorted(KEY_SCOPE_FIELDS)},
        )
