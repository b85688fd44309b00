"""Wire model of a signal (api.md → Signals): `{symbol, side, qty | notional, price?,
order_type?, tp_pct?, sl_pct?, strategy_id?, reason?, comment?, client_order_id?, reduce_only?,
signal_id?, timestamp?}`. Exact decimals, unknown fields refused, one of qty/notional."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from apps.oms.errors import ValidationFailed
from apps.oms.service.command_models import (
    ClientOrderId,
    IdOrZero,
    PositiveDecimal,
    Symbol,
    Text,
    plain_json,
)
from apps.oms.service.request_model import RequestModel

MAX_EPOCH_SECONDS = 10**11  # larger epoch numbers are milliseconds


def _timestamp(value: Any) -> datetime:
    """ISO 8601 with a zone (`2026-11-22T12:00:00Z`, as TradingView's `{{timenow}}`) or epoch
    seconds / milliseconds (an integer or a string of digits)."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value / 1000 if value >= MAX_EPOCH_SECONDS else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise ValueError("timestamp is out of range") from exc
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValueError("timestamp must be ISO 8601 or epoch seconds/milliseconds") from exc
        if parsed.tzinfo is None:
            raise ValueError("timestamp needs a time zone (e.g. a trailing Z)")
        return parsed.astimezone(UTC)
    raise ValueError("timestamp must be ISO 8601 text or epoch seconds/milliseconds")


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


Timestamp = Annotated[datetime, BeforeValidator(_timestamp)]
SignalId = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:\-]+$")]


class Signal(RequestModel):
    model_config = ConfigDict(populate_by_name=True)

    symbol: Symbol
    side: Annotated[Literal["buy", "sell"], BeforeValidator(_lower)]
    qty: PositiveDecimal | None = Field(default=None, validation_alias=AliasChoices("qty", "amount"))
    notional: PositiveDecimal | None = None
    price: PositiveDecimal | None = None
    order_type: Annotated[Literal["market", "limit"], BeforeValidator(_lower)] = Field(
        default="market", validation_alias=AliasChoices("order_type", "type")
    )
    tp_pct: PositiveDecimal | None = None
    sl_pct: PositiveDecimal | None = None
    strategy_id: IdOrZero = 0
    reason: Annotated[str, Field(max_length=200)] | None = None
    comment: Text | None = None
    client_order_id: ClientOrderId | None = None
    reduce_only: bool = False
    signal_id: SignalId | None = None
    timestamp: Timestamp | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Signal:
        if (self.qty is None) == (self.notional is None):
            raise ValueError("give exactly one of qty or notional")
        if self.order_type == "limit" and self.price is None:
            raise ValueError("price is required for a limit signal")
        if self.order_type == "market" and self.price is not None:
            # a price the execution would not use is refused, never stored and dropped
            raise ValueError("price is the limit price of a limit signal; a market signal "
                             "takes none (drop price, or send order_type limit)")
        if self.sl_pct is not None and self.sl_pct >= Decimal(100):
            raise ValueError("sl_pct must be below 100")
        return self

    def stored(self) -> Mapping[str, object]:
        """The signal as stored on its row (field names, decimals as strings, no nulls)."""
        data = self.model_dump(exclude_none=True)
        if self.timestamp is not None:
            data["timestamp"] = self.timestamp.isoformat().replace("+00:00", "Z")
        return dict(plain_json(data))


def parse_signal(value: Any) -> Signal:
    """The signal or `ValidationFailed` (422) naming the first bad field."""
    if not isinstance(value, dict):
        raise ValidationFailed("a signal is a JSON object")
    try:
        return Signal.model_validate(value)
    except ValidationError as exc:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        first = errors[0]
        where = ".".join(str(p) for p in first["loc"]) or "signal"
        raise ValidationFailed(f"{where}: {first['msg']}", details={"errors": errors}) from exc
