"""How a dialect names the engine's position modes and position sides (pure), so each served
exchange maps them with one small table instead of its own branches.

The contract a dialect fills in (`PositionModeNames`):

* `one_way` / `hedge`: the raw value of its mode switch (Binance `dualSidePosition`
  "false" / "true", Bybit `mode` "0" / "3", OKX `posMode` "net_mode" / "long_short_mode");
* `both` / `long` / `short`: the raw position side of an order or a position (Binance
  `positionSide` BOTH / LONG / SHORT, Bybit `positionIdx` 0 / 1 / 2, OKX `posSide`
  net / long / short); `absent` is what an order without the parameter means (BOTH on each).

`order_side` turns an order's raw side into the engine's (`both` / `long` / `short`) and refuses
one the account's mode does not take with the dialect's own error; `raw_side` and `raw_mode`
go the other way for answers and streams. The engine decides everything else (reduce-only
closing, the refusal to switch while positions or orders exist: `domain/position_mode.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

from apps.paper.domain.state import BOTH, HEDGE, LONG, ONE_WAY, SHORT
from apps.paper.wire.signing import WireError


@dataclass(frozen=True, slots=True)
class PositionModeNames:
    """One dialect's raw names of the position modes and sides (compared case-insensitively)."""

    one_way: str
    hedge: str
    both: str
    long: str
    short: str

    def mode_of(self, raw: object) -> str | None:
        """The engine mode (`oneway` / `hedge`) a raw switch value names; None for another."""
        text = str(raw).lower()
        return {self.one_way.lower(): ONE_WAY, self.hedge.lower(): HEDGE}.get(text)

    def raw_mode(self, mode: str) -> str:
        return self.hedge if mode == HEDGE else self.one_way

    def side_of(self, raw: object) -> str | None:
        """The engine position side a raw value names (None, absent, is `both`)."""
        if raw is None or raw == "":
            return BOTH
        names = {self.both.lower(): BOTH, self.long.lower(): LONG, self.short.lower(): SHORT}
        return names.get(str(raw).lower())

    def raw_side(self, position_side: str) -> str:
        return {BOTH: self.both, LONG: self.long, SHORT: self.short}[position_side]

    def order_side(self, raw: object, hedged: bool, mismatch: WireError) -> str:
        """An order's position side for the engine: `long` / `short` in hedge mode, `both` in
        one-way mode; `mismatch` (the dialect's error) for anything else."""
        side = self.side_of(raw)
        if side is None or (side == BOTH) == hedged:
            raise mismatch
        return side
