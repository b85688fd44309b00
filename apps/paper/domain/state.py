"""Value types of the paper venue: order requests, orders, fills, positions and account state.

All frozen; the matching functions return new values. Money is `Decimal`, times are epoch ms.
The names are the venue's own (`VenuePosition`, `VenueFill`, `VenueAccount`): the books'
`Position` and deals are another context's (`apps.oms.domain`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType

from apps.oms.domain.money import ZERO, quantize

BUY = "buy"
SELL = "sell"
MARKET = "market"
LIMIT = "limit"
OPEN = "open"
CLOSED = "closed"
CANCELED = "canceled"
TIME_IN_FORCE = ("GTC", "IOC", "FOK", "PO")
RISE = "rise"
FALL = "fall"
DEFAULT_LEVERAGE = 10
CROSS = "cross"
ISOLATED = "isolated"
MARGIN_MODES = (CROSS, ISOLATED)
# position modes of an account (`position_mode.py`): one net position per swap, or a long and
# a short position side by side (hedge); an order names the side it opens or closes
ONE_WAY = "oneway"
HEDGE = "hedge"
POSITION_MODES = (ONE_WAY, HEDGE)
BOTH = "both"  # the one position of a symbol in one-way mode
LONG = "long"
SHORT = "short"
POSITION_SIDES = (BOTH, LONG, SHORT)
# the reason of an order of a reservation group that ended because another of its group executed
GROUP_EXPIRED = "expired: another order of its group executed"
DEFAULT_START_BALANCE: Mapping[str, Decimal] = MappingProxyType({"USDT": Decimal(100000)})


@dataclass(frozen=True, slots=True)
class FundingMark:
    """A funding time the venue charged (epoch ms) and the mark price it used per symbol."""

    funding_ms: int
    marks: Mapping[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What a client asked for. `trigger_kind` is `stop_loss`, `take_profit` or `trigger`."""

    symbol: str
    side: str
    type: str
    qty: Decimal
    price: Decimal | None = None
    client_order_id: str | None = None
    time_in_force: str = "GTC"
    post_only: bool = False
    reduce_only: bool = False
    trigger_price: Decimal | None = None
    trigger_kind: str | None = None
    position_side: str = BOTH  # LONG / SHORT in hedge mode
    reserve_group: str | None = None  # the orders of one group share a reservation (PaperOrder)


@dataclass(frozen=True, slots=True)
class PaperOrder:
    """An order on the paper venue. `reserved` is held in `reserve_currency` while it is open.

    `reserve_group` (None: the order stands alone) names orders of which at most one executes,
    as the legs of an order list: together they hold the largest of their reservations, not the
    sum (`ledger.used`), and the moment one executes (a fill or a trigger) the others end
    (`matching`: canceled, reason `GROUP_EXPIRED`).
    """

    order_id: str
    seq: int
    client_order_id: str | None
    symbol: str
    side: str
    type: str
    time_in_force: str
    post_only: bool
    reduce_only: bool
    qty: Decimal
    price: Decimal | None
    trigger_price: Decimal | None
    trigger_direction: str | None
    created_ms: int
    updated_ms: int
    fee_currency: str
    triggered: bool = False
    filled: Decimal = ZERO
    cost: Decimal = ZERO
    fee: Decimal = ZERO
    reserved: Decimal = ZERO
    reserve_currency: str | None = None
    status: str = OPEN
    last_trade_ms: int | None = None
    fill_after_ms: int | None = None
    price_seq: int = 0
    reason: str | None = None
    # the position side it opens or closes: BOTH in one-way mode, LONG / SHORT in hedge mode
    # (where an order against its side's direction closes, reduce-only)
    position_side: str = BOTH
    reserve_group: str | None = None

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.filled

    @property
    def is_open(self) -> bool:
        return self.status == OPEN

    @property
    def is_pending_trigger(self) -> bool:
        return self.trigger_price is not None and not self.triggered


