"""The paper venue's own tables and transactions: accounts, orders, fills, prices, candles and
the shared price feed's lease (SQLAlchemy Core, MySQL and SQLite)."""
