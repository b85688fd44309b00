"""Contingent groups held by the gateway, through the real acceptance, worker and paper venue:
a bracket's exits created at its entry's fills and one-cancels-the-other, OCO legs of which
one fires, cancels that end a group whole, and a takeover of the account between two workers
mid-group (the kill -9 of the owner) that fires nothing twice and leaves no exit orphaned."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update

from apps.oms.service.execution import held as held_service
from apps.oms.service.execution.order_groups import step as group_step
from apps.oms.store import leases
from apps.oms.store.tables import order_group_members, order_groups, orders, outbox

from .conftest import Harness
from .test_commands import assert_fold, positions_of
from .test_held_orders import _long, _take_over

SYMBOL = "BTC/USDT:USDT"


async def group_of(h: Harness, order_id: int) -> dict[str, Any]:
    async with h.store.read() as conn:
        gid = (await conn.execute(select(orders.c.group_id).where(orders.c.id == order_id))
               ).scalar_one()
        row = (await conn.execute(select(order_groups).where(order_groups.c.id == gid))
               ).mappings().one()
        members = (await conn.execute(
            select(order_group_members.c.role, orders)
            .join(orders, orders.c.id == order_group_members.c.order_id)
            .where(order_group_members.c.group_id == gid).order_by(order_group_members.c.id)
        )).mappings().all()
    return {**dict(row), "members": {m["role"]: dict(m) for m in members}}


async def children(h: Harness, parent_id: int) -> list[dict[str, Any]]:
    async with h.store.read() as conn:
        rows = (await conn.execute(select(orders).where(orders.c.parent_order_id == parent_id)
                                   .order_by(orders.c.id))).mappings()
        return [dict(r) for r in rows]


async def events(h: Harness, acct: int, name: str) -> list[dict[str, Any]]:
    async with h.store.read() as conn:
        rows = (await conn.execute(select(outbox.c.payload).where(
            outbox.c.account_id == acct, outbox.c.event == name).order_by(outbox.c.id))
                ).scalars()
        return [dict(r) for r in rows]


async def bracket(h: Harness, acct: int, **extra: Any) -> int:
    fields = {"symbol": SYMBOL, "side": "buy", "order_type": "market", "qty": "0.01",
              "bracket_stop_loss": {"trigger_price": "49000"},
              "bracket_take_profit": {"trigger_price": "52000"}, **extra}
    item = await h.send(acct, "send_order", **fields)
    assert item["ok"], item
    return int(item["order_id"])


async def test_a_bracket_arms_its_exits_at_the_entry_fill_and_the_first_exit_takes_it(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    acct = await h.account("hedge")
    await h.price(SYMBOL, "50000")
    entry_id = await bracket(h, acct, strategy_id=0, comment="b1")
    await h.drain(acct)
    group = await group_of(h, entry_id)
    assert (group["kind"], group["state"]) == ("bracket", "active")
    entry, sl, tp = (group["members"][r] for r in ("entry", "stop_loss", "take_profit"))
    assert (entry["status"], entry["filled_qty"]) == ("FILLED", Decimal("0.01"))
    (pos,) = await positions_of(h, acct)
    for exit_ in (sl, tp):
        assert (exit_["status"], exit_["side"], exit_["qty"], exit_["reduce_only"],
                exit_["position_id"], exit_["parent_order_id"], exit_["emulation"],
                exit_["strategy_id"]) == (
            "SUBMITTED", "sell", Decimal("0.01"), True, pos["id"], entry_id, "gateway", 0)
    assert (sl["stop_price"], tp["take_profit_price"]) == (Decimal(49000), Decimal(52000))
    assert (sl["reason"], tp["reason"]) == ("stop_loss", "take_profit")
    await h.price(SYMBOL, "49500")
    await h.drain(acct)
    assert (await group_of(h, entry_id))["state"] == "active"
    await h.price(SYMBOL, "48900")
    await h.drain(acct)
    group = await group_of(h, entry_id)
    assert group["state"] == "done"
    assert group["members"]["stop_loss"]["status"] == "FILLED"
    assert group["members"]["take_profit"]["status"] == "CANCELED"
    (child,) = await children(h, sl["id"])
    assert (child["status"], child["qty"]) == ("FILLED", Decimal("0.01"))
    assert await children(h, tp["id"]) == []
    (pos,) = await positions_of(h, acct)
    assert pos["state"] == "closed"
    await h.price(SYMBOL, "60000")  # the take-profit's price: it was disarmed
    await h.drain(acct)
    assert await children(h, tp["id"]) == []
    states = [e["state"] for e in await events(h, acct, "order_group_changed")]
    assert (states[0], states[-1], "triggered" in states) == ("active", "done", True)
    await assert_fold(h, acct)


async def test_an_oco_fires_one_leg_and_disarms_the_others(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    acct = await h.account("hedge")
    pid = await _long(h, acct)
    item = await h.send(acct, "send_order", symbol=SYMBOL, side="sell", order_type="market",
                        qty="0.01", take_profit_price="52000", reduce_only=True,
                        position_id=pid, oco_orders=[{"stop_price": "48000"}])
    assert item["ok"], item
    await h.drain(acct)
    group = await group_of(h, item["order_id"])
    assert (group["kind"], group["state"]) == ("oco", "active")
    leg0, leg1 = group["members"]["leg0"], group["members"]["leg1"]
    assert (leg0["status"], leg1["status"]) == ("SUBMITTED", "SUBMITTED")
    assert (leg1["side"], leg1["qty"], leg1["reduce_only"], leg1["position_id"],
            leg1["emulation"], leg1["stop_price"]) == (
        "sell", Decimal("0.01"), True, pid, "gateway", Decimal(48000))
    await h.price(SYMBOL, "52100")
    await h.drain(acct)
    group = await group_of(h, item["order_id"])
    assert group["state"] == "done"
    assert (group["members"]["leg0"]["status"], group["members"]["leg1"]["status"]) == (
        "FILLED", "CANCELED")
    await h.price(SYMBOL, "47000")
    await h.drain(acct)
    assert await children(h, leg1["id"]) == []
    (pos,) = await positions_of(h, acct)
    assert pos["state"] == "closed"
    await assert_fold(h, acct)


async def test_a_partly_filled_entry_sizes_its_exits_and_an_exit_cancels_its_rest(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    acct = await h.account("netting", book={"resting_volume": "0.004"})
    await h.price(SYMBOL, "51000")
    entry_id = await bracket(h, acct, order_type="limit", price="50000")
    await h.drain(acct)
    group = await group_of(h, entry_id)
    assert (group["state"], list(group["members"])) == ("pending", ["entry"])
    for price, filled in (("49990", "0.004"), ("49980", "0.008")):
        await h.price(SYMBOL, price)
        await h.drain(acct)
        group = await group_of(h, entry_id)
        assert group["members"]["entry"]["filled_qty"] == Decimal(filled)
        assert group["state"] == "active"
        for role in ("stop_loss", "take_profit"):
            assert group["members"][role]["qty"] == Decimal(filled), (price, role)
    await h.price(SYMBOL, "52100")  # the take-profit fires for what the entry filled
    await h.drain(acct)
    group = await group_of(h, entry_id)
    assert group["state"] == "done"
    members = group["members"]
    assert (members["entry"]["status"], members["entry"]["filled_qty"]) == (
        "CANCELED", Decimal("0.008"))
    assert (members["take_profit"]["status"], members["take_profit"]["filled_qty"]) == (
        "FILLED", Decimal("0.008"))
    assert members["stop_loss"]["status"] == "CANCELED"
    (pos,) = await positions_of(h, acct)
    assert pos["qty"] == 0
    await assert_fold(h, acct)


async def test_cancelling_the_entry_ends_a_bracket_before_any_fill(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    acct = await h.account("hedge")
    await h.price(SYMBOL, "51000")
    entry_id = await bracket(h, acct, order_type="limit", price="50000")
    await h.drain(acct)
    cancel = await h.send(acct, "cancel_order", order_id=entry_id)
    assert cancel["ok"], cancel
    await h.drain(acct)
    group = await group_of(h, entry_id)
    assert (group["state"], list(group["members"])) == ("canceled", ["entry"])
    await h.price(SYMBOL, "48000")
    await h.drain(acct)
    assert await children(h, entry_id) == []
    assert await positions_of(h, acct) == []


async def test_cancelling_one_exit_ends_the_group_whole(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    acct = await h.account("hedge")
    await h.price(SYMBOL, "50000")
    entry_id = await bracket(h, acct)
    await h.drain(acct)
    sl = (await group_of(h, entry_id))["members"]["stop_loss"]
    cancel = await h.send(acct, "cancel_order", order_id=sl["id"])
    assert cancel["ok"], cancel
    await h.drain(acct)
    group = await group_of(h, entry_id)
    assert group["state"] == "canceled"
    assert [group["members"][r]["status"] for r in ("entry", "stop_loss", "take_profit")] == [
        "FILLED", "CANCELED", "CANCELED"]
    await h.price(SYMBOL, "53000")
    await h.drain(acct)
    (pos,) = await positions_of(h, acct)
    assert pos["qty"] == Decimal("0.01")  # the position stays, as asked
    assert await children(h, group["members"]["take_profit"]["id"]) == []


async def test_a_member_cancel_completes_when_the_group_step_ended_it_first(
    harness: Callable[..., Harness],
) -> None:
    """The cancel asks at acceptance for the group to end; the worker's group step disarms
    every member, the named one included, before the queued cancel runs: the cancel reports
    the order cancelled (it is), not `invalid_order_state`."""
    h = harness()
    acct = await h.account("hedge")
    await h.price(SYMBOL, "50000")
    entry_id = await bracket(h, acct)
    await h.drain(acct)
    sl = (await group_of(h, entry_id))["members"]["stop_loss"]
    cancel = await h.send(acct, "cancel_order", order_id=sl["id"])
    assert (cancel["ok"], cancel["status"]) == (True, "queued"), cancel
    rt = await h.runtime(acct)
    async with rt.record(None) as rec:  # the housekeeping round before the queued cancel
        await group_step(rec, (await group_of(h, entry_id))["id"])
    assert (await group_of(h, entry_id))["members"]["stop_loss"]["status"] == "CANCELED"
    await h.drain(acct)
    ended = await h.command(cancel["command_id"])
    assert (ended["status"], ended["result"]["items"]) == (
        "completed", [{"order_id": sl["id"], "ok": True, "status": "CANCELED"}])
    assert (await group_of(h, entry_id))["state"] == "canceled"


async def test_exits_of_a_position_closed_otherwise_are_disarmed(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    acct = await h.account("hedge")
    await h.price(SYMBOL, "50000")
    entry_id = await bracket(h, acct)
    await h.drain(acct)
    (pos,) = await positions_of(h, acct)
    close = await h.send(acct, "close_position", position_id=pos["id"])
    assert close["ok"], close
    await h.drain(acct)
    group = await group_of(h, entry_id)
    assert group["state"] == "done"
    assert [group["members"][r]["status"] for r in ("stop_loss", "take_profit")] == [
        "CANCELED", "CANCELED"]


async def test_a_takeover_mid_bracket_fires_one_exit_once(
    harness: Callable[..., Harness],
) -> None:
    a, b, c = harness(), harness(), harness()
    acct = await a.account("hedge")
    await a.price(SYMBOL, "50000")
    entry_id = await bracket(a, acct)
    await a.drain(acct)  # A books the entry's fill and arms the exits, then dies
    await _take_over(a, b, acct)
    await b.price(SYMBOL, "48000")
    rt_b = await b.runtime(acct)
    assert await held_service.check_held(rt_b) == 1  # B fires the stop-loss, dies unsent
    await _take_over(b, c, acct)
    with pytest.raises(leases.LeaseLost):  # the stale owner writes nothing
        async with rt_b.record() as rec:
            await group_step(rec, (await group_of(b, entry_id))["id"])
    await c.price(SYMBOL, "53000")  # the take-profit's price too: it was disarmed
    await c.drain(acct)
    group = await group_of(c, entry_id)
    assert group["state"] == "done"
    sl, tp = group["members"]["stop_loss"], group["members"]["take_profit"]
    assert (sl["status"], tp["status"]) == ("FILLED", "CANCELED")
    assert len(await children(c, sl["id"])) == 1
    assert await children(c, tp["id"]) == []
    (pos,) = await positions_of(c, acct)
    assert pos["state"] == "closed"
    await assert_fold(c, acct)


async def test_two_filled_legs_mark_the_group_overfilled_and_raise_an_alert(
    harness: Callable[..., Harness],
) -> None:
    """A venue that raced two legs (both fills reported): the books keep both, the group is
    `overfilled`, and the alert is raised once."""
    h = harness()
    acct = await h.account("netting")
    await h.price(SYMBOL, "50000")
    item = await h.send(acct, "send_order", symbol=SYMBOL, side="buy", order_type="market",
                        qty="0.01", stop_price="51000", oco_orders=[
                            {"take_profit_price": "49000"}])
    assert item["ok"], item
    await h.drain(acct)
    await h.price(SYMBOL, "51100")
    await h.drain(acct)
    group = await group_of(h, item["order_id"])
    assert group["state"] == "done"
    leg1 = group["members"]["leg1"]
    async with h.store.transaction() as conn:  # what a venue's own second fill would report
        await conn.execute(update(orders).where(orders.c.id == leg1["id"]).values(
            filled_qty=Decimal("0.01"), status="FILLED", is_open=False))
        await conn.execute(update(order_groups).where(order_groups.c.id == group["id"])
                           .values(state="triggered"))
    await h.drain(acct)
    await h.drain(acct)
    assert (await group_of(h, item["order_id"]))["state"] == "overfilled"
    (alert,) = await events(h, acct, "order_group_overfilled")
    assert alert["group_id"] == group["id"]
    assert sorted(m["filled_qty"] for m in alert["members"]) == ["0.01", "0.01"]


class _Race:
    """Which member of a group fires first on a price path, reckoned apart from the gateway:
    `levels` maps a role to (trigger, fires when the price is at or above it)."""

    def __init__(self, levels: dict[str, tuple[Decimal, bool]], resting: str | None = None
                 ) -> None:  # fmt: skip
        self.levels = levels
        self.winner: str | None = None
        self.resting = resting  # the role of a limit resting on the venue (it sends no child)

    def see(self, price: Decimal) -> None:
        if self.winner is None:
            for role, (trigger, above) in self.levels.items():
                if (price >= trigger) if above else (price <= trigger):
                    self.winner = role
                    return


async def _place_path_groups(h: Harness, acct: int, rng: random.Random, start: Decimal
                             ) -> list[tuple[int, _Race]]:  # fmt: skip
    placed = []
    for _ in range(2):  # brackets: a market entry, its exits around the price
        side = rng.choice(["buy", "sell"])
        loss, gain = (Decimal(rng.randrange(200, 1_200)) for _ in range(2))
        sl, tp = (start - loss, start + gain) if side == "buy" else (start + loss, start - gain)
        item = await h.send(acct, "send_order", symbol=SYMBOL, side=side, order_type="market",
                            qty="0.001", bracket_stop_loss={"trigger_price": str(sl)},
                            bracket_take_profit={"trigger_price": str(tp)})
        assert item["ok"], item
        buy = side == "buy"
        placed.append((int(item["order_id"]), _Race({"stop_loss": (sl, not buy),
                                                     "take_profit": (tp, buy)})))
    # an OCO of two entries: a breakout above (stop) or a dip below (if-touched)
    up, down = (start + Decimal(rng.randrange(200, 1_200)),
                start - Decimal(rng.randrange(200, 1_200)))
    item = await h.send(acct, "send_order", symbol=SYMBOL, side="buy", order_type="market",
                        qty="0.001", stop_price=str(up),
                        oco_orders=[{"take_profit_price": str(down)}])
    assert item["ok"], item
    placed.append((int(item["order_id"]), _Race({"leg0": (up, True), "leg1": (down, False)})))
    # the same as Binance's OCO: the dip's limit rests on the venue, the breakout's stop is held
    up, down = (start + Decimal(rng.randrange(200, 1_200)),
                start - Decimal(rng.randrange(200, 1_200)))
    item = await h.send(acct, "send_order", symbol=SYMBOL, side="buy", order_type="limit",
                        qty="0.001", price=str(down), oco_orders=[{"stop_price": str(up)}])
    assert item["ok"], item
    placed.append((int(item["order_id"]), _Race({"leg0": (down, False), "leg1": (up, True)},
                                                resting="leg0")))
    return placed


async def test_seeded_price_paths_with_takeovers_fire_one_member_per_group_once(
    harness: Callable[..., Harness],
) -> None:
    """Seeded random walks, each with two brackets, an OCO of two held legs and one of a limit
    resting on the venue and a held stop, a takeover by a fresh worker at a random step (half
    of them right after the owner fired something and died before sending it): in each group
    the member whose trigger (or limit) was crossed first fires or fills, once; the others are
    disarmed or cancelled; no group ends overfilled; no exit is left armed on a closed
    position."""
    rng = random.Random(52)
    h = harness()
    acct = await h.account("hedge")
    owners = [h]
    # 6 paths keep `make test` quick; OMS_GROUP_PATHS=200 soaks (docs/orders.md)
    paths, steps = int(os.environ.get("OMS_GROUP_PATHS", "6")), 16
    winners: list[str | None] = []
    for _ in range(paths):
        start = Decimal(rng.randrange(45_000, 55_000))
        await h.price(SYMBOL, str(start))
        placed = await _place_path_groups(h, acct, rng, start)
        await owners[-1].drain(acct)
        price, takeover = start, rng.randrange(0, steps)
        for i in range(steps):
            price = max(Decimal(1000), price + Decimal(rng.randrange(-300, 301)))
            await h.price(SYMBOL, str(price))
            for _, race in placed:
                race.see(price)
            live = any(r.winner is None for _, r in placed)  # (an idle account has no lease)
            if i == takeover and live:  # the owner dies: after firing (unsent) or before this
                if rng.random() < 0.5:  # price
                    await held_service.check_held(await owners[-1].runtime(acct))
                fresh = harness()
                await _take_over(owners[-1], fresh, acct)
                owners.append(fresh)
            await owners[-1].drain(acct)
        for order_id, race in placed:
            winners.append(race.winner)
            group = await group_of(h, order_id)
            members = group["members"]
            fired = {role: await children(h, m["id"]) for role, m in members.items()
                     if role != "entry"}  # fmt: skip
            assert all(len(c) <= 1 for c in fired.values()), fired
            if race.winner is None:
                assert group["state"] == "active", (group, race.levels)
                assert not any(fired.values())
                await h.send(acct, "cancel_order", order_id=members[
                    "stop_loss" if "stop_loss" in members else "leg0"]["id"])
                continue
            assert group["state"] == "done", (group["state"], race.winner, race.levels)
            sent = [] if race.winner == race.resting else [race.winner]  # the venue filled it
            assert [r for r, c in fired.items() if c] == sent
            assert members[race.winner]["status"] == "FILLED"
            for role in fired:
                if role != race.winner:
                    assert members[role]["status"] == "CANCELED"
        await owners[-1].drain(acct)
        for pos in await positions_of(h, acct):  # what a path left open is closed
            if pos["state"] != "closed":
                await h.send(acct, "close_position", position_id=pos["id"])
        await owners[-1].drain(acct)
    async with h.store.read() as conn:
        two = (await conn.execute(select(order_groups.c.id).where(
            order_groups.c.account_id == acct, order_groups.c.state == "overfilled"))
               ).scalars().all()
        armed = (await conn.execute(select(orders.c.id).where(
            orders.c.account_id == acct, orders.c.group_id.is_not(None),
            orders.c.is_open.is_(True)))).scalars().all()  # fmt: skip
    assert (two, armed) == ([], [])
    # the walks reach every kind of member and leave some groups untouched
    assert {"stop_loss", "take_profit", "leg0", "leg1", None} <= set(winners), winners
    print(f"group paths: {paths}, groups: {len(winners)}, fired: "  # noqa: T201
          f"{sum(w is not None for w in winners)}")
    await assert_fold(h, acct)


async def test_a_held_stop_entry_brackets_the_position_its_child_opens(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    acct = await h.account("netting")
    await h.price(SYMBOL, "50000")
    entry_id = await bracket(h, acct, stop_price="50500", emulation="gateway",
                             bracket_stop_loss={"trigger_price": "50000"},
                             bracket_take_profit={"trigger_price": "52000"})
    await h.drain(acct)
    assert (await group_of(h, entry_id))["state"] == "pending"
    await h.price(SYMBOL, "50600")  # the entry fires; its child fills
    await h.drain(acct)
    group = await group_of(h, entry_id)
    assert group["state"] == "active"
    (pos,) = await positions_of(h, acct)
    assert {group["members"][r]["position_id"] for r in ("stop_loss", "take_profit")} == {
        pos["id"]}
    await h.price(SYMBOL, "49900")
    await h.drain(acct)
    group = await group_of(h, entry_id)
    assert (group["state"], group["members"]["stop_loss"]["status"],
            group["members"]["take_profit"]["status"]) == ("done", "FILLED", "CANCELED")
    (pos,) = await positions_of(h, acct)
    assert pos["qty"] == 0
    await assert_fold(h, acct)


async def test_cancelling_an_oto_parent_before_it_is_done_filling_releases_nothing(
    harness: Callable[..., Harness],
) -> None:
    """Its children wait for the parent to be done filling; a cancel ends the group whole."""
    h = harness()
    acct = await h.account("hedge", book={"resting_volume": "0.004"})
    await h.price(SYMBOL, "51000")
    item = await h.send(acct, "send_order", symbol=SYMBOL, side="buy", order_type="limit",
                        qty="0.01", price="50000", oto_orders=[
                            {"order_type": "limit", "price": "53000"},
                            {"stop_price": "48000"}])
    assert item["ok"], item
    entry_id = int(item["order_id"])
    await h.drain(acct)
    await h.price(SYMBOL, "49990")
    await h.drain(acct)
    group = await group_of(h, entry_id)
    assert (group["kind"], group["state"], list(group["members"])) == ("oto", "pending",
                                                                         ["entry"])
    cancel = await h.send(acct, "cancel_order", order_id=entry_id)
    assert cancel["ok"], cancel
    await h.drain(acct)
    group = await group_of(h, entry_id)
    assert (group["state"], list(group["members"])) == ("canceled", ["entry"])


async def test_an_oto_sends_its_children_sized_to_the_parent_fills(
    harness: Callable[..., Harness],
) -> None:
    """A limit take-profit to the venue, reserving on the entry's position, and a same-side
    held stop (an add-on on a breakout), both sized to what the entry filled."""
    h = harness()
    acct = await h.account("hedge", book={"resting_volume": "0.004"})
    await h.price(SYMBOL, "51000")
    item = await h.send(acct, "send_order", symbol=SYMBOL, side="buy", order_type="limit",
                        qty="0.008", price="50000", oto_orders=[
                            {"order_type": "limit", "price": "53000"},
                            {"side": "buy", "stop_price": "60000"}])
    assert item["ok"], item
    entry_id = int(item["order_id"])
    await h.drain(acct)
    await h.price(SYMBOL, "49990")
    await h.drain(acct)
    assert list((await group_of(h, entry_id))["members"]) == ["entry"]  # 0.004 of 0.008
    await h.price(SYMBOL, "49980")
    await h.drain(acct)
    group = await group_of(h, entry_id)
    assert group["state"] == "active"
    tp, add = group["members"]["child1"], group["members"]["child2"]
    (pos,) = await positions_of(h, acct)
    assert (tp["status"], tp["emulation"], tp["side"], tp["qty"], tp["reduce_only"],
            tp["position_id"], tp["parent_order_id"]) == (
        "SUBMITTED", "venue", "sell", Decimal("0.008"), True, pos["id"], entry_id)
    assert tp["exchange_order_id"] is not None  # resting on the venue
    assert (add["status"], add["emulation"], add["side"], add["qty"], add["reduce_only"]) == (
        "SUBMITTED", "gateway", "buy", Decimal("0.008"), False)
    assert pos["pending_close_qty"] == Decimal("0.008")  # the resting child reserved it
    for price in ("53000", "53001"):
        await h.price(SYMBOL, price)
        await h.drain(acct)
    group = await group_of(h, entry_id)
    assert group["members"]["child1"]["status"] == "FILLED"
    (pos,) = await positions_of(h, acct)
    assert (pos["state"], pos["pending_close_qty"]) == ("closed", 0)
    cancel = await h.send(acct, "cancel_order", order_id=add["id"])
    assert cancel["ok"], cancel
    await h.drain(acct)
    assert (await group_of(h, entry_id))["state"] == "canceled"
    await assert_fold(h, acct)


async def test_a_member_price_off_the_market_tick_is_refused_at_acceptance(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    acct = await h.account("hedge")
    await h.price(SYMBOL, "50000")
    for fields in ({"bracket_stop_loss": {"trigger_price": "49000.05"}},
                   {"stop_price": "51000", "oco_orders": [{"take_profit_price": "49000.05"}]},
                   {"oto_orders": [{"order_type": "limit", "price": "52000.05"}]}):
        item = await h.send(acct, "send_order", symbol=SYMBOL, side="buy",
                            order_type="market", qty="0.01", **fields)
        assert item == {"ok": False, "code": "invalid_price"}, fields
    async with h.store.read() as conn:
        assert (await conn.execute(select(order_groups.c.id).where(
            order_groups.c.account_id == acct))).scalars().all() == []
