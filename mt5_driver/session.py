"""The connection `initialize()` opens: gateway, account, markets and symbol names, magic
numbers (strategies) and position tickets. One per process, like the terminal it stands for.

Where `initialize()` finds the gateway when an argument is left out: `server` (the gateway's
URL) → `MT5_OMS_SERVER` → `http://127.0.0.1:8000`; `password` (an API key) and `login` (an
account id) → `MT5_OMS_PASSWORD` / `MT5_OMS_LOGIN` → the trader key and paper account that
`make run` wrote to `data/demo-keys.json` (`MT5_OMS_DEMO_KEYS`) → for `login`, the only
account the key may trade. `MT5_OMS_SYMBOLS` renames markets (`USDJPY=BTC/USDT:USDT,...`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from mt5_driver import constants as c
from mt5_driver.errors import Failure
from mt5_driver.wire import Gateway

DEFAULT_SERVER = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class Market:
    """One gateway market under its MetaTrader name."""

    name: str
    symbol: str
    raw: dict[str, Any]

    def dec(self, *path: str) -> Decimal | None:
        node: Any = self.raw
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        return None if node is None else Decimal(str(node))

    @property
    def tick(self) -> Decimal:
        return self.dec("precision", "price") or Decimal("0.00000001")

    @property
    def step(self) -> Decimal:
        return self.dec("precision", "amount") or Decimal("0.00000001")

    @property
    def contract_size(self) -> Decimal:
        return self.dec("contractSize") or Decimal(1)

    @property
    def spot(self) -> bool:
        return bool(self.raw.get("spot"))


def parse_aliases(text: str) -> dict[str, str]:
    """`NAME=SYMBOL,...` → {NAME: SYMBOL}; ValueError on a malformed or repeated entry."""
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, symbol = part.partition("=")
        if not sep or not name.strip() or not symbol.strip():
            raise ValueError(f"MT5_OMS_SYMBOLS entry {part!r} is not NAME=SYMBOL")
        if name.strip() in out or symbol.strip() in out.values():
            raise ValueError(f"MT5_OMS_SYMBOLS names {part!r} twice")
        out[name.strip()] = symbol.strip()
    return out


def _demo_keys() -> dict[str, Any]:
    path = Path(os.environ.get("MT5_OMS_DEMO_KEYS", "data/demo-keys.json"))
    try:
        found: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return found


def resolve(login: int | None, password: str | None, server: str | None
            ) -> tuple[int | None, str, str]:  # fmt: skip
    """(account id or None, API key, base URL) from the arguments, environment and demo keys."""
    demo = _demo_keys() if not (password or os.environ.get("MT5_OMS_PASSWORD")) else {}
    key = password or os.environ.get("MT5_OMS_PASSWORD") or demo.get("api_key", {}).get("plain")
    if not key:
        raise Failure(c.RES_E_AUTH_FAILED, "no gateway key: pass password=, set "
                      "MT5_OMS_PASSWORD, or run `make run` (data/demo-keys.json)")  # fmt: skip
    account = login or os.environ.get("MT5_OMS_LOGIN") or demo.get("account", {}).get("id")
    url = server or os.environ.get("MT5_OMS_SERVER") or DEFAULT_SERVER
    return (int(account) if account else None), str(key), url


@dataclass
class Session:
    """Everything a connected terminal knows; built by `connect`."""

    gateway: Gateway
    account: dict[str, Any]
    markets: dict[str, Market]  # by MetaTrader name
    by_symbol: dict[str, Market]  # by gateway symbol
    hidden: set[str] = field(default_factory=set)
    books: set[str] = field(default_factory=set)
    strategies: list[dict[str, Any]] = field(default_factory=list)
    tickets: dict[int, int] = field(default_factory=dict)  # gateway position id -> ticket
    served: dict[str, int] = field(default_factory=dict)  # venue timeframe -> seconds

    @property
    def login(self) -> int:
        return int(self.account["id"])

    @property
    def mode(self) -> str:
        return str(self.account["position_mode"])

    @property
    def hedging(self) -> bool:
        return self.mode == "hedge"

    def market(self, name: str) -> Market:
        found = self.markets.get(name)
        if found is None:
            raise Failure(c.RES_E_NOT_FOUND, f"symbol {name!r} is not a market of account "
                          f"{self.login}")  # fmt: skip
        return found

    def name_of(self, symbol: str) -> str:
        found = self.by_symbol.get(symbol)
        return found.name if found else symbol


def _pick_account(gateway: Gateway, login: int | None) -> dict[str, Any]:
    accounts = gateway.get("/oms/accounts")["items"]
    if login is not None:
        for account in accounts:
            if int(account["id"]) == login:
                return dict(account)
        raise Failure(c.RES_E_AUTH_FAILED, f"the key may not use account {login}")
    tradable = [a for a in accounts if a["permissions"].get("can_trade")] or accounts
    if len(tradable) != 1:
        ids = ", ".join(str(a["id"]) for a in tradable) or "none"
        raise Failure(c.RES_E_INVALID_PARAMS, f"the key sees accounts {ids}: pass login=")
    return dict(tradable[0])


def connect(login: int | None, password: str | None, server: str | None,
            timeout_ms: int) -> Session:  # fmt: skip
    account_id, key, url = resolve(login, password, server)
    try:
        gateway = Gateway(url, key, max(timeout_ms, 1000) / 1000)
    except ValueError as exc:
        raise Failure(c.RES_E_INVALID_PARAMS, str(exc)) from exc
    account = _pick_account(gateway, account_id)
    aliases = parse_aliases(os.environ.get("MT5_OMS_SYMBOLS", ""))
    renamed = {symbol: name for name, symbol in aliases.items()}
    raw = gateway.post(f"/ccxt/{account['id']}/fetch_markets", {})["result"]
    markets = [Market(renamed.get(m["symbol"], m["symbol"]), m["symbol"], m) for m in raw]
    return Session(gateway=gateway, account=account,
                   markets={m.name: m for m in markets},
                   by_symbol={m.symbol: m for m in markets})  # fmt: skip
