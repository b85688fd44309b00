"""Wire models of OMS commands (domain.md → Commands): aliases, exact decimals, unknown fields refused.

The same models parse the HTTP body at acceptance and the normalized payload stored on the command
row for the worker (`parse_payload`), so both sides agree on every field.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AliasChoices,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    model_validator,
)

from apps.oms.domain.money import DecimalFormatError, parse_decimal, to_plain
from apps.oms.ports import Params
from apps.oms.service.request_model import RequestModel
from apps.oms.store.records import CommandPayload

CLIENT_ORDER_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
CommandType = Literal[
    "send_order",
    "cancel_order",
    "cancel_all_orders",
    "change_order",
    "close_position",
    "close_by",
    "merge_positions",
    "position_change",
]
COMMAND_TYPES: tuple[str, ...] = get_args(CommandType)


def _exact_decimal(value: Any) -> Decimal:
    if isinstance(value, bool | float) or not isinstance(value, str | int | Decimal):
        raise ValueError("must be a decimal number: a string or an exact JSON number")
    try:
        return parse_decimal(value)
    except DecimalFormatError as exc:
        raise ValueError(str(exc)) from exc


def _positive(value: Decimal) -> Decimal:
    if value <= 0:
        raise ValueError("must be greater than 0")
    return value


def _not_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError("must not be negative")
    return value


def _client_order_id(value: Any) -> Any:
    if isinstance(value, str) and not CLIENT_ORDER_ID.match(value):
        raise ValueError("client_order_id must be 1-32 characters of [A-Za-z0-9]")
    return value


def _instant(value: Any) -> Any:
    """An expiry: epoch milliseconds (CCXT's convention) or ISO 8601 with a time zone."""
    if isinstance(value, bool | float):
        raise ValueError("must be epoch milliseconds (an integer) or ISO 8601 with a time zone")
    if isinstance(value, int):
        return datetime.fromtimestamp(value / 1000, UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValueError("must be ISO 8601 with a time zone or epoch milliseconds") from exc
        if parsed.tzinfo is None:
            raise ValueError("needs a time zone (e.g. a trailing Z)")
        return parsed.astimezone(UTC)
    return value


Instant = Annotated[datetime, BeforeValidator(_instant)]
ExactDecimal = Annotated[Decimal, BeforeValidator(_exact_decimal)]
PositiveDecimal = Annotated[Decimal, BeforeValidator(_positive), BeforeValidator(_exact_decimal)]
NonNegativeDecimal = Annotated[
    Decimal, BeforeValidator(_not_negative), BeforeValidator(_exact_decimal)
]
Id = Annotated[int, Field(ge=1, le=2**62)]
IdOrZero = Annotated[int, Field(ge=0, le=2**62)]
ClientOrderId = Annotated[str, BeforeValidator(_client_order_id)]
Text = Annotated[str, Field(max_length=1000)]
Symbol = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-./:]+$")]


class Payload(RequestModel):
    model_config = ConfigDict(populate_by_name=True)


#: a bracket's time limit is at most a year
TIME_LIMIT_MAX_SECONDS = 366 * 86_400


class BracketExit(Payload):
    """A bracket's exit: the trigger that fires it and, for a limit exit, its limit price
    (CCXT's `stopLoss` / `takeProfit` objects: `triggerPrice`, `price`)."""

    trigger_price: PositiveDecimal
    price: PositiveDecimal | None = None


class _MemberOrder(Payload):
    """The order fields an OCO leg and an OTO child share: a market or limit order (a limit
    has a price, a market none) with at most one trigger."""

    order_type: Literal["market", "limit"] = Field(
        default="market", validation_alias=AliasChoices("order_type", "type")
    )
    price: PositiveDecimal | None = None
    stop_price: PositiveDecimal | None = None
    take_profit_price: PositiveDecimal | None = None

    def _check_price(self, member: str) -> None:
        if (self.order_type == "limit") != (self.price is not None):
            raise ValueError(f"a limit {member} has a price, a market {member} none")


class OcoLeg(_MemberOrder):
    """Another leg of an OCO: the order's symbol, side, qty, strategy, position and
    reduce-only, its own type and trigger (a held leg: one trigger), or a plain limit that
    rests on the venue (no trigger; at most one such leg per OCO)."""

    @model_validator(mode="after")
    def _one_trigger(self) -> OcoLeg:
        if self.stop_price is not None and self.take_profit_price is not None:
            raise ValueError("an OCO leg has one trigger: stop_price or take_profit_price")
        if self.stop_price is None and self.take_profit_price is None \
                and self.order_type != "limit":
            raise ValueError("an OCO leg without a trigger is a limit order resting on the "
                             "venue: give it a price, or a trigger")
        self._check_price("leg")
        return self


class OtoOrder(_MemberOrder):
    """A child of an OTO: sent once its parent is done filling, sized to what it filled, on
    the parent's symbol and strategy; on the other side (the default) it is reduce-only on the
    parent's position. A trigger makes it a held order; without one it goes to the venue."""

    side: Literal["buy", "sell"] | None = None

    @model_validator(mode="after")
    def _priced(self) -> OtoOrder:
        if self.stop_price is not None and self.take_profit_price is not None:
            raise ValueError("an OTO child has one trigger at most")
        self._check_price("child")
        return self


class SendOrder(Payload):
    symbol: Symbol
    side: Literal["buy", "sell"]
    order_type: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z_]+$")] = Field(
        default="market", validation_alias=AliasChoices("order_type", "type")
    )
    qty: PositiveDecimal = Field(validation_alias=AliasChoices("qty", "amount"))
    price: PositiveDecimal | None = None
    strategy_id: IdOrZero = 0
    position_id: IdOrZero = 0
    reason: Annotated[str, Field(min_length=1, max_length=32)] = "api"
    comment: Text | None = None
    reduce_only: bool = False
    client_order_id: ClientOrderId | None = None
    post_only: bool = False
    time_in_force: Literal["GTC", "IOC", "FOK", "PO", "GTD"] | None = None
    #: with `time_in_force: GTD`: when the order expires (epoch ms or ISO 8601)
    expire_at: Instant | None = None
    trigger_price: PositiveDecimal | None = None
    stop_price: PositiveDecimal | None = None
    take_profit_price: PositiveDecimal | None = None
    trailing_amount: PositiveDecimal | None = None
    trailing_percent: Annotated[PositiveDecimal, Field(lt=100)] | None = None
    #: a trailing stop's activation price (CCXT's `trailingTriggerPrice`)
    trailing_trigger_price: PositiveDecimal | None = None
    #: the price a trigger watches: `last` (default) or `mark` (CCXT's `triggerPriceType`)
    trigger_price_type: Literal["last", "mark"] | None = None
    #: who executes the conditional part: `venue` or `gateway` (None: the venue where it can)
    emulation: Literal["venue", "gateway"] | None = None
    oms_stop_loss: PositiveDecimal | None = Field(
        default=None, validation_alias=AliasChoices("oms_stop_loss", "stop_loss")
    )
    oms_stop_gain: PositiveDecimal | None = Field(
        default=None, validation_alias=AliasChoices("oms_stop_gain", "stop_gain")
    )
    params: Params = Field(default_factory=dict)
    #: a bracket: exits created at the entry's fills (docs/orders.md → Groups)
    bracket_stop_loss: BracketExit | None = None
    bracket_take_profit: BracketExit | None = None
    #: a bracket's time limit: its position is closed (a market exit) this many seconds after
    #: the entry's first fill, unless a stop-loss or take-profit exit fired first
    bracket_time_limit: Annotated[int, Field(ge=1, le=TIME_LIMIT_MAX_SECONDS)] | None = None
    #: an OCO: the other legs (the order itself is the first)
    oco_orders: Annotated[list[OcoLeg], Field(min_length=1, max_length=4)] | None = None
    #: an OTO: orders sent once this one is done filling, sized to its fills
    oto_orders: Annotated[list[OtoOrder], Field(min_length=1, max_length=4)] | None = None

    @model_validator(mode="after")
    def _expiry_with_gtd(self) -> SendOrder:
        if (self.time_in_force == "GTD") != (self.expire_at is not None):
            raise ValueError("time_in_force GTD and expire_at go together")
        return self


