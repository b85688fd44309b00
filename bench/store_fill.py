"""Background rows for store-size benchmarks and index checks: `fill(conn, rows)` adds about
`rows` rows over the hot tables (commands, orders, deals, positions, outbox, venue orders,
paper orders and fills) of 100 other accounts, generated inside MariaDB from its sequence
engine (`seq_1_to_N`), so that a million rows take seconds, not a client round trip each.
Nothing here belongs to the accounts a benchmark then trades on."""

# ruff: noqa: S608 - statements built from constants and integers only

from __future__ import annotations

from typing import Any

ACCOUNTS = 100
NOW = "'2026-11-01 00:00:00'"
SHARES = {  # fraction of `rows` per table
    "commands": 0.2, "orders": 0.2, "deals": 0.2, "outbox": 0.2,
    "positions": 0.1, "order_venue_orders": 0.05, "paper_orders": 0.025, "paper_fills": 0.025,
}  # fmt: skip


def statements(rows: int, first_account: int) -> list[str]:
    """The INSERT ... SELECT statements; accounts `first_account ..` must exist."""
    n = {t: max(1, int(rows * share)) for t, share in SHARES.items()}
    acct = f"({first_account} + seq % {ACCOUNTS})"
    return [
        f"INSERT INTO commands (account_id, command_type, content_hash, payload, status, "
        f"request_id, created_at, updated_at, finished_at) SELECT {acct}, 'send_order', "
        f"LPAD(HEX(seq), 64, '0'), '{{}}', 'completed', CONCAT('bg', seq), {NOW}, {NOW}, {NOW} "
        f"FROM seq_1_to_{n['commands']}",
        f"INSERT INTO orders (account_id, client_order_id, symbol, side, order_type, qty, "
        f"status, is_open, created_at, updated_at) SELECT {acct}, CONCAT('bg', seq), "
        f"'BTC/USDT:USDT', 'buy', 'market', 0.001, 'FILLED', 0, {NOW}, {NOW} "
        f"FROM seq_1_to_{n['orders']}",
        f"INSERT INTO positions (account_id, symbol, side, qty, avg_price, state, is_open, "
        f"opened_at, updated_at) SELECT {acct}, 'BTC/USDT:USDT', 'buy', 0, 50000, 'closed', 0, "
        f"{NOW}, {NOW} FROM seq_1_to_{n['positions']}",
        f"INSERT INTO deals (account_id, position_id, symbol, side, qty, price, entry, "
        f"exchange_trade_id, executed_at, created_at) SELECT {acct}, seq, 'BTC/USDT:USDT', "
        f"'buy', 0.001, 50000, 'in', CONCAT('bgT', seq), {NOW}, {NOW} "
        f"FROM seq_1_to_{n['deals']}",
        f"INSERT INTO outbox (account_id, namespace, event, payload, created_at, seq) "
        f"SELECT {acct}, 'position', 'deal_created', '{{}}', {NOW}, NULL "
        f"FROM seq_1_to_{n['outbox']}",
        f"INSERT INTO order_venue_orders (order_id, account_id, client_order_id, "
        f"exchange_order_id, created_at) SELECT seq, {acct}, CONCAT('bgv', seq), "
        f"CONCAT('bgx', seq), {NOW} FROM seq_1_to_{n['order_venue_orders']}",
        f"INSERT INTO paper_orders (account_id, order_id, seq, client_order_id, symbol, side, "
        f"type, time_in_force, post_only, reduce_only, qty, triggered, filled, cost, fee, "
        f"fee_currency, reserved, status, price_seq, created_at, updated_at) SELECT {acct}, "
        f"CONCAT('bgP', seq), seq, CONCAT('bgp', seq), 'BTC/USDT:USDT', 'buy', 'market', "
        f"'GTC', 0, 0, 0.001, 0, 0.001, 50, 0, 'USDT', 0, 'closed', 1, {NOW}, {NOW} "
        f"FROM seq_1_to_{n['paper_orders']}",
        f"INSERT INTO paper_fills (account_id, trade_id, seq, order_id, symbol, side, price, "
        f"qty, cost, fee, fee_currency, taker_or_maker, executed_at) SELECT {acct}, "
        f"CONCAT('bgT', seq), seq, CONCAT('bgP', seq), 'BTC/USDT:USDT', 'buy', 50000, 0.001, "
        f"50, 0, 'USDT', 'taker', {NOW} FROM seq_1_to_{n['paper_fills']}",
    ]


def fill(cur: Any, rows: int) -> None:
    """Add the background accounts and about `rows` rows (a pymysql cursor, autocommit)."""
    cur.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM accounts")
    first = int(cur.fetchone()[0])
    cur.execute(
        "INSERT INTO accounts (exchange_id, label, position_mode, created_at, updated_at) "
        f"SELECT 'paper', CONCAT('bg', seq), 'hedge', {NOW}, {NOW} FROM seq_1_to_{ACCOUNTS}"
    )
    for sql in statements(rows, first):
        cur.execute(sql)
    for table in SHARES:
        cur.execute(f"ANALYZE TABLE {table}")
        cur.fetchall()
