"""ccxt-oms applications: shared core (`apps.oms`) and the api, worker and cli entry points."""

__version__ = "0.1.0"
