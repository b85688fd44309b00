"""Accept one command: authorise, check, and write command + order + event in one transaction.

The per-command checks live in `accept_orders` and `accept_positions`; this module holds the
shared context, idempotency (request_id / client_order_id with a content hash) and error mapping.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from apps.oms.clock import utcnow
from apps.oms.domain import breakers
from apps.oms.domain.access import AccessDenied, Action, Role, authorize_strategy
from apps.oms.domain.breakers import Breaker
from apps.oms.domain.endpoint_rules import COMMANDS, action_for
from apps.oms.domain.errors import DomainError
from apps.oms.domain.events import Event, P
from apps.oms.domain.exposure import Exposure, ExposureLimits
from apps.oms.domain.kill import Caller, Halt, check_halts
from apps.oms.domain.risk import RiskLimits
from apps.oms.errors import (
    Conflict,
    ErrorBody,
    NotFound,
    OmsError,
    PermissionDenied,
    ValidationFailed,
)
from apps.oms.security.principal import Principal
from apps.oms.service import command_rate
from apps.oms.service.command_models import CommandEnvelope, Payload, content_hash, normalized
from apps.oms.store import commands as command_store
from apps.oms.store import orders as order_store
from apps.oms.store import outbox
from apps.oms.store import risk as risk_store
from apps.oms.store.boundary import Connection, IntegrityError, OperationalError
from apps.oms.store.outbox import NewEvent
from apps.oms.store.records import AccountState, ColumnValues, CommandResult, NewCommand
from apps.oms.store.store import Store, is_deadlock

DOMAIN_STATUS = {
    "invalid_qty": 422,
    "invalid_price": 422,
    "invalid_position_id": 422,
    "position_not_found": 404,
    "not_supported": 422,
    "invalid_strategy_id": 422,
    "unsupported_market": 422,
    "validation_error": 422,
    "position_close_in_progress": 409,
    "risk_blocked": 409,
    "invalid_order_state": 409,
    "insufficient_funds": 422,
}
_B36 = string.digits + string.ascii_lowercase

#: completes a held command once written: (command id, its order's row as stored)
Complete = Callable[[int, ColumnValues | None], None]

@dataclass
class Accepted:
    """What acceptance produced for one command."""

    command_id: int
    order_id: int | None
    status: str
    error: ErrorBody | None = None
    shadow: bool = False  # recorded in shadow mode: nothing was sent (service/shadow.py)


@dataclass(slots=True)
class Held:
    """A command accepted but not written yet (`Ctx.hold`): its row, its order's row (without
    the ids it gets from the command), and what to complete once both have ids."""

    command: NewCommand
    order: ColumnValues | None
    client_order_id: str | None  # the caller's; else one is generated from the command id
    accepted: Accepted  # its ids are set by `write_held`
    complete: Complete


@dataclass
class BatchShare:
    """What the commands of one batch share inside the batch's one transaction: rows read once
    (account, risk limits: nothing an acceptance writes), the commands held back to be written
    together (`held`, with their idempotency keys), and the outbox rows of the commands accepted
    so far, written in one statement before the commit."""

    accounts: dict[int, AccountState | None] = field(default_factory=dict)
    limits: dict[int, dict[int, RiskLimits]] = field(default_factory=dict)
    # the accepting key's own limits by account (None: none set)
    key_limits: dict[int, RiskLimits | None] = field(default_factory=dict)
    # the active kill-switch halts that may cover the key's commands, by account
    halts: dict[int, tuple[Halt, ...]] = field(default_factory=dict)
    # the tripped loss breakers of the account and its strategies, by account
    tripped: dict[int, tuple[Breaker, ...]] = field(default_factory=dict)
    # the accepting user's exposure limits (read with the accounts) and, once an order met
    # them, the user's exposure with the batch's accepted orders (`service/exposure.py`)
    exposure_limits: ExposureLimits | None = None
    exposure: Exposure | None = None
    # the keys whose row this transaction locked for the duplicate window (`service/pretrade.py`)
    locked_keys: set[int] = field(default_factory=set)
    # the accounts whose row it locked to count their open orders for a cap (the same)
    locked_accounts: set[int] = field(default_factory=set)
    # strategy allocations by account, then strategy (`service/strategy_funds.py`)
    allocations: dict[int, dict[int, ColumnValues]] = field(default_factory=dict)
    events: list[NewEvent] = field(default_factory=list)
    held: list[Held] = field(default_factory=list)
    held_keys: set[tuple[Any, ...]] = field(default_factory=set)


async def preload_accounts(
    conn: Connection, share: BatchShare, account_ids: list[int], api_key_id: int | None = None,
    user_id: int | None = None,
) -> None:
    """The accounts and risk limits (the key's own too) a batch's commands name, read in one
    statement before the first of them is accepted (`accept_in` reads an account it does not
    find here itself)."""
    missing = [a for a in account_ids if a not in share.accounts]
    if missing:
        states = await risk_store.acceptance_states(conn, missing, api_key_id, user_id)
        for account_id, state in states.items():
            remember_state(share, account_id, state)


def remember_state(share: BatchShare, account_id: int, state: risk_store.AcceptanceState) -> None:
    share.accounts[account_id] = state.account
    share.limits[account_id] = state.limits
    share.key_limits[account_id] = state.key_limits
    share.halts[account_id] = state.halts
    share.tripped[account_id] = state.tripped
    share.exposure_limits = state.exposure_limits


def counts_rate(share: BatchShare, account_id: int) -> bool:
    """Whether a command on the account is counted against a command rate (a batch accepts it
    in a savepoint of its own then: a refusal after the count must undo it)."""
    return command_rate.limited(share.limits.get(account_id, {}).get(0),
                                share.key_limits.get(account_id))  # fmt: skip


def idempotency_keys(
    account_id: int, request_id: str | None, client_order_id: str | None
) -> set[tuple[Any, ...]]:
    """The unique keys a new command takes: its request id (per account) and the client order
    id of its order (everywhere)."""
    keys: set[tuple[Any, ...]] = set()
    if request_id is not None:
        keys.add(("request", account_id, request_id))
    if client_order_id is not None:
        keys.add(("client", client_order_id))
    return keys


class HeldKeyLost(Exception):
    """Writing the held commands met a unique key: a concurrent request took an idempotency
    key of one of them after its repeat check. Not the `IntegrityError` of the command being
    accepted when it happens: the held ones are gone from the transaction's plan, so the caller
    rolls the whole transaction back and accepts its commands again (`submit._batch`,
    `accept`)."""


async def write_held(conn: Connection, share: BatchShare) -> None:
    """Write the held commands, in the order they were accepted (so their ids keep that order,
    which is the queue's), and their orders: one statement each for all of them, and one that
    gives the commands their order ids. Then each gets its ids and its events their payloads.
    Raises `HeldKeyLost` (the transaction must roll back) on a unique-key failure."""
    held, share.held = share.held, []
    share.held_keys.clear()
    if not held:
        return
    try:
        await _insert_held(conn, held)
    except IntegrityError as exc:
        raise HeldKeyLost(str(exc.orig)) from exc


async def _insert_held(conn: Connection, held: list[Held]) -> None:
    command_ids = await command_store.insert_commands(conn, [h.command for h in held])
    orders: list[tuple[int, ColumnValues]] = []  # (command id, order row)
    for h, cid in zip(held, command_ids, strict=True):
        if h.order is not None:
            coid = h.client_order_id or generate_client_order_id(cid)
            h.order.update(command_id=cid, client_order_id=coid)
            orders.append((cid, h.order))
    order_ids = await order_store.insert_orders(conn, [row for _, row in orders])
    by_command = {cid: oid for (cid, _), oid in zip(orders, order_ids, strict=True)}
    await command_store.set_order_ids(conn, by_command)
    for h, cid in zip(held, command_ids, strict=True):
        oid = by_command.get(cid)
        h.accepted.command_id, h.accepted.order_id = cid, oid
        row = None if h.order is None or oid is None else order_store.inserted_row(oid, h.order)
        h.complete(cid, row)


@dataclass
class Ctx:
    """One command being accepted, inside its transaction."""

    conn: Connection
    principal: Principal
    account: AccountState
    envelope: CommandEnvelope
    payload: Payload
    content_hash: str
    now: datetime
    # strategies' shadow flags read so far (`shadow.note_strategy_link`)
    strategy_shadow: dict[int, bool] = field(default_factory=dict)
    share: BatchShare = field(default_factory=BatchShare)
    events: list[NewEvent] = field(default_factory=list)  # written once it is accepted

    @property
    def account_id(self) -> int:
        return self.account.account_id

    def check_strategy_visible(self, strategy_id: int) -> None:
        try:
            authorize_strategy(self.principal.flags_for(self.account_id), strategy_id)
        except AccessDenied as exc:
            raise PermissionDenied(exc.message, code=exc.code) from exc

    def command_row(
        self,
        *,
        client_order_id: str | None = None,
        status: str = "queued",
        result: CommandResult | None = None,
        error: ErrorBody | None = None,
    ) -> NewCommand:
        """This command, to be written."""
        return NewCommand(
            account_id=self.account_id,
            command_type=self.envelope.command,
            request_id=self.envelope.request_id,
            client_order_id=client_order_id,
            content_hash=self.content_hash,
            # position_change keeps only the keys given: present = set, explicit null = clear
            payload=normalized(
                self.payload, exclude_unset=self.envelope.command == "position_change"
            ),
            api_key_id=self.principal.api_key_id,
            user_id=self.principal.user_id,
            created_at=self.now,
            status=status,
            result=result,
            error_code=None if error is None else error["code"],
            error_message=None if error is None else error["message"],
        )

    async def insert_command(
        self,
        *,
        client_order_id: str | None = None,
        status: str = "queued",
        result: CommandResult | None = None,
        error: ErrorBody | None = None,
    ) -> int:
        """Write this command now (commands that read or write other rows as they accept)."""
        row = self.command_row(
            client_order_id=client_order_id, status=status, result=result, error=error
        )
        return (await command_store.insert_commands(self.conn, [row]))[0]

    def hold(
        self,
        accepted: Accepted,
        complete: Complete,
        *,
        order: ColumnValues | None = None,
        client_order_id: str | None = None,
        status: str = "queued",
        result: CommandResult | None = None,
    ) -> None:
        """Accept the command and, if given, its order (`order`: the row without `command_id`
        and `client_order_id`) without writing them yet: `write_held` writes every held command
        of the transaction together before it commits, or before a read that could see them.
        `accepted` gets its ids and `complete` is called with them then."""
        command = self.command_row(client_order_id=client_order_id, status=status, result=result)
        self.share.held.append(Held(command, order, client_order_id, accepted, complete))
        self.share.held_keys |= idempotency_keys(
            self.account_id, self.envelope.request_id, client_order_id
        )

    async def write_held(self) -> None:
        """Write the held commands now (something is about to read their rows)."""
        await write_held(self.conn, self.share)

    async def key_limits(self) -> RiskLimits | None:
        """The accepting key's own limits on the account (read with the account)."""
        if self.account_id not in self.share.key_limits:
            state = await risk_store.acceptance_state(
                self.conn, self.account_id, self.principal.api_key_id, self.principal.user_id)
            self.share.key_limits[self.account_id] = state.key_limits
        return self.share.key_limits[self.account_id]

    async def risk_limits(self) -> dict[int, RiskLimits]:
        """The account's risk limits by strategy (0 = the account's own), read once per batch."""
        limits = self.share.limits.get(self.account_id)
        if limits is None:
            limits = self.share.limits[self.account_id] = await risk_store.get_limits(
                self.conn, self.account_id
            )
        return limits

    async def event(self, event: Event[P], payload: P, strategy_id: int | None) -> None:
        """Note an event; written with the command's other events once it is accepted."""
        self.events.append(
            outbox.event_row(event, payload, account_id=self.account_id, strategy_id=strategy_id)
        )


Handler = Callable[[Ctx], Awaitable[Accepted]]
#: runs in the acceptance transaction after a new command was accepted (not for a repeat)
OnAccepted = Callable[[Connection, Accepted], Awaitable[None]]


def generate_client_order_id(command_id: int) -> str:
    """`o` + command id in base 36 + 8 random characters: ≤ 32 of [a-z0-9], unique everywhere."""
    digits, n = "", command_id
    while True:
        n, r = divmod(n, 36)
        digits = _B36[r] + digits
        if n == 0:
            break
    return "o" + digits + "".join(secrets.choice(_B36) for _ in range(8))


def domain_to_oms(exc: DomainError) -> OmsError:
    details = dict(exc.details)
    status = DOMAIN_STATUS.get(exc.code, 422)
    return OmsError(str(exc), code=exc.code, status=status, details=details)


def required_action(envelope: CommandEnvelope, payload: Payload, role: Role) -> Action:
    """The action a command needs from `role` (`domain/endpoint_rules.COMMANDS`)."""
    key: str = envelope.command
    if key == "send_order" and getattr(payload, "reduce_only", False):
        key = "send_order reduce_only"
    action = action_for(COMMANDS[key], role)
    assert action is not None  # noqa: S101 - every command is account-scoped
    return action


def _allowed_on_blocked(
    envelope: CommandEnvelope, payload: Payload, principal: Principal, account_id: int
) -> bool:
    """On a blocked account: cancels and reduce-only closes by keys that may close or manage risk."""
    flags = principal.flags_for(account_id)
    if flags is None or not (flags.can_close_position or flags.can_risk_manage):
        return False
    if envelope.command in ("cancel_order", "cancel_all_orders", "close_position", "close_by"):
        return True
    return envelope.command == "send_order" and bool(getattr(payload, "reduce_only", False))


async def existing_result(
    conn: Connection,
    ctx_hash: str,
    account_id: int,
    envelope: CommandEnvelope,
    client_order_id: str | None,
) -> Accepted | None:
    """A repeat of an accepted command: the first result (same content) or 409 (different)."""
    by_request = None
    if envelope.request_id is not None:
        by_request = await command_store.find_by_request_id(conn, account_id, envelope.request_id)
    by_client = None
    if client_order_id is not None:
        order = await order_store.find_by_client_order_id(conn, client_order_id)
        if order is not None:
            if int(order["account_id"]) != account_id or order["command_id"] is None:
                raise Conflict("client_order_id is already used by another order")
            by_client = await command_store.get_command(conn, int(order["command_id"]))
    if by_request and by_client and by_request.command_id != by_client.command_id:
        raise Conflict("request_id and client_order_id belong to different commands")
    first = by_request or by_client
    if first is None:
        return None
    if first.content_hash != ctx_hash:
        raise Conflict(
            "idempotency key reused with different content",
            details={"command_id": first.command_id},
        )
    error: ErrorBody | None = None
    if first.error_code:
        error = {"code": first.error_code, "message": first.error_message or ""}
    shadow = first.result is not None and first.result.get("shadow") is True
    return Accepted(first.command_id, first.order_id, first.status, error, shadow)


async def accept(
    store: Store,
    principal: Principal,
    envelope: CommandEnvelope,
    payload: Payload,
    handlers: dict[str, Handler],
    on_accepted: OnAccepted | None = None,
) -> Accepted:
    """Authorise and accept one validated command in a transaction of its own; raises
    `OmsError` on refusal. `on_accepted` writes with the command, in its transaction (the
    signal intake records the signal so)."""
    for attempt in (1, 2):
        try:
            async with store.transaction() as conn:
                share = BatchShare()
                accepted = await accept_in(
                    conn, share, principal, envelope, payload, handlers, on_accepted
                )
                await write_held(conn, share)
                await outbox.append_events(conn, share.events)
                return accepted
        except (IntegrityError, HeldKeyLost) as exc:
            # a concurrent duplicate won the unique key: the retry returns its result
            if attempt == 2:
                raise Conflict("a concurrent command used the same idempotency key") from exc
        except OperationalError as exc:
            # chosen as a deadlock victim (two acceptances locking a user's or a key's risk
            # rows in different orders): nothing of it committed, the server asks to run it again
            if attempt == 2 or not is_deadlock(exc):
                raise
    raise AssertionError("unreachable")  # pragma: no cover


async def accept_in(
    conn: Connection,
    share: BatchShare,
    principal: Principal,
    envelope: CommandEnvelope,
    payload: Payload,
    handlers: dict[str, Handler],
    on_accepted: OnAccepted | None = None,
) -> Accepted:
    """Authorise and accept one validated command inside the caller's transaction (or
    savepoint). Its outbox rows are added to `share.events` only when it is accepted, for the
    caller to write; `on_accepted` runs then (not for a repeat). An order-creating command is
    held (`Ctx.hold`): the caller ends with `write_held` before its events. Raises `OmsError`
    on refusal; `IntegrityError` when a concurrent duplicate won an idempotency key (the caller
    retries, and the retry finds that duplicate); `HeldKeyLost` when writing the commands held
    before it did (the caller rolls back and accepts them all again)."""
    account_id = envelope.account_id
    principal.require(Action.READ, account_id)
    principal.require(required_action(envelope, payload, principal.role), account_id)
    digest = content_hash(account_id, envelope.command, payload)
    client_order_id = getattr(payload, "client_order_id", None)
    try:
        if account_id not in share.accounts:  # the account and its limits, one statement
            remember_state(share, account_id, await risk_store.acceptance_state(
                conn, account_id, principal.api_key_id, principal.user_id))
        account = share.accounts[account_id]
        if account is None:
            raise NotFound(f"account {account_id} not found", code="account_not_found")
        if share.held_keys & idempotency_keys(account_id, envelope.request_id, client_order_id):
            await write_held(conn, share)  # a repeat of a held command: find it in the store
        repeat = await existing_result(conn, digest, account_id, envelope, client_order_id)
        if repeat is not None:
            return repeat
        if account.blocked and not _allowed_on_blocked(
            envelope, payload, principal, account_id
        ):
            raise OmsError(
                "account is blocked",
                code="risk_blocked",
                status=409,
                details={"rule": "account_blocked"},
            )
        if halts := share.halts.get(account_id):
            strategy_id = getattr(payload, "strategy_id", None)
            check_halts(halts, Caller(account_id, principal.api_key_id, principal.user_id,
                                      strategy_id if strategy_id else None),
                        envelope.command, bool(getattr(payload, "reduce_only", False)),
                        principal.role is Role.RISK)  # fmt: skip
        # a tripped loss breaker that halts (one that makes reduce-only: accept_orders)
        breakers.check_halted(share.tripped.get(account_id, ()),
                              getattr(payload, "strategy_id", None), envelope.command,
                              bool(getattr(payload, "reduce_only", False)),
                              principal.role is Role.RISK)  # fmt: skip
        ctx = Ctx(conn, principal, account, envelope, payload, digest, utcnow(), share=share)
        # a refusal after it rolls the count back; risk officers (and the kill switch acting
        # as one) are never throttled
        if counts_rate(share, account_id) and principal.role is not Role.RISK:
            await command_rate.count_command(
                conn, account_id, principal.api_key_id, share.limits[account_id].get(0),
                share.key_limits.get(account_id), ctx.now)
        accepted = await handlers[envelope.command](ctx)
        if on_accepted is not None:
            await write_held(conn, share)  # it writes with the command's id
            await on_accepted(conn, accepted)
    except DomainError as exc:
        raise domain_to_oms(exc) from exc
    share.events.extend(ctx.events)
    return accepted


def require_price_for_limit(order_type: str, price: object) -> None:
    if order_type == "limit" and price is None:
        raise ValidationFailed("price is required for limit orders", details={"field": "price"})
