"""The order reads show each member's group kind and role (`group_kind`, `group_role`) from the
store, so a client that never saw an `order_group_changed` event (a reload) still knows them:
open orders, history, by id, the read model's load and re-read, the stream's snapshot; one
statement per page (an outer join), never a read per order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apps.oms.service import reads as read_service
from apps.oms.service.reads import Query
from apps.oms.service.stream import AccountScope, snapshot
from apps.oms.store import reads as read_store

from .conftest import Harness, trader
from .test_held_orders import _long
from .test_order_groups import SYMBOL, bracket


async def _books(h: Harness) -> tuple[int, dict[str, int]]:
    """A filled bracket entry with its two armed exits, an OCO of two legs, an OTO parent
    resting with its children to come, and an order outside any group: their ids by name."""
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


def _tags(items: Any) -> dict[int, tuple[Any, Any, Any]]:
    return {int(o["id"]): (o["group_id"], o["group_kind"], o["group_role"]) for o in items}


def _expected(tags: dict[int, tuple[Any, Any, Any]], ids: dict[str, int]) -> None:
    by_role = {(kind, role): oid for oid, (_g, kind, role) in tags.items()}
    assert tags[ids["bracket"]][1:] == ("bracket", "entry")
    assert tags[ids["oco"]][1:] == ("oco", "leg0")
    assert tags[ids["oto"]][1:] == ("oto", "entry")
    assert tags[ids["plain"]] == (None, None, None)
    for kind, role, first in (("bracket", "stop_loss", "bracket"),
                              ("bracket", "take_profit", "bracket"), ("oco", "leg1", "oco")):
        member = by_role[(kind, role)]  # a member the worker's group step created
        assert tags[member][0] == tags[ids[first]][0], (kind, role)


async def test_every_order_read_shows_the_group_kind_and_role(
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
    assert {r["id"]: (r["group_kind"], r["group_role"]) for r in reread} == {
        ids["oco"]: ("oco", "leg0"), ids["plain"]: (None, None)}
    assert {(r["group_kind"], r["group_role"]) for r in loaded} >= {
        ("bracket", "stop_loss"), ("oco", "leg1"), ("oto", "entry")}
    scope = AccountScope(acct, frozenset({"position"}), None, account_level=True)
    books = (await snapshot(h.store, {acct: scope})).items[acct]
    assert _tags(books[0])[ids["oco"]][1:] == ("oco", "leg0")


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
    assert len(selects) == 2, selects  # the count and the page (orders joined to their groups)
