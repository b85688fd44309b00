"""Acceptance of the contingent group a `send_order` asks for (`bracket_stop_loss`,
`bracket_take_profit`, `bracket_time_limit`, `oco_orders`, `oto_orders`): every member the
gateway will create is checked now, as the order itself is (a member it could not hold is
refused, never dropped), and the group row is written with the order, in the acceptance
transaction (docs/orders.md → Groups)."""

from __future__ import annotations

from decimal import Decimal

from apps.oms.domain.errors import NotSupported, OrderFieldConflict
from apps.oms.domain.held_orders import Emulation
from apps.oms.domain.money import to_plain
from apps.oms.domain.order_features import OrderAsk, OrderFeatures, check_honoured
from apps.oms.domain.order_groups import GroupKind, GroupState, Role, leg_role
from apps.oms.exchange.order_features import order_features
from apps.oms.service.acceptance import Ctx
from apps.oms.service.command_models import BracketExit, SendOrder
from apps.oms.store import order_groups as group_store
from apps.oms.store.records import ColumnValues

GROUP_FIELDS = ("bracket_stop_loss", "bracket_take_profit", "bracket_time_limit", "oco_orders",
                "oto_orders")
NATIVE = ("contingent groups are held by the gateway here: the one venue group the gateway "
          "places is Binance spot's OCO (emulation venue on an OCO of two legs); leave "
          "emulation out or ask for gateway")


def group_kind(p: SendOrder) -> GroupKind | None:
    if p.oco_orders is not None:
        return GroupKind.OCO
    if p.oto_orders is not None:
        return GroupKind.OTO
    if any(e is not None for e in (p.bracket_stop_loss, p.bracket_take_profit,
                                   p.bracket_time_limit)):
        return GroupKind.BRACKET
    return None


def has_trigger(p: SendOrder) -> bool:
    """Whether the order itself is conditional (a trigger or a trailing distance)."""
    return any(v is not None for v in (p.trigger_price, p.stop_price, p.take_profit_price,
                                       p.trailing_amount, p.trailing_percent))


def member_prices(p: SendOrder) -> list[Decimal]:
    """The prices of the members a group will create (limits and triggers): each meets the
    market's price rules as the order's own price does."""
    exits = [e for e in (p.bracket_stop_loss, p.bracket_take_profit) if e is not None]
    prices: list[Decimal | None] = [v for e in exits for v in (e.trigger_price, e.price)]
    for leg in p.oco_orders or []:
        prices += [leg.price, leg.stop_price, leg.take_profit_price]
    for child in p.oto_orders or []:
        prices += [child.price, child.stop_price, child.take_profit_price]
    return [v for v in prices if v is not None]


def _plain(value: Decimal | None) -> str | None:
    return None if value is None else to_plain(value)


def check_group(p: SendOrder, exchange_id: str) -> list[ColumnValues]:
    """Refuse a group the gateway could not hold as asked; returns the spec of the members it
    will create (an OCO's other legs, a bracket's exits)."""
    kind = group_kind(p)
    if kind is None:
        return []
    venue = order_features(exchange_id, p.symbol)
    name = "paper" if venue is None else venue.venue
    asked = [p.oco_orders, p.oto_orders,
             p.bracket_stop_loss or p.bracket_take_profit or p.bracket_time_limit]
    if len([a for a in asked if a]) > 1:
        raise OrderFieldConflict("an order forms one group: an OCO, an OTO or a bracket",
                                 "oco_orders" if p.oco_orders else "oto_orders")
    if p.emulation == Emulation.VENUE.value:
        if kind is not GroupKind.OCO or venue is None or not venue.oco:
            raise NotSupported(NATIVE, "emulation", name)
        return _venue_oco(p)
    if kind is GroupKind.BRACKET:
        return _bracket(p, venue)
    if kind is GroupKind.OTO:
        return _oto(p, venue)
    return _oco(p, venue)


