"""The outbox's events as a closed set: every event type (`EventType`), its namespace and the
shape of its payload (a `TypedDict` per payload, exactly the JSON that goes on the wire).

An event is emitted only through one of the `Event` constants below (`outbox.event_row`,
`Recorder.hold_event`), typed by its payload: mypy refuses an unknown event and a payload of
the wrong shape. The websocket's AsyncAPI document and the event table of docs/websocket.md
are checked against `EVENTS` (test/unit/foundation/test_events.py).

Annotations are evaluated (no `from __future__ import annotations`) so that `NotRequired` keys
are known at run time too (`__optional_keys__`: the AsyncAPI document shows them).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, Literal, NotRequired, TypedDict, TypeVar

Namespace = Literal["position", "risk", "system"]
#: a JSON object whose keys the gateway does not fix (venue params, a command's payload or
#: result, an error's details): free-form
FreeForm = Mapping[str, object]


class EventType(StrEnum):
    """Every event the outbox carries (its `event` column)."""

    ORDER_ACCEPTED = "order_accepted"
    ORDER_SUBMITTED = "order_submitted"
    ORDER_PARTIALLY_FILLED = "order_partially_filled"
    ORDER_FILLED = "order_filled"
    ORDER_CANCELED = "order_canceled"
    ORDER_REJECTED = "order_rejected"
    ORDER_EXPIRED = "order_expired"
    ORDER_TRIGGERED = "order_triggered"
    ORDER_TRIGGER_MOVED = "order_trigger_moved"
    ORDER_GROUP_CHANGED = "order_group_changed"
    ORDER_GROUP_OVERFILLED = "order_group_overfilled"
    ORDER_CHANGED = "order_changed"
    ORDER_CHANGE_REPLACE_PENDING = "order_change_replace_pending"
    ORDER_CHANGE_REPLACE_FAILED = "order_change_replace_failed"
    ORDER_CHANGE_REPLACE_CONSOLIDATED = "order_change_replace_consolidated"
    ORDERS_CANCELED_BATCH = "orders_canceled_batch"
    DEAL_CREATED = "deal_created"
    POSITION_OPENED = "position_opened"
    POSITION_UPDATED = "position_updated"
    POSITION_CLOSED = "position_closed"
    POSITION_CHANGED = "position_changed"
    POSITIONS_MERGED = "positions_merged"
    CLOSE_BY_EXECUTED = "close_by_executed"
    POSITION_CLOSE_REQUESTED = "position_close_requested"
    COMMAND_COMPLETED = "command_completed"
    COMMAND_FAILED = "command_failed"
    COMMAND_SHADOWED = "command_shadowed"
    RECONCILIATION_TICK = "reconciliation_tick"
    ACCOUNT_OUT_OF_SYNC = "account_out_of_sync"
    REASSIGNED = "reassigned"
    ACCOUNT_ALLOW_NEW_POSITIONS_CHANGED = "account_allow_new_positions_changed"
    STRATEGY_ALLOW_NEW_POSITIONS_CHANGED = "strategy_allow_new_positions_changed"
    ACCOUNT_STATUS_CHANGED = "account_status_changed"
    ACCOUNT_SHADOW_CHANGED = "account_shadow_changed"
    STRATEGY_SHADOW_CHANGED = "strategy_shadow_changed"
    RISK_REJECTED = "risk_rejected"
    STOP_TRIGGERED = "stop_triggered"
    POSITION_OVERFILL = "position_overfill"
    ORDER_OVERFILLED = "order_overfilled"
    KILL_SWITCH_ENGAGED = "kill_switch_engaged"
    KILL_SWITCH_LIFTED = "kill_switch_lifted"
    LOSS_BREAKER_TRIPPED = "loss_breaker_tripped"
    LOSS_BREAKER_LIFTED = "loss_breaker_lifted"
    ACCOUNT_OWNER_CHANGED = "account_owner_changed"


# --- wire views of stored rows (service/views.py renders them) --------------------------------
# decimals are plain strings, times ISO 8601 UTC with `Z`; the key order is the wire's


class OrderView(TypedDict):
    """An order as REST reads and order events show it."""

    id: int
    account_id: int
    command_id: int | None
    client_order_id: str
    exchange_order_id: str | None
    symbol: str
    side: str
    order_type: str
    qty: str
    price: str | None
    trigger_price: str | None
    stop_price: str | None
    take_profit_price: str | None
    trailing_amount: str | None
    trailing_percent: str | None
    trailing_trigger_price: str | None  # a trailing stop's activation price
    trigger_price_type: str | None  # last | mark (None: last)
    expire_at: str | None  # time_in_force GTD
    fire_at: str | None  # a bracket's time-limit exit: when the clock fires it
    emulation: str  # venue | gateway: who executes its conditional part
    parent_order_id: int | None  # a held order's child names its parent
    group_id: int | None  # the contingent group it belongs to (OCO, OTO, bracket)
    group_kind: str | None  # that group's kind: oco | oto | bracket
    group_role: str | None  # its role: leg0.., entry, child1.., stop_loss, take_profit, time_limit
    time_in_force: str | None
    post_only: bool
    reduce_only: bool
    status: str
    filled_qty: str
    avg_fill_price: str | None
    fee: str
    fee_currency: str | None
    strategy_id: int
    position_id: int
    previous_position_id: int | None
    reason: str
    comment: str | None
    stop_loss: str | None
    stop_gain: str | None
    outcome_unknown: bool
    reconciled: bool
    params: FreeForm | None  # the venue params as accepted
    edit_replace_state: str
    edit_replace_at: str | None
    edit_replace_orphan_order_id: int | None
    edit_replace_origin_order_id: int | None
    error_code: str | None
    error_message: str | None
    created_at: str
    updated_at: str
    submitted_at: str | None
    closed_at: str | None
    order_id: int


class DealView(TypedDict):
    """A deal as REST reads and `deal_created` show it."""

    id: int
    account_id: int
    order_id: int | None
    position_id: int
    previous_position_id: int | None
    symbol: str
    side: str
    qty: str
    price: str
    fee: str
    fee_currency: str | None
    pnl: str
    entry: str
    leg: int
    contract_size: str
    strategy_id: int
    reason: str
    comment: str | None
    reconciled: bool
    exchange_trade_id: str | None
    taker_or_maker: str | None
    executed_at: str
    created_at: str
    deal_id: int


class PositionView(TypedDict):
    """A position as REST reads and position events show it."""

    id: int
    account_id: int
    symbol: str
    strategy_id: int
    side: str
    qty: str
    avg_price: str
    realized_pnl: str
    fee: str
    contract_size: str
    pending_close_qty: str
    stop_loss: str | None
    stop_gain: str | None
    state: str
    reason: str
    comment: str | None
    opened_at: str
    updated_at: str
    closed_at: str | None
    position_id: int


class CommandView(TypedDict):
    """A command as REST reads and `command_completed` / `command_failed` show it."""

    id: int
    account_id: int
    command_type: str
    request_id: str | None
    client_order_id: str | None
    status: str
    error_code: str | None
    error_message: str | None
    result: FreeForm | None  # per command kind
    order_id: int | None
    payload: FreeForm  # the command's payload as accepted
    attempts: int
    created_at: str
    started_at: str | None
    finished_at: str | None
    updated_at: str
    command_id: int


# --- payloads of the other events -------------------------------------------------------------


class VenueOrderRef(TypedDict):
    client_order_id: str
    exchange_order_id: str | None


class ChangedOrderView(OrderView):
    """An order change's order; a cancel/replace adds the venue orders, oldest first (and a
    failed one its `reason` in the order's `reason`)."""

    venue_orders: NotRequired[list[VenueOrderRef]]