class CancelOrder(Payload):
    order_id: Id | None = None
    order_ids: list[Id] | None = Field(default=None, max_length=500)
    order_ids_csv: Annotated[str, Field(max_length=5000)] | None = None


class CancelAllOrders(Payload):
    symbol: Symbol | None = None
    strategy_ids: list[IdOrZero] | None = Field(default=None, max_length=500)
    strategy_ids_csv: Annotated[str, Field(max_length=5000)] | None = None


class ChangeOrder(Payload):
    order_id: Id
    new_price: PositiveDecimal | None = None
    new_qty: PositiveDecimal | None = None


class ClosePosition(Payload):
    position_id: Id
    order_type: Literal["market", "limit"] = Field(
        default="market", validation_alias=AliasChoices("order_type", "type")
    )
    price: PositiveDecimal | None = None
    qty: PositiveDecimal | None = Field(
        default=None, validation_alias=AliasChoices("qty", "amount")
    )
    strategy_id: IdOrZero | None = None
    reason: Annotated[str, Field(min_length=1, max_length=32)] = "close_position"
    comment: Text | None = None
    client_order_id: ClientOrderId | None = None
    params: Params = Field(default_factory=dict)
    post_only: bool = False
    time_in_force: Literal["GTC", "IOC", "FOK", "PO"] | None = None


