"""External activity on a paper account's venue (admin only): what a person on the exchange's
web page would do, bypassing the OMS entirely — place and cancel orders, and change a perpetual
position without a trade (a liquidation or an adjustment). The books learn of it only through
reconciliation, which is what this exists for: producing mismatches on purpose, end to end,
without a network. Every act is audited.

The act goes straight to the paper venue's state (its own short transaction, optimistic on the
paper account's version, so it interleaves safely with the worker), never through the queue.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from apps.oms.config import Settings
from apps.oms.domain.access import Action
from apps.oms.errors import NotFound, OmsError, ValidationFailed
from apps.oms.exchange.ccxt.error_mapping import to_oms_error
from apps.oms.exchange.ccxt.wire import jsonable
from apps.oms.exchange.ccxt_errors import errors as ccxt
from apps.oms.exchange.profiles import profile
from apps.oms.security.principal import Principal
from apps.oms.store import accounts as account_store
from apps.oms.store import audit
from apps.oms.store.store import Store
from apps.paper.exchange.factory import build_paper_venue
from apps.paper.exchange.venue import PaperVenue

ACTIONS = ("create_order", "cancel_order", "adjust_position")


async def paper_venue(store: Store, settings: Settings, account_id: int) -> PaperVenue:
    """The account's paper venue as an outsider reaches it: no injected faults or latency (the
    act itself must happen); book and balances as configured."""
    async with store.read() as conn:
        row = await account_store.get_venue_config(conn, account_id)
    if row is None:
        raise NotFound(f"account {account_id} not found", code="account_not_found")
    if not profile(row.exchange_id).simulated:
        raise ValidationFailed(
            "external activity can only be simulated on a paper account",
            code="not_supported", details={"exchange_id": row.exchange_id},
        )  # fmt: skip
    config = dict(row.config)
    paper = {k: v for k, v in dict(config.get("paper") or {}).items() if k != "faults"}
    return build_paper_venue(
        account_id, store.engine, {**config, "paper": paper},
        starting_balance_usdt=settings.paper.starting_balance_usdt,
    )  # fmt: skip


async def act(
    store: Store,
    settings: Settings,
    principal: Principal,
    account_id: int,
    action: str,
    body: dict[str, Any],
    actor: audit.Actor,
) -> dict[str, Any]:
    """Run one external act; returns `{"ok": true, "action", "result"}` (CCXT structure)."""
    principal.require(Action.ADMINISTER)
    if action not in ACTIONS:
        raise ValidationFailed(f"unknown action {action!r}", details={"actions": list(ACTIONS)})
    require_fields(action, body)
    venue = await paper_venue(store, settings, account_id)
    try:
        result = await _run(venue, action, body)
    except ccxt.BaseError as exc:
        raise to_oms_error(exc) from exc
    finally:
        await venue.close()
    async with store.transaction() as conn:
        await audit.record(
            conn, actor, action=f"paper.external.{action}", target_type="account",
            target_id=account_id, after={"request": jsonable(body), "result": jsonable(result)},
        )  # fmt: skip
    store.note_accepted(None)
    return {"ok": True, "account_id": account_id, "action": action, "result": jsonable(result)}


async def _run(venue: PaperVenue, action: str, body: dict[str, Any]) -> Any:
    if action == "create_order":
        price = body.get("price")
        return await venue.create_order(
            str(body["symbol"]), str(body.get("type") or "market"), str(body["side"]),
            Decimal(str(body["amount"])), None if price is None else Decimal(str(price)),
            dict(body.get("params") or {}),
        )  # fmt: skip
    if action == "cancel_order":
        return await venue.cancel_order(str(body["id"]), body.get("symbol"))
    price = body.get("price")
    return await venue.adjust_position(
        str(body["symbol"]), Decimal(str(body["qty"])),
        None if price is None else Decimal(str(price)),
    )  # fmt: skip


def require_fields(action: str, body: dict[str, Any]) -> None:
    needed = {"create_order": ("symbol", "side", "amount"), "cancel_order": ("id",),
              "adjust_position": ("symbol", "qty")}[action]  # fmt: skip
    missing = [f for f in needed if body.get(f) is None]
    if missing:
        raise OmsError(f"{action} needs {', '.join(missing)}", code="validation_error",
                       status=422, details={"missing": missing})  # fmt: skip