class CancelItem(TypedDict):
    """One order of a cancel command: cancelled (`ok`, `status`) or not (`code`, and the
    venue's `message` or the order's `status`)."""

    order_id: int
    ok: bool
    status: NotRequired[str]
    code: NotRequired[str]
    message: NotRequired[str]


class CanceledBatch(TypedDict):
    command_id: int
    items: list[CancelItem]


class PositionsMerged(TypedDict):
    source_position_id: int
    target_position_id: int


class CloseByExecuted(TypedDict):
    position_id_a: int
    position_id_b: int
    qty: str


class CommandShadowed(TypedDict):
    """A command recorded in shadow mode: what would have been sent."""

    command_id: int | None  # set once the command row has its id
    command: str
    status: str
    shadow: bool
    scope: str
    would_send: FreeForm  # the order's fields as they would go to the venue


class MismatchView(TypedDict):
    symbol: str
    venue_qty: str
    books_qty: str
    difference: str


class ReconcileRunView(TypedDict):
    """One reconciliation run's statistics (`reconciliation_tick`, `POST /oms/reconcile`)."""

    account_id: int
    scope: str
    ok: bool
    since_ms: int
    orders_seen: int
    orders_linked: int
    orders_refreshed: int
    external_orders_created: int
    trades_seen: int
    trades_booked: int
    trades_already_booked: int
    trades_orphaned: int
    pages: int
    payloads_stored: int
    positions_checked: bool
    out_of_sync: bool
    mismatches: list[MismatchView]
    cursor_ms: int | None


