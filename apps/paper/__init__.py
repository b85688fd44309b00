"""The paper venue: a deterministic simulated exchange, a neighbour of the CCXT exchanges.

Its own floors (`domain` pure, `store` its own tables and transactions, `exchange` the CCXT-shaped
adapter, `service` operating its shared market). It may import the gateway's domain, ports and
store plumbing; the gateway's books, services and store never import it: only the places that
wire venues do (`test/unit/foundation/test_import_rules.py`). See docs/architecture.md.
"""
