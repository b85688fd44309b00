"""The paper venue adapter: the pure matching core behind CCXT's unified interface, persisted
in the store. See docs/paper-venue.md."""