class AccountOutOfSync(TypedDict):
    account_id: int
    out_of_sync: bool
    blocks_new_positions: bool
    mismatches: list[MismatchView]


class ReassignedOrder(TypedDict):
    order_id: int
    strategy_id: int
    reason: str


class PositionBrief(TypedDict):
    position_id: int
    strategy_id: int
    symbol: str
    side: str
    qty: str
    avg_price: str
    realized_pnl: str
    state: str


class ReassignBefore(TypedDict):
    orders: list[ReassignedOrder]
    positions: list[PositionBrief]


class ReassignResult(TypedDict):
    orders_updated: int
    deals_updated: int
    positions_rebuilt: int
    order_ids: list[int]
    positions: list[PositionView]


class Reassigned(TypedDict):
    """`ReassignResult` between the account and what was before."""

    account_id: int
    orders_updated: int
    deals_updated: int
    positions_rebuilt: int
    order_ids: list[int]
    positions: list[PositionView]
    before: ReassignBefore


class ChangedBy(TypedDict):
    user_id: int | None
    user_name: str | None
    api_key_id: int | None


class RiskSwitchChanged(TypedDict):
    """A risk switch flipped (`risk_actions`): the switched field (`allow_new_positions`,
    `status` or `shadow`) with its new value and its `previous` one."""

    ok: bool
    account_id: int
    strategy_id: NotRequired[int]
    allow_new_positions: NotRequired[bool]
    status: NotRequired[str]
    shadow: NotRequired[bool]
    previous: bool | str
    comment: str
    changed_at: str
    changed_by: ChangedBy


class RiskRejected(OrderView):
    code: str
    details: FreeForm  # the risk rule's details


class OrderTriggered(TypedDict):
    """A held order fired: its child was enqueued in the same transaction."""

    order: OrderView  # the parent, as it is now
    child: OrderView  # the child order (PENDING_SUBMIT), carrying the parent's id and strategy
    #: the reference price that crossed the trigger; null for a time limit (the clock fired it)
    price: str | None
    price_type: str  # last | mark
    request_id: str  # the child command's request id (one per parent, ever)


class OrderTriggerMoved(TypedDict):
    """A held trailing stop's trigger moved (or the stop activated); written before anything
    reads it again, so the next owner of the account continues from it."""

    order_id: int
    trigger_price: str
    activated: bool
    price: str  # the reference price that moved it


class OrderGroupMember(TypedDict):
    order_id: int
    role: str  # leg0, leg1.. (OCO) | entry, stop_loss, take_profit (bracket)
    status: str  # the member order's status
    filled_qty: str


class OrderGroupView(TypedDict):
    """A contingent group (OCO, bracket) as it is now: its state follows its members."""

    group_id: int
    account_id: int
    kind: str  # oco | bracket
    state: str  # pending | active | triggered | done | canceled | overfilled
    symbol: str
    strategy_id: int
    parent_order_id: int  # the order it was accepted with (an OCO's first leg, the entry)
    members: list[OrderGroupMember]


