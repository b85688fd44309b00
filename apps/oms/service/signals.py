"""The signal intake (api.md → Signals): a fresh, new, authenticated signal becomes a
`send_order` (reason `signal`) through the same acceptance as `/oms/commands`, with
`oms_stop_gain` / `oms_stop_loss` from `tp_pct` / `sl_pct`, and is stored with its outcome.

Stored: every signal that is authenticated, well formed, fresh and not a replay, with its
outcome: `accepted` (+ command id), `shadowed` (shadow mode: recorded, nothing sent) or
`refused` (+ error code and message). An accepted signal's row commits with its command.
Not stored (nothing written at all): a bad signature or key, malformed input, a timestamp out
of the window, a replayed `signal_id` (the first row keeps its outcome).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any, Literal, NotRequired, TypedDict

from pydantic import ValidationError

from apps.oms.clock import iso_z, utcnow
from apps.oms.config import Settings
from apps.oms.domain.access import Action
from apps.oms.domain.enums import Side
from apps.oms.domain.errors import DomainError
from apps.oms.domain.signals import freshness, qty_from_notional, targets_from_pct
from apps.oms.errors import Conflict, ErrorBody, NotFound, OmsError, ValidationFailed
from apps.oms.exchange.profiles import profile
from apps.oms.security.principal import Principal
from apps.oms.service import submit
from apps.oms.service.acceptance import Accepted, accept, domain_to_oms
from apps.oms.service.command_models import CommandEnvelope, SendOrder
from apps.oms.service.risk_snapshot import reference_price
from apps.oms.service.signal_models import Signal, parse_signal
from apps.oms.store import accounts as account_store
from apps.oms.store import signals as signal_store
from apps.oms.store.boundary import Connection, IntegrityError
from apps.oms.store.records import AccountRecord, ColumnValues
from apps.oms.store.store import Store

Auth = Literal["api_key", "signature"]


class SignalView(TypedDict):
    """A received signal on the wire (`GET /signals/{account_id}` items)."""

    id: int
    account_id: int
    signal_id: str | None
    auth: str
    api_key_id: int | None
    strategy_id: int
    symbol: str
    sent_at: str | None
    status: str
    command_id: int | None
    error: ErrorBody | None
    body: Mapping[str, object]  # the signal as received (`Signal.stored`)
    created_at: str | None


class SignalOutcome(TypedDict):
    id: int
    status: str
    signal_id: str | None


class Received(TypedDict):
    """`POST /signals/{account_id}`'s answer."""

    ok: bool
    signal: SignalOutcome
    command_id: int
    order_id: int | None
    status: str
    shadow: bool


class SignalPage(TypedDict):
    account_id: int
    items: list[SignalView]


class SignalOrder(TypedDict):
    """A signal's `send_order` payload (validated as `SendOrder`)."""

    symbol: str
    side: str
    order_type: str
    qty: Decimal | None  # None: refused by `SendOrder` validation
    strategy_id: int
    reason: str
    reduce_only: bool
    price: NotRequired[Decimal | None]
    oms_stop_gain: NotRequired[Decimal | None]
    oms_stop_loss: NotRequired[Decimal | None]
    comment: NotRequired[str]
    client_order_id: NotRequired[str]


def signal_view(row: ColumnValues) -> SignalView:
    error: ErrorBody | None = None
    if row["error_code"]:
        error = {"code": row["error_code"], "message": row["error_message"] or ""}
    return {
        "id": int(row["id"]), "account_id": int(row["account_id"]), "signal_id": row["signal_id"],
        "auth": row["auth"], "api_key_id": row["api_key_id"],
        "strategy_id": int(row["strategy_id"]), "symbol": row["symbol"],
        "sent_at": iso_z(row["sent_at"]), "status": row["status"],
        "command_id": row["command_id"], "error": error, "body": row["body"],
        "created_at": iso_z(row["created_at"]),
    }  # fmt: skip


def _replayed(first: ColumnValues | None, signal_id: str) -> Conflict:
    details: dict[str, object] = {"signal_id": signal_id}
    if first is not None:
        details |= {"id": int(first["id"]), "status": first["status"],
                    "command_id": first["command_id"]}  # fmt: skip
    return Conflict(f"signal {signal_id} was already received", code="signal_replayed",
                    details=details)  # fmt: skip


