"""Tables of the paper venue (SQLAlchemy Core, on the shared `metadata`).

One row per paper account (optimistic `version` serialises writers), its wallet balances,
venue-side positions, orders (open and history) and fills; one shared price row per symbol,
its recent path and its candles. Migrations `0002_paper_venue`, `0007_paper_market`,
`0010_paper_candles`, `0012_paper_margin_mode`, `0013_paper_last_funding`,
`0018_paper_position_modes` and `0027_paper_reserve_groups` create exactly these.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Column, ForeignKey, Index, Integer, String, Table

from apps.oms.store.tables import Id, metadata
from apps.oms.store.types import Money, UtcDateTime

paper_accounts = Table(
    "paper_accounts",
    metadata,
    Column("account_id", Id, ForeignKey("accounts.id"), primary_key=True),
    Column("version", BigInteger, nullable=False),
    Column("next_seq", BigInteger, nullable=False),
    Column("fault_seq", BigInteger, nullable=False),
    Column("leverage", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("leverages", JSON),  # {symbol: leverage} set by set_leverage, else `leverage`
    Column("margin_modes", JSON),  # {symbol: "cross" | "isolated"} set by set_margin_mode
    Column("last_funding", JSON),  # {"funding_ms", "marks": {symbol: mark}}: charged once
    Column("position_mode", String(16)),  # "oneway" (NULL) or "hedge", set by set_position_mode
)

paper_balances = Table(
    "paper_balances",
    metadata,
    Column("account_id", Id, ForeignKey("accounts.id"), primary_key=True),
    Column("currency", String(32), primary_key=True),
    Column("total", Money, nullable=False),
)

paper_positions = Table(
    "paper_positions",
    metadata,
    Column("account_id", Id, ForeignKey("accounts.id"), primary_key=True),
    Column("symbol", String(64), primary_key=True),
    # "both" (one-way mode), "long" or "short" (hedge mode: two rows per symbol)
    Column("position_side", String(8), primary_key=True, server_default="both"),
    Column("qty", Money, nullable=False),  # signed contracts
    Column("entry_price", Money, nullable=False),
    Column("realized_pnl", Money, nullable=False),
    Column("leverage", Integer, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

paper_orders = Table(
    "paper_orders",
    metadata,
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("order_id", String(64), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("client_order_id", String(64)),
    Column("symbol", String(64), nullable=False),
    Column("side", String(8), nullable=False),
    Column("type", String(16), nullable=False),
    Column("time_in_force", String(8), nullable=False),
    Column("post_only", Boolean, nullable=False),
    Column("reduce_only", Boolean, nullable=False),
    Column("qty", Money, nullable=False),
    Column("price", Money),
    Column("trigger_price", Money),
    Column("trigger_direction", String(8)),
    Column("triggered", Boolean, nullable=False),
    Column("filled", Money, nullable=False),
    Column("cost", Money, nullable=False),
    Column("fee", Money, nullable=False),
    Column("fee_currency", String(32), nullable=False),
    Column("reserved", Money, nullable=False),
    Column("reserve_currency", String(32)),
    Column("status", String(16), nullable=False),
    Column("reason", String(255)),
    Column("price_seq", BigInteger, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("last_trade_at", UtcDateTime),
    Column("fill_after", UtcDateTime),
    Column("position_side", String(8)),  # "long" / "short" in hedge mode; NULL is "both"
    # the orders of one group (an order list) share one reservation; NULL: the order alone
    Column("reserve_group", String(64)),
    Index(None, "account_id", "client_order_id", unique=True),
    Index(None, "account_id", "status", "seq"),
    Index(None, "account_id", "updated_at"),
)

paper_fills = Table(
    "paper_fills",
    metadata,
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("trade_id", String(64), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("order_id", String(64), nullable=False),
    Column("client_order_id", String(64)),
    Column("symbol", String(64), nullable=False),
    Column("side", String(8), nullable=False),
    Column("price", Money, nullable=False),
    Column("qty", Money, nullable=False),
    Column("cost", Money, nullable=False),
    Column("fee", Money, nullable=False),
    Column("fee_currency", String(32), nullable=False),
    Column("taker_or_maker", String(8), nullable=False),
    Column("executed_at", UtcDateTime, nullable=False),
    Column("position_side", String(8)),  # its order's: "long" / "short" in hedge mode, else NULL
    Index(None, "account_id", "seq"),
    Index(None, "account_id", "executed_at"),
    Index(None, "order_id"),
)

paper_prices = Table(
    "paper_prices",
    metadata,
    Column("symbol", String(64), primary_key=True),
    Column("last", Money, nullable=False),
    Column("bid", Money, nullable=False),
    Column("ask", Money, nullable=False),
    Column("seq", BigInteger, nullable=False),  # grows with every change of this symbol
    Column("source", String(64), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

paper_price_ticks = Table(
    "paper_price_ticks",
    metadata,
    Column("symbol", String(64), primary_key=True),
    Column("seq", BigInteger, primary_key=True),  # the `paper_prices.seq` this price had
    Column("last", Money, nullable=False),
    Column("bid", Money, nullable=False),
    Column("ask", Money, nullable=False),
    Column("at", UtcDateTime, nullable=False),
)

#: OHLCV of the shared market per symbol and timeframe, built from the stored prices (and a
#: seeded history before the first one; `synthetic`). Opening times are epoch ms, as in CCXT.
paper_candles = Table(
    "paper_candles",
    metadata,
    Column("symbol", String(64), primary_key=True),
    Column("timeframe", String(8), primary_key=True),
    Column("open_ms", BigInteger, primary_key=True, autoincrement=False),
    Column("open", Money, nullable=False),
    Column("high", Money, nullable=False),
    Column("low", Money, nullable=False),
    Column("close", Money, nullable=False),
    Column("volume", Money, nullable=False),
    Column("synthetic", Boolean, nullable=False),
)

#: One row (id 1): which process drives the price source (a lease, fenced by `lease_epoch`), the
#: source chosen through the API (null: the configured one) and what it is doing.
paper_price_feed = Table(
    "paper_price_feed",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("owner", String(128)),
    Column("lease_epoch", BigInteger, nullable=False),
    Column("expires_at", UtcDateTime),
    Column("source", String(512)),
    Column("speed", Money),
    Column("at_end", String(8)),
    Column("active_source", String(512)),
    Column("state", String(32), nullable=False),
    Column("message", String(512)),
    Column("position", BigInteger, nullable=False),
    Column("ticks", BigInteger, nullable=False),
    Column("last_update_at", UtcDateTime),
    Column("changed_at", UtcDateTime),
)
