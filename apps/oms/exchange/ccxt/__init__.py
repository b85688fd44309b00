"""CCXT gateway pieces: the function classification table, error mapping, exchange instances."""
