"""The read model's pure core: `Book.select` gives what the store's open query gives (scope,
strategy filter for restricted accounts, strategy_id and symbol filters, newest first, limit)
for any set of rows and changes, and `Book.body` (rendered once per change) the same body at
every point of any sequence of reads and changes; `touched` finds the rows an event names."""

import json
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.oms.service.read_model import (
    ORDER_KEYS,
    POSITION_KEYS,
    Book,
    OpenRow,
    body,
    touched,
)
from apps.oms.store.reads import Scope
from apps.oms.store.stream import StreamEvent

ACCOUNTS = [1, 2, 3]
STRATEGIES = [0, 7, 9]
SYMBOLS = ["BTC/USDT", "ETH/USDT"]

rows = st.lists(
    st.builds(
        lambda i, a, s, sym: OpenRow(i, a, s, sym, f"{i}".encode()),
        st.integers(1, 200),
        st.sampled_from(ACCOUNTS),
        st.sampled_from(STRATEGIES),
        st.sampled_from(SYMBOLS),
    ),
    max_size=60,
)
scopes = st.dictionaries(
    st.sampled_from(ACCOUNTS),
    st.one_of(st.none(), st.frozensets(st.sampled_from(STRATEGIES), max_size=2)),
    min_size=1,
)


def reference(
    live: dict[int, OpenRow],
    scope: dict[int, frozenset[int] | None],
    strategy_id: int | None,
    symbol: str | None,
    limit: int,
) -> list[bytes]:
    """The store's open query, written out: WHERE scope AND filters ORDER BY id DESC LIMIT."""
    out = [
        r
        for r in live.values()
        if r.account_id in scope
        and (scope[r.account_id] is None or r.strategy_id in scope[r.account_id])  # type: ignore[operator]
        and (strategy_id is None or r.strategy_id == strategy_id)
        and (symbol is None or r.symbol == symbol)
    ]
    return [r.blob for r in sorted(out, key=lambda r: -r.id)[:limit]]


@settings(max_examples=300, deadline=None)
@given(
    puts=rows,
    drops=st.lists(st.integers(1, 200), max_size=20),
    later=rows,
    scope=scopes,
    strategy_id=st.one_of(st.none(), st.sampled_from(STRATEGIES)),
    symbol=st.one_of(st.none(), st.sampled_from(SYMBOLS)),
    limit=st.integers(1, 80),
)
def test_select_equals_the_store_query(
    puts: list[OpenRow],
    drops: list[int],
    later: list[OpenRow],
    scope: dict[int, frozenset[int] | None],
    strategy_id: int | None,
    symbol: str | None,
    limit: int,
) -> None:
    book = Book()
    live: dict[int, OpenRow] = {}
    for row in puts:
        book.put(row)
        live[row.id] = row
    book.select(Scope(scope), None, None, 5)  # sorted lists cached, then changed below
    for row_id in drops:
        book.drop(row_id)
        live.pop(row_id, None)
    for row in later:  # a row may move to another account (re-read under a new owner)
        book.put(row)
        live[row.id] = row
    got = book.select(Scope(scope), strategy_id, symbol, limit)
    assert got == reference(live, scope, strategy_id, symbol, limit)


queries = st.tuples(
    scopes,
    st.one_of(st.none(), st.sampled_from(STRATEGIES)),
    st.one_of(st.none(), st.sampled_from(SYMBOLS)),
    st.integers(1, 80),
)


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("put"), rows),
            st.tuples(st.just("drop"), st.lists(st.integers(1, 200), max_size=5)),
            st.tuples(st.just("read"), st.lists(queries, min_size=1, max_size=4)),
        ),
        max_size=12,
    )
)
def test_bodies_rendered_once_per_change_equal_the_store_query(steps: list[tuple[str, Any]]) -> None:
    book = Book()
    live: dict[int, OpenRow] = {}
    for kind, arg in steps:
        if kind == "put":
            for row in arg:
                book.put(row)
                live[row.id] = row
        elif kind == "drop":
            for row_id in arg:
                book.drop(row_id)
                live.pop(row_id, None)
        else:
            for scope, strategy_id, symbol, limit in arg * 2:  # each read twice: once cached
                got = book.body(Scope(scope), strategy_id, symbol, limit)
                assert got == body(reference(live, scope, strategy_id, symbol, limit))