class StopTriggered(TypedDict):
    kind: str
    position_id: int
    request_id: str
    order: OrderView


class PositionOverfill(TypedDict):
    message: str
    position_id: int


class OrderOverfilled(TypedDict):
    order_id: int
    qty: str


class KillSwitchChanged(TypedDict):
    """A kill-switch halt engaged or lifted (`service/kill_switch.py`), on each account its
    scope reaches: `queued` = the commands it queued on this account (cancels, closes)."""

    halt_id: int
    account_id: int
    scope: str
    scope_id: int
    active: bool
    flatten: bool
    reason: str
    queued: list[int]
    changed_at: str
    changed_by: ChangedBy


class LossBreakerChanged(TypedDict):
    """A loss breaker tripped by the worker's watch or lifted by the risk role
    (`service/breakers.py`): `state` is the scope's state after it (`reduce_only`, `halted`,
    `armed`); `rule`, `limit` and `value` say what tripped it (a lift repeats them); `equity`
    and `peak_equity` are the day's PnL and its peak when it tripped (null on a lift);
    `changed_by` is null for the worker's trip."""

    account_id: int
    strategy_id: int
    state: str
    rule: str | None
    limit: str | None
    value: str | None
    equity: str | None
    peak_equity: str | None
    day: str
    comment: str | None
    changed_at: str
    changed_by: ChangedBy | None


class AccountOwnerChanged(TypedDict):
    account_id: int
    previous_owner: str
    owner: str
    lease_epoch: int
    reason: str


#: a payload type, for functions that take an event and its payload (`Event[P]`, `P`)
P = TypeVar("P", bound=Mapping[str, object])
_P_co = TypeVar("_P_co", bound=Mapping[str, object], covariant=True)


@dataclass(frozen=True, slots=True)
class Event(Generic[_P_co]):
    """One event type: its name, namespace and payload type. Created here only."""

    name: EventType
    namespace: Namespace
    payload: type[_P_co]


ORDER_ACCEPTED = Event(EventType.ORDER_ACCEPTED, "position", OrderView)
ORDER_SUBMITTED = Event(EventType.ORDER_SUBMITTED, "position", OrderView)
ORDER_PARTIALLY_FILLED = Event(EventType.ORDER_PARTIALLY_FILLED, "position", OrderView)
ORDER_FILLED = Event(EventType.ORDER_FILLED, "position", OrderView)
ORDER_CANCELED = Event(EventType.ORDER_CANCELED, "position", OrderView)
ORDER_REJECTED = Event(EventType.ORDER_REJECTED, "position", OrderView)
ORDER_EXPIRED = Event(EventType.ORDER_EXPIRED, "position", OrderView)
ORDER_TRIGGERED = Event(EventType.ORDER_TRIGGERED, "position", OrderTriggered)
ORDER_TRIGGER_MOVED = Event(EventType.ORDER_TRIGGER_MOVED, "position", OrderTriggerMoved)
ORDER_GROUP_CHANGED = Event(EventType.ORDER_GROUP_CHANGED, "position", OrderGroupView)
#: two legs of one OCO filled (a venue raced them): the books show both, a human looks
ORDER_GROUP_OVERFILLED = Event(EventType.ORDER_GROUP_OVERFILLED, "risk", OrderGroupView)
# a change's payload is an order view, which a cancel/replace extends (`ChangedOrderView`)
ORDER_CHANGED: Event[OrderView] = Event(EventType.ORDER_CHANGED, "position", ChangedOrderView)
ORDER_CHANGE_REPLACE_PENDING: Event[OrderView] = Event(
    EventType.ORDER_CHANGE_REPLACE_PENDING, "position", ChangedOrderView)
ORDER_CHANGE_REPLACE_FAILED: Event[OrderView] = Event(
    EventType.ORDER_CHANGE_REPLACE_FAILED, "position", ChangedOrderView)
# reserved for reconciliation, not emitted yet
ORDER_CHANGE_REPLACE_CONSOLIDATED: Event[OrderView] = Event(
    EventType.ORDER_CHANGE_REPLACE_CONSOLIDATED, "position", ChangedOrderView)
