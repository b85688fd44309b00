"""The account and the terminal as MetaTrader describes them, the margin and profit
calculators, and `order_check`'s answer. Money in the account currency (the quote the wallet
holds, USDT on the paper venue)."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Any

from mt5_driver import constants as c
from mt5_driver import ledger
from mt5_driver.convert import dec
from mt5_driver.errors import RETCODE_TEXT, Failure
from mt5_driver.session import Market, Session
from mt5_driver.structures import AccountInfo, OrderCheckResult, TerminalInfo, TradeRequest

BUILD = 5735  # the MetaTrader 5 build whose Python API this module follows
MAXBARS = 100_000
COMPANY = "ccxt-oms"


def _balances(s: Session) -> tuple[str, dict[str, Any]]:
    balance = s.gateway.post(f"/ccxt/{s.login}/fetch_balance", {})["result"]
    totals = balance.get("total") or {}
    currency = "USDT" if "USDT" in totals or not totals else sorted(totals)[0]
    return currency, balance


def leverage(s: Session, market: Market | None) -> Decimal:
    """The venue's leverage of a swap (1 for spot, and when the venue does not say)."""
    if market is None or market.spot:
        return Decimal(1)
    try:
        found = s.gateway.post(f"/ccxt/{s.login}/fetch_leverage", {"args": [market.symbol]})
    except Exception:  # a venue without leverage reads answers 1
        return Decimal(1)
    value = (found.get("result") or {}).get("longLeverage")
    return Decimal(str(value)) if value else Decimal(1)


def figures(s: Session) -> dict[str, Any]:
    """MetaTrader's money: balance = wallet + what spot positions cost (a position does not
    move the balance until it closes), profit = open positions' unrealised PnL, margin = the
    venue's used margin + spot positions' cost."""
    currency, balance = _balances(s)
    wallet = Decimal(str((balance.get("total") or {}).get(currency) or 0))
    used = Decimal(str((balance.get("used") or {}).get(currency) or 0))
    positions = ledger.open_positions(s)
    spot_cost = sum((Decimal(str(p["qty"])) * Decimal(str(p["avg_price"]))
                     * Decimal(str(p.get("contract_size") or 1))
                     for p in positions if ":" not in str(p["symbol"])), Decimal(0))  # fmt: skip
    profit = sum((Decimal(str(p.get("unrealized_pnl") or 0)) for p in positions), Decimal(0))
    total = wallet + spot_cost
    equity, margin = total + profit, used + spot_cost
    return {"currency": currency, "balance": total, "profit": profit, "equity": equity,
            "margin": margin, "margin_free": equity - margin,
            "margin_level": equity / margin * 100 if margin else Decimal(0)}  # fmt: skip


def account_info(s: Session) -> AccountInfo:
    money = figures(s)
    account = s.account
    allowed = bool(account["permissions"].get("can_trade")) and account.get("status") == "active"
    demo = account.get("environment") in ("paper", "testnet") or account.get("is_testnet")
    swaps = [m for m in s.markets.values() if not m.spot]
    return AccountInfo(
        login=s.login, trade_mode=c.ACCOUNT_TRADE_MODE_DEMO if demo else c.ACCOUNT_TRADE_MODE_REAL,
        leverage=int(leverage(s, swaps[0] if swaps else None)), limit_orders=0,
        margin_so_mode=c.ACCOUNT_STOPOUT_MODE_PERCENT, trade_allowed=allowed, trade_expert=allowed,
        margin_mode=c.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING if s.hedging
        else c.ACCOUNT_MARGIN_MODE_RETAIL_NETTING,
        currency_digits=2, fifo_close=False, balance=float(money["balance"]), credit=0.0,
        profit=float(money["profit"]), equity=float(money["equity"]),
        margin=float(money["margin"]), margin_free=float(money["margin_free"]),
        margin_level=float(money["margin_level"]), margin_so_call=0.0, margin_so_so=0.0,
        margin_initial=0.0, margin_maintenance=0.0, assets=0.0, liabilities=0.0,
        commission_blocked=0.0, name=str(account.get("label") or ""),
        server=s.gateway.base_url, currency=str(money["currency"]),
        company=f"{COMPANY} ({account.get('exchange_id')})",
    )  # fmt: skip


def terminal_info(s: Session) -> TerminalInfo:
    allowed = bool(s.account["permissions"].get("can_trade"))
    here = str(Path(__file__).resolve().parent)
    return TerminalInfo(
        community_account=False, community_connection=False, connected=True,
        dlls_allowed=False, trade_allowed=allowed, tradeapi_disabled=False, email_enabled=False,
        ftp_enabled=False, notifications_enabled=False, mqid=False, build=BUILD,
        maxbars=MAXBARS, codepage=0, ping_last=s.gateway.ping_us, community_balance=0.0,
        retransmission=0.0, company=COMPANY, name=f"{COMPANY} MetaTrader 5 API",
        language="English", path=here, data_path=os.getcwd(), commondata_path=os.getcwd(),
    )  # fmt: skip


def calc_margin(s: Session, market: Market, volume: float, price: float) -> float:
    """Spot pays the whole value; a swap its value over the venue's leverage of it."""
    value = dec(volume) * market.contract_size * dec(price)
    return float(value / leverage(s, market))


def calc_profit(market: Market, buy: bool, volume: float, price_open: float,
                price_close: float) -> float:  # fmt: skip
    move = dec(price_close) - dec(price_open)
    return float((move if buy else -move) * dec(volume) * market.contract_size)


def check(s: Session, req: TradeRequest, market: Market | None) -> OrderCheckResult:
    """The account after the request: margin grows by what an opening order needs; not
    enough free margin is `NO_MONEY`. Retcode 0 when it would be accepted."""
    money = figures(s)
    need = Decimal(0)
    if market is not None and req.action in (c.TRADE_ACTION_DEAL, c.TRADE_ACTION_PENDING) and (
            not req.position):
        at = req.price or float(_last(s, market))
        need = dec(calc_margin(s, market, req.volume, at))
    margin = money["margin"] + need
    free = money["equity"] - margin
    retcode, comment = (0, "Done") if free >= 0 else (
        c.TRADE_RETCODE_NO_MONEY, RETCODE_TEXT[c.TRADE_RETCODE_NO_MONEY])
    return OrderCheckResult(
        retcode=retcode, balance=float(money["balance"]), equity=float(money["equity"]),
        profit=float(money["profit"]), margin=float(margin), margin_free=float(free),
        margin_level=float(money["equity"] / margin * 100) if margin else 0.0, comment=comment,
        request=req)  # fmt: skip


def _last(s: Session, market: Market) -> Decimal:
    ticker = s.gateway.post(f"/ccxt/{s.login}/fetch_ticker", {"args": [market.symbol]})["result"]
    value = ticker.get("ask") or ticker.get("last")
    if value is None:
        raise Failure(c.RES_E_NOT_FOUND, f"no quote for {market.name}")
    return Decimal(str(value))