def test_replace_accounts_keeps_other_accounts() -> None:
    book = Book()
    for row in (OpenRow(1, 1, 0, "X", b"1"), OpenRow(2, 2, 0, "X", b"2")):
        book.put(row)
    book.replace_accounts([1], [OpenRow(3, 1, 0, "X", b"3")])
    assert book.select(Scope({1: None, 2: None}), None, None, 10) == [b"3", b"2"]


def event(name: str, payload: object, account_id: int | None = 1) -> StreamEvent:
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return StreamEvent(1, account_id, "position", name, None, text)


def test_touched_by_row_events_and_account_events() -> None:
    found = touched(
        [
            event("order_accepted", {"id": 5, "order_id": 5, "position_id": None}),
            event("deal_created", {"id": 40, "order_id": 6, "position_id": 7}),
            event("command_completed", {"id": 9, "order_id": 8, "result": {"position_id": 11}}),
            event("position_updated", '{"id": 12, "position_id": 12}'),
            event("orders_canceled_batch", {"items": [{"order_id": 13}]}, account_id=2),
            event("positions_merged", {"source_position_id": 1}, account_id=3),
        ]
    )
    assert found.ids == {"orders": {5, 6, 8}, "positions": {7, 11, 12}}
    assert found.accounts == {2, 3}  # batch cancels and merges re-read their whole account


def walked(name: str, value: Any) -> dict[str, set[int]]:
    """The rows an event names, by walking its decoded payload (what the model read before it
    scanned the text): named keys with positive integers at any depth, its own `id` by kind."""
    found: dict[str, set[int]] = {"orders": set(), "positions": set()}

    def walk(item: Any) -> None:
        if isinstance(item, dict):
            for key, inner in item.items():
                if isinstance(inner, int) and not isinstance(inner, bool) and inner > 0:
                    if key in ORDER_KEYS:
                        found["orders"].add(inner)
                    elif key in POSITION_KEYS:
                        found["positions"].add(inner)
                walk(inner)
        elif isinstance(item, list):
            for inner in item:
                walk(inner)

    walk(value)
    own = value.get("id") if isinstance(value, dict) else None
    if isinstance(own, int) and not isinstance(own, bool) and own > 0:
        for prefix, kind in (("order_", "orders"), ("position_", "positions")):
            if name.startswith(prefix):
                found[kind].add(own)
    return found


KEYS = sorted(ORDER_KEYS | POSITION_KEYS | {"id", "other", "qty", "order", "note"})
scalars = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1), st.booleans(), st.none(),
    st.text(alphabet='ab"\\:_id{}, 1', max_size=12), st.sampled_from(['"order_id": 7', "x"]),
)  # fmt: skip
payloads = st.dictionaries(
    st.sampled_from(KEYS),
    st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                 | st.dictionaries(st.sampled_from(KEYS), inner, max_size=3), max_leaves=12),
    max_size=6,
)  # fmt: skip


@given(
    st.sampled_from(["order_filled", "position_opened", "deal_created", "command_completed"]),
    payloads,
    st.booleans(),
)
@settings(max_examples=400, deadline=None)
def test_the_text_scan_names_every_row_the_decoded_payload_names(
    name: str, payload: dict[str, Any], compact: bool
) -> None:
    """Over-naming only costs a re-read; missing a row would leave the model stale. Both the
    store's writer (orjson, compact) and the standard library's spaced form are scanned."""
    text = orjson.dumps(payload).decode() if compact else json.dumps(payload)
    found = touched([event(name, text)]).ids
    for kind, ids in walked(name, payload).items():
        assert ids <= found[kind]