ORDERS_CANCELED_BATCH = Event(EventType.ORDERS_CANCELED_BATCH, "position", CanceledBatch)
DEAL_CREATED = Event(EventType.DEAL_CREATED, "position", DealView)
POSITION_OPENED = Event(EventType.POSITION_OPENED, "position", PositionView)
POSITION_UPDATED = Event(EventType.POSITION_UPDATED, "position", PositionView)
POSITION_CLOSED = Event(EventType.POSITION_CLOSED, "position", PositionView)
POSITION_CHANGED = Event(EventType.POSITION_CHANGED, "position", PositionView)
POSITIONS_MERGED = Event(EventType.POSITIONS_MERGED, "position", PositionsMerged)
CLOSE_BY_EXECUTED = Event(EventType.CLOSE_BY_EXECUTED, "position", CloseByExecuted)
POSITION_CLOSE_REQUESTED = Event(EventType.POSITION_CLOSE_REQUESTED, "position", PositionView)
COMMAND_COMPLETED = Event(EventType.COMMAND_COMPLETED, "position", CommandView)
COMMAND_FAILED = Event(EventType.COMMAND_FAILED, "position", CommandView)
COMMAND_SHADOWED = Event(EventType.COMMAND_SHADOWED, "position", CommandShadowed)
RECONCILIATION_TICK = Event(EventType.RECONCILIATION_TICK, "position", ReconcileRunView)
ACCOUNT_OUT_OF_SYNC = Event(EventType.ACCOUNT_OUT_OF_SYNC, "position", AccountOutOfSync)
REASSIGNED = Event(EventType.REASSIGNED, "position", Reassigned)
ACCOUNT_ALLOW_NEW_POSITIONS_CHANGED = Event(
    EventType.ACCOUNT_ALLOW_NEW_POSITIONS_CHANGED, "risk", RiskSwitchChanged)
STRATEGY_ALLOW_NEW_POSITIONS_CHANGED = Event(
    EventType.STRATEGY_ALLOW_NEW_POSITIONS_CHANGED, "risk", RiskSwitchChanged)
ACCOUNT_STATUS_CHANGED = Event(EventType.ACCOUNT_STATUS_CHANGED, "risk", RiskSwitchChanged)
ACCOUNT_SHADOW_CHANGED = Event(EventType.ACCOUNT_SHADOW_CHANGED, "risk", RiskSwitchChanged)
STRATEGY_SHADOW_CHANGED = Event(EventType.STRATEGY_SHADOW_CHANGED, "risk", RiskSwitchChanged)
RISK_REJECTED = Event(EventType.RISK_REJECTED, "risk", RiskRejected)
STOP_TRIGGERED = Event(EventType.STOP_TRIGGERED, "risk", StopTriggered)
POSITION_OVERFILL = Event(EventType.POSITION_OVERFILL, "risk", PositionOverfill)
ORDER_OVERFILLED = Event(EventType.ORDER_OVERFILLED, "risk", OrderOverfilled)
KILL_SWITCH_ENGAGED = Event(EventType.KILL_SWITCH_ENGAGED, "risk", KillSwitchChanged)
KILL_SWITCH_LIFTED = Event(EventType.KILL_SWITCH_LIFTED, "risk", KillSwitchChanged)
LOSS_BREAKER_TRIPPED = Event(EventType.LOSS_BREAKER_TRIPPED, "risk", LossBreakerChanged)
LOSS_BREAKER_LIFTED = Event(EventType.LOSS_BREAKER_LIFTED, "risk", LossBreakerChanged)
ACCOUNT_OWNER_CHANGED = Event(EventType.ACCOUNT_OWNER_CHANGED, "system", AccountOwnerChanged)

#: every event type, in the order of `EventType` (one `Event` each)
EVENTS: tuple[Event[Mapping[str, object]], ...] = tuple(
    value for value in list(globals().values()) if isinstance(value, Event)
)
BY_NAME = {e.name: e for e in EVENTS}
#: the alerts of the books core (`fills.Alert.code`)
ALERTS = {POSITION_OVERFILL.name.value: POSITION_OVERFILL}
