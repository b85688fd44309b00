"""An independent, deliberately simple model of the books (signed quantities, dicts, no shared
code with the engine beyond the rounding rule of domain.md) used to cross-check the engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext

CTX = Context(prec=60, rounding=ROUND_HALF_EVEN)
Q = Decimal("1e-18")


def q(x: Decimal) -> Decimal:
    return x.quantize(Q, rounding=ROUND_HALF_EVEN, context=CTX)


@dataclass
class RefPosition:
    pid: int
    strategy: int
    sign: int
    qty: Decimal
    avg: Decimal
    reason: str
    realized: Decimal = Decimal(0)
    fee: Decimal = Decimal(0)
    state: str = "open"

    @property
    def is_open(self) -> bool:
        return self.state == "open"


@dataclass
class RefBook:
    """mode: 'hedge' | 'netting' | 'strategy_netting'; cs: contract size."""

    mode: str
    cs: Decimal
    positions: dict[int, RefPosition] = field(default_factory=dict)
    deals: list[tuple[object, ...]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    next_pid: int = 1

    def _new(self, strategy: int, sign: int, qty: Decimal, price: Decimal, reason: str,
             fee: Decimal, leg: int) -> None:
        pid = self.next_pid
        self.next_pid += 1
        self.positions[pid] = RefPosition(pid, strategy, sign, qty, q(price), reason, fee=fee)
        self.deals.append((pid, sign, qty, price, Decimal(0), "in", leg, fee, strategy))

    def _add(self, p: RefPosition, sign: int, qty: Decimal, price: Decimal, fee: Decimal,
             strategy: int, entry: str = "in") -> None:
        p.avg = q(CTX.divide(CTX.add(CTX.multiply(p.qty, p.avg), CTX.multiply(qty, price)),
                             CTX.add(p.qty, qty)))
        p.qty += qty
        p.fee += fee
        self.deals.append((p.pid, sign, qty, price, Decimal(0), entry, 0, fee, strategy))

    def _reduce(self, p: RefPosition, qty: Decimal, price: Decimal, fee: Decimal, strategy: int,
                entry: str = "out", closing_state: str = "closed") -> Decimal:
        pnl = q((price - p.avg) * qty * self.cs * p.sign)
        p.qty -= qty
        p.realized += pnl
        p.fee += fee
        if p.qty == 0:
            p.state = closing_state
        self.deals.append((p.pid, -p.sign, qty, price, pnl, entry, 0, fee, strategy))
        return pnl

    def _target(self, strategy: int, target: int, external: bool) -> tuple[RefPosition | None, bool]:
        chosen = self.positions.get(target)
        if external or self.mode == "hedge":
            return (chosen if chosen and chosen.is_open else None), False
        if chosen and chosen.is_open and chosen.reason == "external":
            return chosen, False
        for p in self.positions.values():
            if p.is_open and p.reason != "external" and (
                    self.mode == "netting" or p.strategy == strategy):
                return p, True
        return None, True

    def fill(self, tid: str, strategy: int, sign: int, qty: Decimal, price: Decimal,
             fee: Decimal, target: int = 0, external: bool = False) -> None:
        if tid in self.seen:
            return
        self.seen.add(tid)
        with localcontext(CTX):
            self._fill(strategy, sign, qty, price, fee, target, external)

    def _fill(self, strategy: int, sign: int, qty: Decimal, price: Decimal, fee: Decimal,
              target: int, external: bool) -> None:
        strategy = 0 if external else strategy
        p, netting = self._target(strategy, target, external)
        base_reason = "external" if external else "api"
        if p is None:
            old = self.positions.get(target)
            excess = not netting and old is not None and old.sign != sign
            reason = ("external" if external or old.reason == "external" else "overfill") \
                if excess and old is not None else base_reason
            self._new(0 if reason == "external" else strategy, sign, qty, price, reason, fee, 0)
        elif p.sign == sign:
            self._add(p, sign, qty, price, fee, strategy)
        elif qty <= p.qty:
            self._reduce(p, qty, price, fee, strategy)
        else:
            fee0 = q(fee * p.qty / qty)
            rest = qty - p.qty
            self._reduce(p, p.qty, price, fee0, strategy)
            reason = base_reason if netting else "external" if external or p.reason == "external" else "overfill"
            self._new(0 if reason == "external" else strategy, sign, rest, price, reason,
                      fee - fee0, 1)

    def close_by(self, a: int, b: int, qty: Decimal) -> None:
        pa, pb = self.positions[a], self.positions[b]
        with localcontext(CTX):
            self._reduce(pa, qty, pb.avg, Decimal(0), pa.strategy, "out_by")
            self._reduce(pb, qty, pb.avg, Decimal(0), pb.strategy, "out_by")

    def merge(self, source: int, target: int) -> None:
        ps, pt = self.positions[source], self.positions[target]
        qty, price = ps.qty, ps.avg
        with localcontext(CTX):
            self._reduce(ps, qty, price, Decimal(0), ps.strategy, "out", "merged")
            self._add(pt, pt.sign, qty, price, Decimal(0), pt.strategy)

    def open_positions(self) -> list[RefPosition]:
        return [p for p in self.positions.values() if p.is_open]
