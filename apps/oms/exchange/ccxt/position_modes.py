"""The exchange's position mode as a gateway account needs it (pure): which venue mode each
gateway mode runs on, the exchange's own order parameters for a hedge account's position side,
and the refusal to run an account whose venue account is in the other mode.

A **hedge** gateway account (a long and a short position of a symbol at once in its books)
needs the venue account in hedge mode: each order names the venue position side it opens or
closes, the side of the gateway position it books to (`ports.GATEWAY_POSITION_SIDE`, set by
the worker); a **netting** or **strategy_netting** account needs one-way mode and sends no
position side (the venue nets, as the books do per account or strategy).

Exchanges without position modes (spot, or no table entry here) take nothing and are not
checked. OKX takes `posSide` long / short (with `reduceOnly`: it closes by `posSide` alone, and
takes the flag); its mode is the account config's `posMode` (`long_short_mode` is hedge).
"""

from __future__ import annotations

from dataclasses import dataclass

from apps.oms.domain.enums import PositionMode
from apps.oms.ports import GATEWAY_POSITION_SIDE, Params


@dataclass(frozen=True, slots=True)
class SideParam:
    """How an exchange's orders name the hedge-mode position side, and its modes' names."""

    name: str  # the order parameter
    long: str | int
    short: str | int
    hedge_mode: str  # what the exchange calls its hedge mode, for messages
    one_way_mode: str
    switch: str  # how to switch it
    reduce_only_in_hedge: bool = True  # whether it takes `reduceOnly` with a position side


_BINANCE = SideParam(
    "positionSide", "LONG", "SHORT", "hedge mode (dualSidePosition true)",
    "one-way mode (dualSidePosition false)",
    "POST /fapi/v1/positionSide/dual, CCXT set_position_mode(hedged)",
    reduce_only_in_hedge=False)  # fmt: skip
#: by CCXT exchange id (`exchange.id`: `ccxtpro.<id>` classes share it)
SIDE_PARAMS: dict[str, SideParam] = {
    "binance": _BINANCE,
    "binanceusdm": _BINANCE,
    "binancecoinm": _BINANCE,
    "bybit": SideParam("positionIdx", 1, 2, "hedge mode (both sides, switch-mode 3)",
                       "one-way mode (merged single, switch-mode 0)",
                       "POST /v5/position/switch-mode, CCXT set_position_mode(hedged)"),
    "okx": SideParam("posSide", "long", "short", "long/short mode (long_short_mode)",
                     "net mode (net_mode)",
                     "POST /api/v5/account/set-position-mode, CCXT set_position_mode(hedged)"),
}  # fmt: skip


def wants_hedge(mode: PositionMode) -> bool:
    """The venue mode a gateway account runs on: hedge for hedge books, one-way otherwise."""
    return mode is PositionMode.HEDGE


def order_params(exchange_id: str, params: Params, contract: bool = True) -> Params:
    """The params CCXT gets for an order: the gateway's position side hint (hedge accounts)
    becomes the exchange's own parameter on a contract market (Binance `positionSide` LONG /
    SHORT, Bybit `positionIdx` 1 / 2, OKX `posSide`), without `reduceOnly` where the exchange
    refuses it with a position side (Binance -1106); on spot, or without a table entry, the
    hint is dropped. Params without the hint are returned as they are."""
    if GATEWAY_POSITION_SIDE not in params:
        return params
    out = dict(params)
    side = out.pop(GATEWAY_POSITION_SIDE)
    entry = SIDE_PARAMS.get(exchange_id)
    if entry is None or not contract or side not in ("long", "short"):
        return out
    out[entry.name] = entry.long if side == "long" else entry.short
    if not entry.reduce_only_in_hedge:
        out.pop("reduceOnly", None)
    return out


def mode_mismatch(account_id: int, exchange_id: str, mode: PositionMode,
                  venue_hedged: bool) -> str | None:  # fmt: skip
    """Why an account may not run on a venue account in the other position mode (None when
    they match): both modes named, and the two ways out. `exchange_id` is the account's
    (`ccxt.<id>` / `ccxtpro.<id>`, or CCXT's own id)."""
    hedge = wants_hedge(mode)
    if hedge == venue_hedged:
        return None
    entry = SIDE_PARAMS.get(exchange_id.rsplit(".", 1)[-1])
    venue_mode = ((entry.hedge_mode if venue_hedged else entry.one_way_mode) if entry
                  else ("hedge mode" if venue_hedged else "one-way mode"))  # fmt: skip
    wanted = ((entry.hedge_mode if hedge else entry.one_way_mode) if entry
              else ("hedge mode" if hedge else "one-way mode"))  # fmt: skip
    switch = f" ({entry.switch})" if entry else ""
    other = "netting" if hedge else "hedge"
    return (f"account {account_id} ({exchange_id}) has position_mode {mode.value} but its venue "
            f"account is in {venue_mode}: switch the venue account to {wanted}{switch} while "
            f"it has no positions or open orders, or use an account with position_mode "
            f"{other}; refusing to run it")
