"""Each group member shows its group's kind and its role (`group_kind`, `group_role`) in every
order read and order event, so a client that never saw an `order_group_changed` event (a
reload, a poll) still knows them: stored on the order with its member link (the first order at
acceptance, the members the worker creates, the links made before, by migration 0023), read
with the order itself (a page of orders is still its count and its page)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import select, update

from apps.oms.service import reads as read_service
from apps.oms.service.reads import Query
from apps.oms.service.stream import AccountScope, snapshot
from apps.oms.store import migrate
from apps.oms.store import reads as read_store
from apps.oms.store.tables import orders, outbox

from .conftest import Harness, trader
from .test_held_orders import _long
from .test_order_groups import SYMBOL, bracket


async def _books(h: Harness) -> tuple[int, dict[str, int]]:
    """A filled bracket entry with its two armed exits, an OCO of two legs, an OTO parent
    resting with its child to come, and an order outside any group: their ids by name."""
    acct = await h.account("hedge")
    pid = await _long(h, acct)
    ids = {"bracket": await bracket(h, acct)}
    oco = await h.send(acct, "send_order", symbol=SYMBOL, side="sell", order_type="market",
                       qty="0.01", take_profit_price="52000", reduce_only=True,
                       position_id=pid, oco_orders=[{"stop_price": "48000"}])
    oto = await h.send(acct, "send_order", symbol=SYMBOL, side="buy", order_type="limit",
                       qty="0.01", price="40000", oto_orders=[{"stop_price": "38000"}])
    plain = await h.send(acct, "send_order", symbol=SYMBOL, side="buy", order_type="limit",
                         qty="0.01", price="39000")
    for item in (oco, oto, plain):
        assert item["ok"], item
    ids.update(oco=int(oco["order_id"]), oto=int(oto["order_id"]), plain=int(plain["order_id"]))
    await h.drain(acct)
    return acct, ids


Tags = dict[int, tuple[Any, Any, Any]]


def _tags(items: Any) -> Tags:
    return {int(o["id"]): (o["group_id"], o["group_kind"], o["group_role"]) for o in items}


def _expected(tags: Tags, ids: dict[str, int]) -> None:
    by_role = {(kind, role): oid for oid, (_g, kind, role) in tags.items()}
    assert tags[ids["bracket"]][1:] == ("bracket", "entry")
    assert tags[ids["oco"]][1:] == ("oco", "leg0")
    assert tags[ids["oto"]][1:] == ("oto", "entry")
    assert tags[ids["plain"]] == (None, None, None)
    for kind, role, first in (("bracket", "stop_loss", "bracket"),
                              ("bracket", "take_profit", "bracket"), ("oco", "leg1", "oco")):
        member = by_role[(kind, role)]  # a member the worker's group step created
        assert tags[member][0] == tags[ids[first]][0], (kind, role)


async def test_every_order_read_and_event_shows_the_group_kind_and_role(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    acct, ids = await _books(h)
    who, q = trader(acct), Query([acct])
    history = await read_service.history(h.store, who, "orders", q, 1, 100)
    _expected(_tags(history["items"]), ids)
    opened = _tags((await read_service.open_orders(h.store, who, q, 500))["items"])
    assert ids["bracket"] not in opened  # filled
    assert opened[ids["oco"]][1:] == ("oco", "leg0")
    by_ids = await read_service.by_ids(h.store, who, "orders", list(ids.values()), [acct])
    assert _tags(by_ids["items"])[ids["oto"]][1:] == ("oto", "entry")
    async with h.store.read() as conn:
        loaded = await read_store.every_open_row(conn, "orders", [acct])
        reread = await read_store.open_rows_by_ids(conn, "orders", [ids["oco"], ids["plain"]])
        accepted = (await conn.execute(select(outbox.c.payload).where(
            outbox.c.account_id == acct, outbox.c.event == "order_accepted"))).scalars().all()
    assert {r["id"]: (r["group_kind"], r["group_role"]) for r in reread} == {
        ids["oco"]: ("oco", "leg0"), ids["plain"]: (None, None)}
    assert {(r["group_kind"], r["group_role"]) for r in loaded} >= {
        ("bracket", "stop_loss"), ("oco", "leg1"), ("oto", "entry")}
    scope = AccountScope(acct, frozenset({"position"}), None, account_level=True)
    books = (await snapshot(h.store, {acct: scope})).items[acct]
    assert _tags(books[0])[ids["oco"]][1:] == ("oco", "leg0")
    # the events: the accepted orders (the first at acceptance, the others by the worker)
    _expected(_tags(accepted), ids)


async def test_a_page_of_orders_is_read_in_one_statement(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    acct, _ids = await _books(h)
    selects: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    with h.store.watching_statements(record):
        page = await read_service.history(h.store, trader(acct), "orders", Query([acct]), 1, 100)
    assert len(page["items"]) == 8  # the long's buy, the bracket's 3, the OCO's 2, OTO, plain
    assert len(selects) == 2, selects  # the count and the page


def _fill_statement() -> str:
    path = Path(migrate.__file__).parent / "migrations" / "versions" / "0023_order_group_tags.py"
    spec = importlib.util.spec_from_file_location("order_group_tags", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.FILL)


async def test_the_migration_fills_in_the_members_linked_before(
    harness: Callable[..., Harness],
) -> None:
    """Migration 0023's statement over members whose tags were never written (linked before
    it): each gets its group's kind and its role back, orders outside a group stay untagged."""
    h = harness()
    acct, _ids = await _books(h)
    mine = orders.c.account_id == acct
    tags = select(orders.c.id, orders.c.group_kind, orders.c.group_role).where(mine)
    async with h.store.transaction() as conn:
        written = {r.id: (r.group_kind, r.group_role) for r in await conn.execute(tags)}
        await conn.execute(update(orders).where(mine).values(group_kind=None, group_role=None))
        await conn.execute(sa.text(_fill_statement()))
        filled = {r.id: (r.group_kind, r.group_role) for r in await conn.execute(tags)}
    assert filled == written
    assert sum(1 for kind, _role in filled.values() if kind is not None) == 6