def _market(exchange_id: str, symbol: str) -> tuple[Decimal, Decimal | None, Decimal | None]:
    """(contract size, quantity step, price tick) of the symbol; steps unknown off paper."""
    market = profile(exchange_id).market(symbol)
    if market is None:  # off paper, or a symbol acceptance refuses with its own error
        return Decimal(1), None, None
    return market.contract_size, market.amount_step, market.price_step


def order_payload(
    signal: Signal, exchange_id: str, quote: Decimal | None
) -> SignalOrder:
    """The `send_order` payload of a signal; `quote` is the reference price of a market
    signal (a limit signal's own price is its reference)."""
    reference = signal.price if signal.order_type == "limit" else quote
    needs_price = signal.notional is not None or signal.tp_pct or signal.sl_pct
    if needs_price and reference is None:
        raise OmsError(
            f"no current price for {signal.symbol}: send a limit price or qty without targets",
            code="no_reference_price", status=409, details={"symbol": signal.symbol},
        )  # fmt: skip
    contract_size, step, tick = _market(exchange_id, signal.symbol)
    qty = signal.qty
    if signal.notional is not None:
        assert reference is not None  # noqa: S101 - checked above
        qty = qty_from_notional(signal.notional, reference, contract_size, step)
    payload: SignalOrder = {
        "symbol": signal.symbol, "side": signal.side, "order_type": signal.order_type,
        "qty": qty, "strategy_id": signal.strategy_id, "reason": "signal",
        "reduce_only": signal.reduce_only,
    }  # fmt: skip
    if signal.order_type == "limit":
        payload["price"] = signal.price
    if signal.tp_pct is not None or signal.sl_pct is not None:
        assert reference is not None  # noqa: S101
        targets = targets_from_pct(Side(signal.side), reference, signal.tp_pct, signal.sl_pct, tick)
        payload["oms_stop_gain"], payload["oms_stop_loss"] = targets.stop_gain, targets.stop_loss
    comment = signal.comment or signal.reason
    if comment:
        payload["comment"] = comment[:1000]
    if signal.client_order_id:
        payload["client_order_id"] = signal.client_order_id
    return payload


async def _check_new(conn: Connection, account_id: int, signal: Signal) -> None:
    if signal.signal_id is not None:
        first = await signal_store.find_signal(conn, account_id, signal.signal_id)
        if first is not None:
            raise _replayed(first, signal.signal_id)


def _row(account_id: int, signal: Signal, principal: Principal, auth: Auth) -> ColumnValues:
    return {
        "account_id": account_id, "signal_id": signal.signal_id, "auth": auth,
        "api_key_id": principal.api_key_id if auth == "api_key" else None,
        "strategy_id": signal.strategy_id, "symbol": signal.symbol, "sent_at": signal.timestamp,
        "body": signal.stored(), "created_at": utcnow(),
    }  # fmt: skip


async def _store_refusal(store: Store, row: ColumnValues, error: OmsError) -> int:
    try:
        async with store.transaction() as conn:
            return await signal_store.insert_signal(conn, {
                **row, "status": "refused", "error_code": error.code,
                "error_message": error.message[:2000]})  # fmt: skip
    except IntegrityError as exc:  # a concurrent copy of the same signal_id won
        raise _replayed(None, str(row["signal_id"])) from exc


def check_fresh(settings: Settings, signal: Signal, auth: Auth) -> None:
    """Replay guards: a signed signal must carry `signal_id` and `timestamp`; a timestamp must
    be within `signals.timestamp_window_seconds` of now."""
    if auth == "signature" and (signal.signal_id is None or signal.timestamp is None):
        raise ValidationFailed("a signed signal needs signal_id and timestamp (replay protection)",
                               details={"fields": ["signal_id", "timestamp"]})  # fmt: skip
    if signal.timestamp is None:
        return
    now = utcnow()
    window = settings.signals.timestamp_window_seconds
    reason = freshness(signal.timestamp, now, timedelta(seconds=window))
    if reason is not None:
        raise ValidationFailed(
            f"signal timestamp {iso_z(signal.timestamp)} is more than {window:g} s from the "
            f"server time {iso_z(now)}", code=reason,
            details={"timestamp": iso_z(signal.timestamp), "server_time": iso_z(now),
                     "window_seconds": window},
        )  # fmt: skip