@dataclass(frozen=True, slots=True)
class VenueFill:
    """One execution. `cost` = qty x price x contract size, `fee` in `fee_currency` (quote)."""

    trade_id: str
    order_id: str
    client_order_id: str | None
    symbol: str
    side: str
    price: Decimal
    qty: Decimal
    cost: Decimal
    fee: Decimal
    fee_currency: str
    taker_or_maker: str
    timestamp_ms: int
    position_side: str = BOTH  # its order's


@dataclass(frozen=True, slots=True)
class VenuePosition:
    """Venue-side linear perpetual position: signed qty in contracts, average entry price.
    `position_side` BOTH is the net position of one-way mode; in hedge mode a LONG side only
    ever holds qty >= 0 and a SHORT side qty <= 0 (closing is reduce-only, never flips)."""

    symbol: str
    qty: Decimal = ZERO
    entry_price: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    leverage: int = DEFAULT_LEVERAGE
    updated_ms: int = 0
    position_side: str = BOTH

    @property
    def key(self) -> str:
        return position_key(self.symbol, self.position_side)

    @property
    def side(self) -> str | None:
        if self.qty == 0:
            return None
        return "long" if self.qty > 0 else "short"


@dataclass(frozen=True, slots=True)
class VenueAccount:
    """Everything matching needs of one account: wallet totals, open orders, positions."""

    account_id: int
    balances: Mapping[str, Decimal] = field(default_factory=dict)
    open_orders: Mapping[str, PaperOrder] = field(default_factory=dict)
    # by `position_key`: the symbol for a one-way (BOTH) position, symbol and side in hedge mode
    positions: Mapping[str, VenuePosition] = field(default_factory=dict)
    next_seq: int = 1
    leverage: int = DEFAULT_LEVERAGE
    leverages: Mapping[str, int] = field(default_factory=dict)  # per symbol (set_leverage)
    margin_modes: Mapping[str, str] = field(default_factory=dict)  # per symbol (set_margin_mode)
    # the latest funding time charged and the marks it used: a funding time is charged once,
    # and asking again answers with the same marks (so the books can book what was charged)
    last_funding: FundingMark | None = None
    position_mode: str = ONE_WAY  # per account, as Binance's dualSidePosition

    @property
    def hedged(self) -> bool:
        return self.position_mode == HEDGE

    def position(self, symbol: str, position_side: str = BOTH) -> VenuePosition | None:
        return self.positions.get(position_key(symbol, position_side))

    def positions_of(self, symbol: str) -> tuple[VenuePosition, ...]:
        """Every position of `symbol` (one-way: the net one; hedge: long and short)."""
        return tuple(p for p in self.positions.values() if p.symbol == symbol)

    def total(self, currency: str) -> Decimal:
        return self.balances.get(currency, ZERO)

    def leverage_for(self, symbol: str) -> int:
        """The symbol's leverage as set (`set_leverage`), else the account's."""
        return self.leverages.get(symbol, self.leverage)

    def margin_mode_for(self, symbol: str) -> str:
        """The symbol's margin mode as set (`set_margin_mode`), else cross."""
        return self.margin_modes.get(symbol, CROSS)


def position_key(symbol: str, position_side: str = BOTH) -> str:
    """The key of a position in `VenueAccount.positions`: the symbol in one-way mode (as before
    hedge mode existed), `symbol#long` / `symbol#short` in hedge mode."""
    return symbol if position_side == BOTH else f"{symbol}#{position_side}"


def new_account(
    account_id: int,
    start: Mapping[str, Decimal] = DEFAULT_START_BALANCE,
    leverage: int = DEFAULT_LEVERAGE,
) -> VenueAccount:
    """A fresh paper account: the start balance (100,000 USDT by default) and nothing else."""
    return VenueAccount(account_id, dict(start), {}, {}, 1, leverage)


def average_price(order: PaperOrder, contract_size: Decimal) -> Decimal | None:
    """Volume-weighted fill price, quantised to 18 places; None before the first fill."""
    if order.filled == 0:
        return None
    return quantize(order.cost / (order.filled * contract_size))
