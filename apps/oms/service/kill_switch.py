"""The kill switch (issue 53): one call halts a scope (a key, a strategy, an account, a user,
everything). In one transaction it records the halt (from its commit on, acceptance refuses the
scope's new commands: `domain/kill.py`), audits it with the actor and the reason, queues the
cancels of the scope's working orders (and, with `flatten`, the closes of its open positions)
through the normal command path with request ids `kill:{halt_id}:…` (so each executes once,
in the accounts' queue order), and announces `kill_switch_engaged` on each account it reaches.
Only the risk role engages and lifts one (`can_risk_manage` + `can_block_account` on every
account of the scope; `can_close_position` too to flatten)."""

from __future__ import annotations

from typing import NotRequired, TypedDict

from apps.oms.clock import iso_z, utcnow
from apps.oms.domain import events
from apps.oms.domain.access import Action, Role
from apps.oms.domain.events import ChangedBy, Event, KillSwitchChanged
from apps.oms.domain.kill import FLATTENABLE, SCOPES, Halt, Queued, Scope, plan
from apps.oms.errors import ErrorBody, NotFound, OmsError, PermissionDenied, ValidationFailed
from apps.oms.security.principal import Principal
from apps.oms.service.acceptance import BatchShare, accept_in, write_held
from apps.oms.service.command_models import CommandEnvelope, parse_payload
from apps.oms.service.request_model import mandatory_comment
from apps.oms.service.submit import HANDLERS
from apps.oms.store import audit, outbox
from apps.oms.store import halts as halt_store
from apps.oms.store.audit import Actor
from apps.oms.store.boundary import Connection, savepoint
from apps.oms.store.records import Row
from apps.oms.store.store import Store


class QueuedCommand(TypedDict):
    """One cancel or close the kill switch queued (`command_id`) or could not (`error`)."""

    account_id: int
    command: str
    request_id: str
    ok: bool
    command_id: NotRequired[int]
    error: NotRequired[ErrorBody]


class HaltView(TypedDict):
    halt_id: int
    scope: str
    scope_id: int
    flatten: bool
    reason: str
    engaged_at: str | None


class Engaged(TypedDict):
    ok: bool
    halt: HaltView
    accounts: list[int]
    working_orders: int
    commands: list[QueuedCommand]


class Lifted(TypedDict):
    ok: bool
    lifted: list[int]
    scope: str
    scope_id: int
    lifted_at: str | None


class EngagedBy(TypedDict):
    user_id: int | None
    api_key_id: int | None


class ActiveHalt(HaltView):
    engaged_by: EngagedBy


class Halts(TypedDict):
    items: list[ActiveHalt]


def _by(principal: Principal) -> ChangedBy:
    return {"user_id": principal.user_id, "user_name": principal.user_name,
            "api_key_id": principal.api_key_id}  # fmt: skip


def _scope_id(scope: str, scope_id: int | None) -> tuple[Scope, int]:
    if scope not in SCOPES:
        raise ValidationFailed(f"scope must be one of {', '.join(SCOPES)}",
                               details={"field": "scope"})  # fmt: skip
    if scope == "all":
        if scope_id:
            raise ValidationFailed("scope all takes no id", details={"field": "id"})
        return "all", 0
    if not scope_id:
        raise ValidationFailed(f"scope {scope} needs an id", details={"field": "id"})
    return scope, scope_id


async def _authorised_accounts(
    conn: Connection, principal: Principal, scope: Scope, scope_id: int, flatten: bool
) -> list[int]:
    """The scope's accounts, each of which the caller must be allowed to block (and close on,
    to flatten); a scope that reaches no account (but everything) is 404."""
    account_ids = await halt_store.accounts_of(conn, scope, scope_id)
    for account_id in account_ids:
        principal.require(Action.BLOCK_ACCOUNT, account_id)
        if flatten:
            principal.require(Action.CLOSE, account_id)
    if principal.role is not Role.RISK:  # a store without accounts
        raise PermissionDenied("only the risk role engages or lifts the kill switch")
    if not account_ids and scope != "all":
        raise NotFound(f"{scope} {scope_id} reaches no account", code="not_found")
    return account_ids


async def _announce(
    conn: Connection, event: Event[KillSwitchChanged], halt: Halt, flatten: bool, active: bool,
    account_ids: list[int], queued: dict[int, list[int]], principal: Principal, at: str,
) -> None:  # fmt: skip
    rows = [outbox.event_row(event, {
        "halt_id": halt.halt_id, "account_id": account_id, "scope": halt.scope,
        "scope_id": halt.scope_id, "active": active, "flatten": flatten, "reason": halt.reason,
        "queued": queued.get(account_id, []), "changed_at": at, "changed_by": _by(principal),
    }, account_id=account_id, strategy_id=None) for account_id in account_ids]  # fmt: skip
    await outbox.append_events(conn, rows)


async def _queue(
    conn: Connection, share: BatchShare, principal: Principal, halt: Halt, item: Queued
) -> QueuedCommand:
    """One cancel or close through acceptance (its own savepoint): what it queued or why not."""
    request_id = f"kill:{halt.halt_id}:{item.tag}"
    envelope = CommandEnvelope(account_id=item.account_id, command=item.command,  # type: ignore[arg-type]
                               request_id=request_id, payload=item.payload)  # fmt: skip
    payload = parse_payload(item.command, item.payload)
    done: QueuedCommand = {"account_id": item.account_id, "command": item.command,
                           "request_id": request_id, "ok": False}  # fmt: skip
    await write_held(conn, share)
    try:
        async with savepoint(conn):
            accepted = await accept_in(conn, share, principal, envelope, payload, HANDLERS)
            await write_held(conn, share)
    except OmsError as exc:
        done["error"] = {"code": exc.code, "message": exc.message}
        return done
    done["ok"], done["command_id"] = True, accepted.command_id
    return done


