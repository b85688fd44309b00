"""ccxt_driver: a drop-in CCXT exchange backed by the ccxt-oms gateway (its own product; imports
nothing from apps). `OmsCcxtExchange` is synchronous, `OmsCcxtProExchange` asyncio with
`watch_*`. Names are imported lazily so that `ccxt_driver.autopatch` (run at interpreter start
by its `.pth` hook) costs nothing until CCXT itself is imported."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ccxt_driver.errors import PositionCloseInProgress, PositionNotFound, RiskBlocked
    from ccxt_driver.exchange import OmsCcxtExchange
    from ccxt_driver.pro import OmsCcxtProExchange

_WHERE = {
    "OmsCcxtExchange": "ccxt_driver.exchange",
    "OmsCcxtProExchange": "ccxt_driver.pro",
    "PositionCloseInProgress": "ccxt_driver.errors",
    "PositionNotFound": "ccxt_driver.errors",
    "RiskBlocked": "ccxt_driver.errors",
}
__all__ = [
    "OmsCcxtExchange",
    "OmsCcxtProExchange",
    "PositionCloseInProgress",
    "PositionNotFound",
    "RiskBlocked",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'ccxt_driver' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
