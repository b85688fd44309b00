"""ccxt-oms core: domain (pure), service (use cases, ports), store and exchange adapters."""