async def engage(
    store: Store, principal: Principal, actor: Actor, *, scope: str, scope_id: int | None,
    flatten: bool, comment: str,
) -> Engaged:  # fmt: skip
    """Halt the scope, queue its cancels (and closes), audit and announce; one transaction."""
    kind, target = _scope_id(scope, scope_id)
    reason = mandatory_comment(comment)
    if flatten and kind not in FLATTENABLE:
        raise ValidationFailed(f"flatten needs a strategy, an account or everything ({kind}s "
                               "share positions)", details={"field": "flatten"})  # fmt: skip
    now = utcnow()
    async with store.transaction() as conn:
        account_ids = await _authorised_accounts(conn, principal, kind, target, flatten)
        halt_id = await halt_store.insert_halt(conn, kind, target, flatten, reason,
                                               principal.user_id, principal.api_key_id, now)
        halt = Halt(halt_id, kind, target, reason)
        working = await halt_store.working_orders(conn, kind, target, account_ids)
        held = await halt_store.open_positions(conn, kind, target, account_ids) if flatten else []
        share = BatchShare()
        results = [await _queue(conn, share, principal, halt, item)
                   for item in plan(halt, working, held, flatten)]  # fmt: skip
        await write_held(conn, share)
        await outbox.append_events(conn, share.events)
        queued: dict[int, list[int]] = {}
        for r in results:
            if "command_id" in r:
                queued.setdefault(r["account_id"], []).append(r["command_id"])
        await audit.record(
            conn, actor, action="risk_kill_switch", target_type=kind, target_id=target,
            after={"halt_id": halt_id, "scope": kind, "scope_id": target, "flatten": flatten,
                   "accounts": account_ids, "working_orders": len(working),
                   "queued": [c for ids in queued.values() for c in ids]},
            comment=reason,
        )  # fmt: skip
        await _announce(conn, events.KILL_SWITCH_ENGAGED, halt, flatten, True, account_ids,
                        queued, principal, iso_z(now) or "")  # fmt: skip
    store.note_accepted(set(queued))
    await store.notify_queued(set(queued))
    return {"ok": True, "halt": {"halt_id": halt_id, "scope": kind, "scope_id": target,
                                 "flatten": flatten, "reason": reason,
                                 "engaged_at": iso_z(now)},
            "accounts": account_ids, "working_orders": len(working),
            "commands": results}  # fmt: skip


async def lift(
    store: Store, principal: Principal, actor: Actor, *, scope: str, scope_id: int | None,
    comment: str,
) -> Lifted:  # fmt: skip
    """Lift the scope's active halts (the risk role only); audited and announced."""
    kind, target = _scope_id(scope, scope_id)
    reason = mandatory_comment(comment)
    now = utcnow()
    async with store.transaction() as conn:
        account_ids = await _authorised_accounts(conn, principal, kind, target, False)
        rows = await halt_store.active(conn, kind, target, lock=True)
        if not rows:
            raise NotFound(f"no active halt of {kind} {target}", code="not_found")
        await halt_store.lift(conn, [int(r["id"]) for r in rows], reason, principal.user_id,
                              principal.api_key_id, now)  # fmt: skip
        for row in rows:
            halt = halt_store.halt_of(row)
            await audit.record(conn, actor, action="risk_kill_switch_lift", target_type=kind,
                               target_id=target, before={"halt_id": halt.halt_id,
                                                         "reason": halt.reason},
                               after={"halt_id": halt.halt_id, "lifted": True},
                               comment=reason)  # fmt: skip
            await _announce(conn, events.KILL_SWITCH_LIFTED, halt, bool(row["flatten"]), False,
                            account_ids, {}, principal, iso_z(now) or "")  # fmt: skip
    return {"ok": True, "lifted": [int(r["id"]) for r in rows], "scope": kind,
            "scope_id": target, "lifted_at": iso_z(now)}  # fmt: skip


def _view(row: Row) -> ActiveHalt:
    return {"halt_id": int(row["id"]), "scope": row["scope"], "scope_id": int(row["scope_id"]),
            "flatten": bool(row["flatten"]), "reason": row["reason"],
            "engaged_at": iso_z(row["engaged_at"]),
            "engaged_by": {"user_id": row["engaged_by_user_id"],
                           "api_key_id": row["engaged_by_api_key_id"]}}  # fmt: skip


async def active_halts(store: Store, principal: Principal) -> Halts:
    """The active halts: all of them for the risk role; for other keys those that cover them
    (everything, their key, their user, accounts they read)."""
    async with store.read() as conn:
        rows = await halt_store.active(conn)
    readable = principal.visible_account_ids()

    def mine(row: Row) -> bool:
        scope, target = row["scope"], int(row["scope_id"])
        return (scope == "all" or (scope == "key" and target == principal.api_key_id)
                or (scope == "user" and target == principal.user_id)
                or (scope == "account" and (readable is None or target in readable)))

    seen = principal.role in (Role.RISK, Role.ADMIN)
    return {"items": [_view(r) for r in rows if seen or mine(r)]}
