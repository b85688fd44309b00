"""OKX v5 private results as pure mappings from the engine's CCXT-shaped results: orders, fills,
positions (net mode: one per instrument, `pos` signed; long/short mode: one per `posSide`, `pos`
positive) and the trading account's balance, the same shapes the private websocket's `orders`,
`positions` and `account` channels push. OKX's fees are negative numbers (a charge),
sizes are contracts for SWAP and base coins for SPOT."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from apps.oms.domain.markets import Market
from apps.paper.domain.state import HEDGE, ONE_WAY
from apps.paper.wire.bybit_v5 import num
from apps.paper.wire.okx_v5 import POSITION_MODE, ZERO, Json, inst_id, inst_type


def pos_side(record: Mapping[str, Any], market: Market) -> str:
    """OKX's `posSide` of an engine order or fill (its `info`'s position side): net (one-way
    mode), long or short (hedge mode); "" for SPOT."""
    if not market.is_swap:
        return ""
    side = (record.get("info") or {}).get("position_side")
    return POSITION_MODE.raw_side(str(side or "both"))


def order_state(order: Mapping[str, Any]) -> str:
    status = order["status"]
    if status == "open":
        return "partially_filled" if order["filled"] > 0 else "live"
    if status == "closed":
        return "filled"
    return "canceled"


def order_type(order: Mapping[str, Any]) -> str:
    if order["type"] == "market":
        return "market"
    if order.get("postOnly"):
        return "post_only"
    tif = str(order.get("timeInForce") or "GTC").upper()
    return {"IOC": "ioc", "FOK": "fok"}.get(tif, "limit")


def _fee(entry: Mapping[str, Any]) -> tuple[str, str]:
    """OKX's (fee, feeCcy): the cost negated (a charge is negative)."""
    fee = entry.get("fee") or {}
    cost = fee.get("cost")
    return (num(-Decimal(cost)) if cost else "0"), str(fee.get("currency") or "")


def order_json(order: Mapping[str, Any], market: Market, td_mode: str = "cross",
               leverage: int | None = None) -> Json:  # fmt: skip
    """One order of /api/v5/trade/order, orders-pending, orders-history (and the `orders`
    channel without a fill)."""
    kind = order_type(order)
    fee, fee_ccy = _fee(order)
    swap = market.is_swap
    average = order.get("average")
    price = order["price"] if kind != "market" else None
    return {
        "instType": inst_type(market), "instId": inst_id(market),
        "tgtCcy": "" if swap else "base_ccy", "ccy": "", "ordId": str(order["id"]),
        "clOrdId": order.get("clientOrderId") or "", "tag": "", "px": num(price) if price else "",
        "pxUsd": "", "pxVol": "", "pxType": "", "sz": num(order["amount"]), "pnl": "0",
        "ordType": kind, "side": order["side"], "posSide": pos_side(order, market),
        "tdMode": td_mode if swap else "cash", "accFillSz": num(order["filled"]),
        "fillPx": "", "tradeId": "", "fillSz": "0", "fillTime": "",
        "avgPx": num(average) if average else "", "state": order_state(order), "stpId": "",
        "stpMode": "cancel_maker", "lever": str(leverage) if swap and leverage else "",
        "attachAlgoClOrdId": "", "tpTriggerPx": "", "tpTriggerPxType": "", "tpOrdPx": "",
        "slTriggerPx": "", "slTriggerPxType": "", "slOrdPx": "", "attachAlgoOrds": [],
        "linkedAlgoOrd": {"algoId": ""}, "feeCcy": fee_ccy, "fee": fee, "rebateCcy": fee_ccy,
        "rebate": "0", "source": "", "category": "normal",
        "reduceOnly": "true" if order.get("reduceOnly") else "false", "isTpLimit": "false",
        "cancelSource": "1" if order["status"] == "canceled" else "", "cancelSourceReason": "",
        "quickMgnType": "", "algoClOrdId": "", "algoId": "", "tradeQuoteCcy": "",
        "cTime": str(order["timestamp"]),
        "uTime": str(order.get("lastUpdateTimestamp") or order["timestamp"]),
    }  # fmt: skip


