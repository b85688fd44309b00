"""Every `/oms/*` list query uses an index on MariaDB (EXPLAIN shows no full table scan).

The data set has 50 accounts so that a ten-account scope is selective, as in production.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pymysql
import pytest
from sqlalchemy import Select, insert
from sqlalchemy.dialects import mysql

from apps.oms.store.migrate import upgrade
from apps.oms.store.reads import Filters, Scope, open_query, page_queries
from apps.oms.store.store import Store
from apps.oms.store.tables import accounts, deals, orders, positions

from ...conftest import (
    MYSQL_HOST,
    MYSQL_PASSWORD,
    MYSQL_PORT,
    MYSQL_USER,
    create_mysql_database,
    drop_mysql_database,
)

pytestmark = pytest.mark.mysql
NOW = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def big_db() -> Iterator[str]:
    name, url = create_mysql_database("oms_explain")
    upgrade(url)
    import asyncio

    asyncio.run(_fill(url))
    with _connect(name) as conn, conn.cursor() as cur:
        for table in ("orders", "positions", "deals"):
            cur.execute(f"ANALYZE TABLE {table}")
            cur.fetchall()
    yield name
    drop_mysql_database(name)


def _connect(name: str) -> pymysql.connections.Connection:
    return pymysql.connect(
        host=MYSQL_HOST,
        port=MYSQL_PORT,
        user=MYSQL_USER,
        password=MYSQL_PASSWORD,
        database=name,
        autocommit=True,
    )


async def _fill(url: str) -> None:
    store = Store.from_url(url)
    money = Decimal("1.5")
    try:
        async with store.transaction() as conn:
            await conn.execute(
                insert(accounts),
                [
                    {
                        "exchange_id": "paper",
                        "label": f"a{i}",
                        "position_mode": "hedge",
                        "created_at": NOW,
                        "updated_at": NOW,
                    }
                    for i in range(1, 51)
                ],
            )
            await conn.execute(
                insert(orders),
                [
                    {
                        "account_id": 1 + i % 50,
                        "client_order_id": f"c{i}",
                        "symbol": ("BTC/USDT", "ETH/USDT")[i % 2],
                        "side": "buy",
                        "order_type": "limit",
                        "qty": money,
                        "status": "SUBMITTED" if i % 3 else "FILLED",
                        "is_open": bool(i % 3),
                        "strategy_id": i % 4,
                        "created_at": NOW - timedelta(minutes=i),
                        "updated_at": NOW,
                    }
                    for i in range(20000)
                ],
            )
            await conn.execute(
                insert(positions),
                [
                    {
                        "account_id": 1 + i % 50,
                        "symbol": "BTC/USDT",
                        "strategy_id": i % 4,
                        "side": "buy",
                        "qty": money,
                        "avg_price": money,
                        "state": "open" if i % 3 else "closed",
                        "is_open": bool(i % 3),
                        "opened_at": NOW - timedelta(minutes=i),
                        "updated_at": NOW,
                    }
                    for i in range(10000)
                ],
            )
            await conn.execute(
                insert(deals),
                [
                    {
                        "account_id": 1 + i % 50,
                        "position_id": i,
                        "symbol": "BTC/USDT",
                        "side": "buy",
                        "qty": money,
                        "price": money,
                        "entry": "in",
                        "strategy_id": i % 4,
                        "exchange_trade_id": f"t{i}",
                        "executed_at": NOW - timedelta(minutes=i),
                        "created_at": NOW,
                    }
                    for i in range(20000)
                ],
            )
    finally:
        await store.close()


def explain(db: str, query: Select[Any]) -> list[dict[str, Any]]:
    sql = str(query.compile(dialect=mysql.dialect(), compile_kwargs={"literal_binds": True}))
    with _connect(db) as conn, conn.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute("EXPLAIN " + sql)
        return list(cur.fetchall())


ONE = Scope({3: None})
TEN = Scope(dict.fromkeys(range(1, 11)))
RESTRICTED = Scope({3: frozenset({1, 2}), 4: None})
DAY = (NOW - timedelta(days=1), NOW + timedelta(days=1))

CASES = {
    "orders open, one account": open_query(orders, ONE, Filters(), 100),
    "orders open, ten accounts, symbol": open_query(orders, TEN, Filters(symbol="BTC/USDT"), 100),
    "orders open, restricted key": open_query(orders, RESTRICTED, Filters(), 100),
    "positions open, ten accounts": open_query(positions, TEN, Filters(), 500),
    "orders history page": page_queries(
        orders, ONE, Filters(start=DAY[0], end=DAY[1]), orders.c.created_at, 2, 100
    )[1],
    "orders history count": page_queries(orders, ONE, Filters(), orders.c.created_at, 1, 100)[0],
    "deals page": page_queries(
        deals, ONE, Filters(start=DAY[0], end=DAY[1]), deals.c.executed_at, 1, 100
    )[1],
    "deals by position": page_queries(
        deals, ONE, Filters(position_id=7), deals.c.executed_at, 1, 100
    )[1],
    "positions history": page_queries(positions, TEN, Filters(), positions.c.opened_at, 1, 100)[1],
}


@pytest.mark.parametrize("case", list(CASES))
def test_read_query_uses_an_index(big_db: str, case: str) -> None:
    plan = explain(big_db, CASES[case])
    for step in plan:
        assert step["type"] != "ALL", (case, plan)
        assert step["key"] is not None, (case, plan)