def _oco(p: SendOrder, venue: OrderFeatures | None) -> list[ColumnValues]:
    """Legs with a trigger are held by the gateway; at most one plain limit rests on the
    venue (the order itself or another leg): each is checked as what it will be."""
    resting = len([leg for leg in p.oco_orders or [] if leg.stop_price is None
                   and leg.take_profit_price is None])  # fmt: skip
    if not has_trigger(p):
        resting += 1
        if p.order_type != "limit":
            raise OrderFieldConflict("an OCO leg without a trigger is a limit order resting on "
                                     "the venue: give this order a price, or a trigger "
                                     "(stop_price, take_profit_price, trigger_price or a "
                                     "trailing distance)", "oco_orders")
    if resting > 1:
        raise OrderFieldConflict("an OCO has at most one leg resting on the venue (a plain "
                                 "limit); its other legs have a trigger, held by the gateway",
                                 "oco_orders")
    if resting and p.time_in_force in ("IOC", "FOK"):
        raise OrderFieldConflict("an OCO's limit leg rests on the venue until a leg fires: "
                                 "IOC and FOK would end it at once", "time_in_force")
    specs: list[ColumnValues] = []
    for i, leg in enumerate(p.oco_orders or [], start=1):
        held = leg.stop_price is not None or leg.take_profit_price is not None
        if venue is not None:
            check_honoured(OrderAsk(leg.order_type, stop_price=leg.stop_price is not None,
                                    take_profit_price=leg.take_profit_price is not None,
                                    trigger_price_type=p.trigger_price_type if held else None,
                                    emulation=Emulation.GATEWAY if held else None),
                           venue)  # fmt: skip
        specs.append({"role": leg_role(i), "order_type": leg.order_type,
                      "price": _plain(leg.price), "stop_price": _plain(leg.stop_price),
                      "take_profit_price": _plain(leg.take_profit_price)})  # fmt: skip
    return specs


def _venue_oco(p: SendOrder) -> list[ColumnValues]:
    """An OCO the venue holds (Binance spot's order list): two legs of one side and qty, one a
    stop (market or limit), the other a plain limit or a take-profit; the stop on the losing
    side of the other. Returns the other leg's spec (`venue_legs`: placed with the order in
    one request, never created by the group's steps)."""
    legs = p.oco_orders or []
    if len(legs) != 1:
        raise OrderFieldConflict("the venue's OCO has two legs: this order and one leg in "
                                 "oco_orders", "oco_orders")
    _venue_oco_fields(p)
    leg = legs[0]
    # the order's own stop: `stop_price`, or `trigger_price` (a stop's trigger, docs/orders.md)
    own = (p.order_type, p.price, p.stop_price or p.trigger_price, p.take_profit_price)
    other = (leg.order_type, leg.price, leg.stop_price, leg.take_profit_price)
    stops = [x for x in (own, other) if x[2] is not None]
    if len(stops) != 1:
        raise OrderFieldConflict("the venue's OCO has one stop leg (stop_price) and one plain "
                                 "limit or take-profit leg", "oco_orders")
    stop = stops[0]
    gain = other if stop is own else own
    if gain[3] is None and (gain[0] != "limit" or gain[1] is None):
        raise OrderFieldConflict("the venue's OCO leg without a trigger is a limit order: "
                                 "give it a price", "price" if gain is own else "oco_orders")
    gain_price = gain[3] if gain[3] is not None else gain[1]
    if stop[2] is None or gain_price is None:  # checked above: the types say it again
        raise OrderFieldConflict("the venue's OCO needs a stop and a price", "oco_orders")
    if (stop[2] >= gain_price) == (p.side == "sell"):
        raise OrderFieldConflict("the stop leg triggers on the losing side of the other leg "
                                 "(below it for a sell, above it for a buy)", "oco_orders")
    return [{"role": leg_role(1), "order_type": leg.order_type, "price": _plain(leg.price),
             "stop_price": _plain(leg.stop_price),
             "take_profit_price": _plain(leg.take_profit_price)}]  # fmt: skip