def order_fill_json(order_row: Json, trade: Mapping[str, Any]) -> Json:
    """The `orders` channel's push of one fill: the order row with the fill's fields (CCXT
    reads a trade from a push carrying a `tradeId`)."""
    fee, fee_ccy = _fee(trade)
    return {**order_row, "tradeId": str(trade["id"]), "fillPx": num(trade["price"]),
            "fillSz": num(trade["amount"]), "fillTime": str(trade["timestamp"]),
            "fillFee": fee, "fillFeeCcy": fee_ccy, "fillPnl": "0", "fillNotionalUsd": "",
            "fillMarkPx": "", "fillIdxPx": "", "fillPxUsd": "", "fillPxVol": "",
            "fillFwdPx": "", "fillMarkVol": "",
            "execType": "M" if trade.get("takerOrMaker") == "maker" else "T"}  # fmt: skip


def fill_json(trade: Mapping[str, Any], order: Mapping[str, Any], market: Market) -> Json:
    """One fill of /api/v5/trade/fills and fills-history."""
    fee, fee_ccy = _fee(trade)
    rate = (trade.get("fee") or {}).get("rate")
    return {
        "instType": inst_type(market), "instId": inst_id(market), "tradeId": str(trade["id"]),
        "ordId": str(trade["order"]), "clOrdId": order.get("clientOrderId") or "",
        "billId": str(trade["id"]), "subType": "1", "tag": "", "fillPx": num(trade["price"]),
        "fillSz": num(trade["amount"]), "fillIdxPx": "", "fillPnl": "0", "fillPxVol": "",
        "fillPxUsd": "", "fillMarkVol": "", "fillFwdPx": "", "fillMarkPx": "",
        "side": trade["side"], "posSide": pos_side(trade, market),
        "execType": "M" if trade.get("takerOrMaker") == "maker" else "T", "feeCcy": fee_ccy,
        "fee": fee, "feeRate": num(-Decimal(rate)) if rate else "", "tradeQuoteCcy": "",
        "ts": str(trade["timestamp"]), "fillTime": str(trade["timestamp"]),
    }  # fmt: skip


def position_json(p: Mapping[str, Any], market: Market, account_id: int, now_ms: int,
                  position_side: str = "both") -> Json:  # fmt: skip
    """One /api/v5/account/positions entry (and `positions` channel row), margins as the engine
    figures them: in net mode (`position_side` both) `posSide` net and `pos` signed (negative
    short); in long/short mode one per side, `posSide` long / short, `pos` positive and
    `availPos` what a close may take."""
    contracts = p.get("contracts") or ZERO
    hedged = position_side != "both"
    pos = -contracts if p.get("side") == "short" and not hedged else contracts
    mode = p.get("marginMode") or "cross"
    initial = p.get("initialMargin") or ZERO
    upl = p.get("unrealizedPnl") or ZERO
    mark = p.get("markPrice") or ZERO
    side_tag = {"long": "1", "short": "2"}.get(position_side, "")
    return {
        "adl": "1", "availPos": num(contracts) if mode == "isolated" or hedged else "",
        "avgPx": num(p.get("entryPrice")), "cTime": str(p.get("timestamp") or now_ms),
        "ccy": market.settle or market.quote, "deltaBS": "", "deltaPA": "", "gammaBS": "",
        "gammaPA": "", "imr": num(initial) if mode == "cross" else "", "instId": inst_id(market),
        "instType": "SWAP", "interest": "", "idxPx": num(mark), "last": num(mark), "usdPx": "",
        "bePx": num(p.get("entryPrice")), "lever": num(p.get("leverage")), "liab": "",
        "liabCcy": "", "liqPx": num(p["liquidationPrice"]) if p.get("liquidationPrice") else "", "markPx": num(mark),
        "margin": num(initial) if mode == "isolated" else "", "mgnMode": mode,
        "mgnRatio": num(p.get("marginRatio")), "mmr": num(p.get("maintenanceMargin")),
        "notionalUsd": num(p.get("notional")), "optVal": "", "pendingCloseOrdLiabVal": "",
        "pnl": num(p.get("realizedPnl")), "pos": num(pos), "posCcy": "",
        "posId": f"{account_id}{inst_id(market).replace('-', '')}{side_tag}",
        "posSide": POSITION_MODE.raw_side(position_side),
        "quoteBal": "", "baseBal": "", "spotInUseAmt": "", "spotInUseCcy": "", "thetaBS": "",
        "thetaPA": "", "tradeId": "", "bizRefId": "", "bizRefType": "",
        "uTime": str(p.get("lastUpdateTimestamp") or now_ms), "upl": num(upl),
        "uplLastPx": num(upl), "uplRatio": num(upl / initial if initial else ZERO),
        "uplRatioLastPx": num(upl / initial if initial else ZERO), "vegaBS": "", "vegaPA": "",
        "realizedPnl": num(p.get("realizedPnl")), "closeOrderAlgo": [], "fee": "0",
        "fundingFee": "0", "liqPenalty": "0", "nonSettleAvgPx": "", "settledPnl": "",
    }  # fmt: skip


