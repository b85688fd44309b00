"""A strategy's allocation on an account as a CCXT-shaped balance, and the funds check of a new
order against it (pure; docs/identity-and-risk.md → Strategy allocations).

Per currency, `total = allocation + realised PnL − fees` (both booked in the currency they are
in), spot positions move cash: a long's base is the strategy's own holding and its cost is out of
the quote total; `used` = what open orders reserve (as the paper venue reserves: spot buy
notional × (1 + fee rate) in quote, spot sell qty in base, swap notional / leverage + notional ×
fee rate in settle, reduce-only swap orders nothing) plus swap position margin
(|qty| × contract size × entry / leverage); `free = total − used`. All amounts are `Decimal`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from apps.oms.domain.enums import Side
from apps.oms.domain.errors import InsufficientFunds
from apps.oms.domain.money import ZERO, money_context, quantize, to_plain

ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class Terms:
    """How a symbol holds money: spot or swap, its base and quote/settle currency, contract
    size, the account's leverage on it and the highest fee rate charged (0 when unknown)."""

    spot: bool
    base: str
    quote: str
    contract_size: Decimal = ONE
    leverage: Decimal = ONE
    fee_rate: Decimal = ZERO


def terms_of(symbol: str, **kwargs: Decimal) -> Terms:
    """Terms of a CCXT unified symbol: `BASE/QUOTE` is spot, `BASE/QUOTE:SETTLE` a contract
    settled in SETTLE."""
    pair, _, settle = symbol.partition(":")
    base, _, quote = pair.partition("/")
    return Terms(spot=not settle, base=base, quote=settle or quote or base, **kwargs)


@dataclass(frozen=True, slots=True)
class Holding:
    """One open position of the strategy: `qty` > 0 in contracts (spot: base units) at the
    average entry price."""

    side: Side
    qty: Decimal
    avg_price: Decimal
    terms: Terms


@dataclass(frozen=True, slots=True)
class Reserve:
    """An open order of the strategy (or the order being accepted): its remaining `qty` at
    `price` (its limit, else the reference price)."""

    side: Side
    qty: Decimal
    price: Decimal
    terms: Terms
    reduce_only: bool = False


@dataclass(frozen=True, slots=True)
class StrategyFunds:
    """What the balance is computed from: the allocation, the strategy's net realised PnL by
    currency (Σ deal PnL − Σ fees, funding included), its open positions and open orders."""

    currency: str
    allocation: Decimal
    realized: Mapping[str, Decimal] = field(default_factory=dict)
    holdings: tuple[Holding, ...] = ()
    reserves: tuple[Reserve, ...] = ()


@dataclass(frozen=True, slots=True)
class BalanceLine:
    free: Decimal
    used: Decimal
    total: Decimal


def reservation(order: Reserve) -> tuple[str, Decimal]:
    """(currency, amount) an open order holds, as the paper venue reserves it."""
    terms = order.terms
    with money_context():
        notional = order.qty * terms.contract_size * order.price
        if not terms.spot:
            if order.reduce_only:
                return terms.quote, ZERO
            return terms.quote, notional / terms.leverage + notional * terms.fee_rate
        if order.side is Side.BUY:
            return terms.quote, notional * (ONE + terms.fee_rate)
        return terms.base, order.qty


def _add(book: dict[str, Decimal], currency: str, amount: Decimal) -> None:
    book[currency] = book.get(currency, ZERO) + amount


def _holdings(
    totals: dict[str, Decimal], used: dict[str, Decimal], holdings: Iterable[Holding]
) -> None:
    for h in holdings:
        t = h.terms
        with money_context():
            size = h.qty * t.contract_size
            if t.spot:  # cash moved: base held (signed), its cost out of the quote
                _add(totals, t.base, h.side.sign * size)
                _add(totals, t.quote, -h.side.sign * size * h.avg_price)
            else:  # margin held in the settle currency
                _add(totals, t.quote, ZERO)
                _add(used, t.quote, size * h.avg_price / t.leverage)


def strategy_balance(funds: StrategyFunds) -> dict[str, BalanceLine]:
    """The strategy's balance by currency (allocation currency always present), quantised to
    the stored precision; `free = total − used` exactly."""
    totals: dict[str, Decimal] = {funds.currency: funds.allocation}
    used: dict[str, Decimal] = {}
    with money_context():
        for currency, amount in funds.realized.items():
            _add(totals, currency, amount)
        _holdings(totals, used, funds.holdings)
        for order in funds.reserves:
            currency, amount = reservation(order)
            _add(totals, currency, ZERO)
            _add(used, currency, amount)
        lines = {}
        for currency, total in totals.items():
            t, u = quantize(total), quantize(used.get(currency, ZERO))
            lines[currency] = BalanceLine(free=t - u, used=u, total=t)
    return lines


def check_funds(funds: StrategyFunds, order: Reserve, strategy_id: int) -> None:
    """Raise `InsufficientFunds` when `order` would hold more than the strategy's free balance
    in the order's currency. Callers do not check closing orders (never refused for funds)."""
    currency, needed = reservation(order)
    _refuse_beyond_free(funds, currency, needed, strategy_id)


def check_change(funds: StrategyFunds, old: Reserve, new: Reserve, strategy_id: int) -> None:
    """An amended open order (`old`, counted in `funds`, becoming `new`): refused only when it
    would hold more than before by more than the free balance; holding less always passes."""
    currency, before = reservation(old)
    _, after = reservation(new)
    if after > before:
        _refuse_beyond_free(funds, currency, after - before, strategy_id)


def _refuse_beyond_free(
    funds: StrategyFunds, currency: str, needed: Decimal, strategy_id: int
) -> None:
    line = strategy_balance(funds).get(currency)
    free = line.free if line is not None else ZERO
    if quantize(needed) > free:
        raise InsufficientFunds(
            f"strategy {strategy_id} has {to_plain(free)} {currency} free of its allocation, "
            f"the order needs {to_plain(quantize(needed))}",
            rule="strategy_allocation",
            scope="strategy",
            currency=currency,
            needed=to_plain(quantize(needed)),
            free=to_plain(free),
        )