def _venue_oco_type(p: SendOrder) -> None:
    """The order's own leg: a market or limit order with one trigger at most."""
    if p.order_type not in ("market", "limit"):
        raise NotSupported("the venue's OCO legs are market or limit orders (a stop's, a "
                           "take-profit's, or a plain limit)", "order_type", "binance spot")
    if p.order_type == "market" and p.price is not None:
        raise OrderFieldConflict("a market leg has no price (a stop-limit leg is a limit with "
                                 "its stop_price)", "price")
    if (p.stop_price or p.trigger_price) is not None and p.take_profit_price is not None:
        raise OrderFieldConflict("an OCO leg has one trigger: stop_price or take_profit_price",
                                 "take_profit_price")


def _venue_oco_fields(p: SendOrder) -> None:
    """The fields the venue's OCO cannot honour, refused."""
    _venue_oco_type(p)
    for value, field in ((p.params, "params"), (p.oms_stop_loss, "oms_stop_loss"),
                         (p.oms_stop_gain, "oms_stop_gain")):  # fmt: skip
        if value:
            raise NotSupported(f"{field} with the venue's OCO (its order list is placed as "
                               "Binance defines it; the position's stop targets would follow "
                               "one leg only)", field, "binance spot")
    if p.time_in_force not in (None, "GTC") or p.post_only or p.expire_at is not None:
        raise NotSupported("the venue's OCO legs rest good-till-cancelled (its limit as a "
                           "maker order)", "post_only" if p.post_only else "time_in_force",
                           "binance spot")  # fmt: skip
    for value, field in ((p.trailing_amount, "trailing_amount"),
                         (p.trailing_percent, "trailing_percent"),
                         (p.trailing_trigger_price, "trailing_trigger_price")):  # fmt: skip
        if value is not None:
            raise NotSupported(f"{field} on a leg of the venue's OCO (its legs are a stop "
                               "(stop_price or trigger_price), a take-profit "
                               "(take_profit_price) or a plain limit)", field, "binance spot")
    if p.reduce_only:
        raise NotSupported("reduce_only on the venue's OCO (its two legs share one qty the "
                           "gateway cannot reserve twice): leave it out, or let the gateway "
                           "hold the OCO", "reduce_only", "binance spot")
    if p.trigger_price_type not in (None, "last"):
        raise NotSupported("the venue's OCO triggers on the last price", "trigger_price_type",
                           "binance spot")


def _oto(p: SendOrder, venue: OrderFeatures | None) -> list[ColumnValues]:
    """Children with a trigger are held by the gateway, the others go to the venue as they
    are: each is checked as what it will be."""
    specs: list[ColumnValues] = []
    for i, child in enumerate(p.oto_orders or [], start=1):
        held = child.stop_price is not None or child.take_profit_price is not None
        if venue is not None:
            check_honoured(OrderAsk(child.order_type, stop_price=child.stop_price is not None,
                                    take_profit_price=child.take_profit_price is not None,
                                    trigger_price_type=p.trigger_price_type if held else None,
                                    emulation=Emulation.GATEWAY if held else None),
                           venue)  # fmt: skip
        side = child.side or ("sell" if p.side == "buy" else "buy")
        specs.append({"role": f"child{i}", "side": side, "order_type": child.order_type,
                      "price": _plain(child.price), "stop_price": _plain(child.stop_price),
                      "take_profit_price": _plain(child.take_profit_price)})  # fmt: skip
    return specs