def balance_json(balance: Mapping[str, Any], positions: Sequence[Json], now_ms: int) -> Json:
    """The trading account of /api/v5/account/balance (and the `account` channel): each coin's
    equity (`eq`, the USDT one with the positions' upl), `availEq`, `frozenBal`, `cashBal`."""
    upl = sum((Decimal(p["upl"]) for p in positions), ZERO)
    details = []
    for coin in sorted(balance["total"]):
        total, used, free = (balance[k].get(coin, ZERO) for k in ("total", "used", "free"))
        coin_upl = upl if coin == "USDT" else ZERO
        details.append({
            "ccy": coin, "eq": num(total + coin_upl), "cashBal": num(total),
            "uTime": str(now_ms), "isoEq": "0", "availEq": num(free), "disEq": num(total),
            "fixedBal": "0", "availBal": num(free), "frozenBal": num(used),
            "ordFrozen": num(used), "liab": "0", "upl": num(coin_upl), "uplLiab": "0",
            "crossLiab": "0", "isoLiab": "0", "mgnRatio": "", "interest": "0", "twap": "0",
            "maxLoan": "", "eqUsd": num(total + coin_upl) if coin == "USDT" else "0",
            "borrowFroz": "", "notionalLever": "", "stgyEq": "0", "isoUpl": "0",
            "spotInUseAmt": "", "clSpotInUseAmt": "", "maxSpotInUse": "", "spotIsoBal": "0",
            "imr": "", "mmr": "", "smtSyncEq": "0", "spotCopyTradingEq": "0", "spotBal": "",
            "openAvgPx": "", "accAvgPx": "", "spotUpl": "", "spotUplRatio": "", "totalPnl": "",
            "totalPnlRatio": "", "colRes": "0", "colBorrAutoConversion": "0",
            "collateralEnabled": False, "autoLendStatus": "off", "autoLendMtAmt": "0",
            "frpType": "0", "rewardBal": "0",
        })  # fmt: skip
    usdt = balance["total"].get("USDT", ZERO)
    return {"adjEq": "", "availEq": "", "borrowFroz": "", "imr": "", "isoEq": "0",
            "mgnRatio": "", "mmr": "", "notionalUsd": "", "notionalUsdForBorrow": "",
            "notionalUsdForFutures": "", "notionalUsdForOption": "", "notionalUsdForSwap": "",
            "ordFroz": "", "totalEq": num(usdt + upl), "uTime": str(now_ms), "upl": num(upl),
            "details": details}  # fmt: skip


def config_json(account_id: int, hedged: bool = False) -> Json:
    """/api/v5/account/config: a single-currency margin account (`acctLv` 2), `posMode` its
    position mode (net_mode, or long_short_mode when `hedged`)."""
    uid = str(account_id)
    return {"acctLv": "2", "acctStpMode": "cancel_maker", "autoLoan": False,
            "ctIsoMode": "automatic", "enableSpotBorrow": False, "greeksType": "PA",
            "feeType": "0", "ip": "", "type": "0", "kycLv": "0", "label": "paper",
            "level": "Lv1", "levelTmp": "", "liquidationGear": "-1", "mainUid": uid,
            "mgnIsoMode": "automatic", "opAuth": "1", "perm": "read_only,trade",
            "posMode": POSITION_MODE.raw_mode(HEDGE if hedged else ONE_WAY), "roleType": "0",
            "spotBorrowAutoRepay": False,
            "spotOffsetType": "", "spotRoleType": "0", "spotTraderInsts": [],
            "traderInsts": [], "uid": uid, "settleCcy": "USDT",
            "settleCcyList": ["USD", "USDC", "USDT"]}  # fmt: skip


def leverage_json(market: Market, leverage: int, mode: str, position_side: str = "both") -> Json:
    """One /api/v5/account/leverage-info (and set-leverage) entry: `posSide` net, or long /
    short for an isolated instrument in long/short mode (one row per side, one leverage)."""
    return {"instId": inst_id(market), "mgnMode": mode,
            "posSide": POSITION_MODE.raw_side(position_side), "lever": str(leverage),
            "ccy": ""}  # fmt: skip