class CloseBy(Payload):
    position_id_a: Id
    position_id_b: Id
    qty: PositiveDecimal | None = None
    strategy_id: IdOrZero | None = None


class MergePositions(Payload):
    source_position_id: Id
    target_position_id: Id
    stop_mode: Literal["keep", "clear", "set"] = "keep"
    oms_stop_loss: PositiveDecimal | None = Field(
        default=None, validation_alias=AliasChoices("oms_stop_loss", "stop_loss")
    )
    oms_stop_gain: PositiveDecimal | None = Field(
        default=None, validation_alias=AliasChoices("oms_stop_gain", "stop_gain")
    )


class PositionChange(Payload):
    """Keys present are set; an explicit null clears (so `model_fields_set` matters)."""

    position_id: Id
    oms_stop_loss: PositiveDecimal | None = Field(
        default=None, validation_alias=AliasChoices("oms_stop_loss", "stop_loss")
    )
    oms_stop_gain: PositiveDecimal | None = Field(
        default=None, validation_alias=AliasChoices("oms_stop_gain", "stop_gain")
    )
    comment: Text | None = None


PAYLOAD_MODELS: dict[str, type[Payload]] = {
    "send_order": SendOrder,
    "cancel_order": CancelOrder,
    "cancel_all_orders": CancelAllOrders,
    "change_order": ChangeOrder,
    "close_position": ClosePosition,
    "close_by": CloseBy,
    "merge_positions": MergePositions,
    "position_change": PositionChange,
}


class CommandEnvelope(RequestModel):
    """`{"account_id", "command", "request_id"?, "payload"}`; the payload is checked per type."""

    account_id: Id
    command: CommandType
    request_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    payload: CommandPayload  # checked by its type's model (`parse_payload`)


ENVELOPES = TypeAdapter(list[CommandEnvelope])


def parse_payload(command_type: str, payload: CommandPayload) -> Payload:
    """Typed payload of a command (raises pydantic `ValidationError` on bad input)."""
    return PAYLOAD_MODELS[command_type].model_validate(payload)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return to_plain(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def plain_json(value: Any) -> Any:
    """`value` with every Decimal (at any depth) as a plain string."""
    return _plain(value)


def normalized(model: Payload, *, exclude_unset: bool = False) -> CommandPayload:
    """JSON-ready payload: field names (aliases resolved), decimals as plain strings."""
    return dict(_plain(model.model_dump(exclude_unset=exclude_unset)))


def content_hash(account_id: int, command_type: str, model: Payload) -> str:
    """SHA-256 of the canonical JSON after aliases and decimal normalisation, before defaults."""
    canonical = {
        "account_id": account_id,
        "command": command_type,
        "payload": normalized(model, exclude_unset=True),
    }
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