async def receive(
    store: Store, settings: Settings, principal: Principal, auth: Auth, account_id: int,
    body: Any,
) -> Received:  # fmt: skip
    """Guard, size and accept one signal (`body`: the exactly parsed JSON); returns the
    response body or raises."""
    principal.require(Action.TRADE, account_id)
    signal = parse_signal(body)
    check_fresh(settings, signal, auth)
    async with store.read() as conn:
        account = await account_store.get_account(conn, account_id)
        if account is None:
            raise NotFound(f"account {account_id} not found", code="account_not_found")
        await _check_new(conn, account_id, signal)
        quote = None
        if signal.order_type == "market" and (signal.notional or signal.tp_pct or signal.sl_pct):
            quote = await reference_price(conn, account.exchange_id, signal.symbol, utcnow())
    if quote is None:
        quote = profile(account.exchange_id).start_price(signal.symbol)
    row = _row(account_id, signal, principal, auth)
    try:
        accepted, row_id = await _accept(store, principal, account, signal, quote, row)
    except OmsError as exc:
        if not 400 <= exc.status < 500 or exc.code == "signal_replayed":
            raise  # a transient or internal failure: not an outcome, the sender may retry
        exc.details = {**exc.details, "signal": {"id": await _store_refusal(store, row, exc),
                                                 "status": "refused"}}  # fmt: skip
        raise
    store.note_accepted({account_id})
    if accepted.status == "queued":
        await store.notify_queued({account_id})
    status = "shadowed" if accepted.shadow else "accepted"
    return {"ok": True, "signal": {"id": row_id, "status": status, "signal_id": signal.signal_id},
            "command_id": accepted.command_id, "order_id": accepted.order_id,
            "status": accepted.status, "shadow": accepted.shadow}  # fmt: skip


async def _accept(
    store: Store, principal: Principal, account: AccountRecord, signal: Signal,
    quote: Decimal | None, row: ColumnValues,
) -> tuple[Accepted, int]:  # fmt: skip
    try:
        payload = SendOrder.model_validate(order_payload(signal, account.exchange_id, quote))
    except DomainError as exc:
        raise domain_to_oms(exc) from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValidationFailed(f"order from the signal: {where}: {first['msg']}") from exc
    request_id = None if signal.signal_id is None else f"signal:{signal.signal_id}"
    envelope = CommandEnvelope(account_id=account.account_id, command="send_order",
                               request_id=request_id, payload={})  # fmt: skip
    written: list[int] = []

    async def record(conn: Connection, accepted: Accepted) -> None:
        status = "shadowed" if accepted.shadow else "accepted"
        written.append(await signal_store.insert_signal(
            conn, {**row, "status": status, "command_id": accepted.command_id}))  # fmt: skip

    accepted = await accept(store, principal, envelope, payload, submit.HANDLERS, record)
    if not written:  # a repeat of a command accepted meanwhile under the same signal_id
        raise _replayed(None, str(signal.signal_id))
    return accepted, written[0]


async def list_signals(
    store: Store, principal: Principal, account_id: int, *, status: str | None,
    before_id: int | None, limit: int,
) -> SignalPage:  # fmt: skip
    """`GET /signals/{account_id}`: newest first, for the account's readers (a
    strategy-restricted key sees its strategies' signals only)."""
    principal.require(Action.READ, account_id)
    flags = principal.flags_for(account_id)
    strategies = flags.strategy_ids if flags is not None and flags.restrict_to_strategies else None
    async with store.read() as conn:
        rows = await signal_store.list_signals(conn, account_id, strategy_ids=strategies,
                                               status=status, before_id=before_id, limit=limit)
    return {"account_id": account_id, "items": [signal_view(r) for r in rows]}