def _bracket(p: SendOrder, venue: OrderFeatures | None) -> list[ColumnValues]:
    if p.reduce_only:
        raise OrderFieldConflict("a bracket's entry opens or adds to a position (its exits "
                                 "reduce it): it cannot be reduce-only", "reduce_only")
    sl, tp = p.bracket_stop_loss, p.bracket_take_profit
    buy = p.side == "buy"
    if sl is not None and tp is not None and (sl.trigger_price >= tp.trigger_price) == buy:
        raise OrderFieldConflict("a bracket's stop-loss triggers on the losing side of its "
                                 "take-profit (below it for a buy entry, above for a sell)",
                                 "bracket_stop_loss")
    if p.price is not None:
        for exit_, field, loses in ((sl, "bracket_stop_loss", True),
                                    (tp, "bracket_take_profit", False)):  # fmt: skip
            if exit_ is not None and (exit_.trigger_price < p.price) != (buy == loses):
                raise OrderFieldConflict(f"{field}'s trigger is on the wrong side of the "
                                         "entry's price", field)
    specs: list[ColumnValues] = []
    for role, exit_ in ((Role.STOP_LOSS, sl), (Role.TAKE_PROFIT, tp)):
        if exit_ is not None:
            specs.append(_exit_spec(p, role, exit_, venue))
    if p.bracket_time_limit is not None:
        if venue is not None:  # its exit is a market order the venue executes
            check_honoured(OrderAsk("market"), venue)
        specs.append({"role": Role.TIME_LIMIT.value, "order_type": "market",
                      "after_seconds": p.bracket_time_limit})  # fmt: skip
    return specs


def _exit_spec(p: SendOrder, role: Role, exit_: BracketExit, venue: OrderFeatures | None
               ) -> ColumnValues:  # fmt: skip
    order_type = "market" if exit_.price is None else "limit"
    stop = role is Role.STOP_LOSS
    if venue is not None:
        check_honoured(OrderAsk(order_type, stop_price=stop, take_profit_price=not stop,
                                trigger_price_type=p.trigger_price_type,
                                emulation=Emulation.GATEWAY), venue)  # fmt: skip
    trigger = to_plain(exit_.trigger_price)
    return {"role": role.value, "order_type": order_type, "price": _plain(exit_.price),
            "stop_price": trigger if stop else None,
            "take_profit_price": None if stop else trigger}  # fmt: skip


def spec_of(p: SendOrder, specs: list[ColumnValues]) -> ColumnValues:
    """The group row's spec: the members its steps will create, or, for an OCO the venue
    holds, the legs placed with the order in one request (`venue_legs`)."""
    if p.emulation == Emulation.VENUE.value:
        return {"members": [], "venue_legs": specs, "emulation": Emulation.VENUE.value}
    return {"members": specs}


async def open_group(ctx: Ctx, p: SendOrder, specs: list[ColumnValues]) -> int:
    """The group's row, before its first order is written (the order carries its id)."""
    kind = group_kind(p)
    assert kind is not None  # noqa: S101 - asked for a group only
    return await group_store.create(ctx.conn, {
        "account_id": ctx.account_id, "kind": kind.value, "state": GroupState.PENDING.value,
        "symbol": p.symbol, "strategy_id": p.strategy_id, "parent_order_id": 0,
        "spec": spec_of(p, specs), "created_at": ctx.now, "updated_at": ctx.now,
    })  # fmt: skip


def first_role(p: SendOrder) -> str:
    """The role of the order a group is accepted with: an OCO's first leg, else the entry."""
    return leg_role(0) if group_kind(p) is GroupKind.OCO else Role.ENTRY.value


async def link_first(ctx: Ctx, p: SendOrder, group_id: int, order_id: int | None) -> None:
    """The group's first member: the order it was accepted with (none in shadow mode, which
    sends nothing: the group ends at once)."""
    if order_id is None:
        await group_store.change(ctx.conn, group_id, {"state": GroupState.CANCELED.value})
        return
    await group_store.change(ctx.conn, group_id, {"parent_order_id": order_id})
    await group_store.add_member(ctx.conn, group_id, order_id, first_role(p), ctx.now)
