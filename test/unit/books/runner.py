"""Random command sequences applied to the engine (through `Sim`) and to the reference model."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal

from apps.oms.domain.book import Instrument
from apps.oms.domain.enums import PositionMode
from books.invariants import check_all
from books.reference import RefBook, RefPosition
from books.support import Sim

SIDES = {1: "buy", -1: "sell"}


@dataclass
class Run:
    rng: random.Random
    sim: Sim
    ref: RefBook
    external_orders: dict[int, tuple[int, int]] = field(default_factory=dict)
    last: Decimal = Decimal(100)

    def qty(self) -> Decimal:
        return Decimal(self.rng.randint(1, 40)) / 10

    def price(self) -> Decimal:
        self.last = Decimal(self.rng.randint(9000, 11000)) / 100
        return self.last

    def fee(self) -> Decimal:
        return Decimal(self.rng.choice([0, 0, 1, 7, 25])) / 100

    def target(self) -> int:
        """hedge: often a new position, else any known position (open, closed, either side);
        netting modes: mostly 0, sometimes an external or managed position id."""
        known = list(self.ref.positions)
        if not known or self.rng.random() < 0.4:
            return 0
        return self.rng.choice(known)

    def order_fill(self) -> None:
        sign, qty, price, fee = self.rng.choice((1, -1)), self.qty(), self.price(), self.fee()
        strategy, target = self.rng.choice((0, 1, 2)), self.target()
        self.sim.fill(SIDES[sign], qty, price, strategy=strategy, position_id=target, fee=fee)
        self.ref.fill(f"t{self.sim.trade_no}", strategy, sign, qty, price, fee, target)

    def external_fill(self) -> None:
        if self.external_orders and self.rng.random() < 0.5:
            order_id = self.rng.choice(list(self.external_orders))
            sign, target = self.external_orders[order_id]
        else:
            order_id, sign, target = 1000 + len(self.external_orders), self.rng.choice((1, -1)), 0
        qty, price = self.qty(), self.price()
        result = self.sim.fill(SIDES[sign], qty, price, external=True, order_id=order_id,
                               position_id=target)
        self.external_orders[order_id] = (sign, result.order_position_id or 0)
        self.ref.fill(f"t{self.sim.trade_no}", 0, sign, qty, price, Decimal(0), target, True)

    def pair(self, same_side: bool) -> tuple[RefPosition, RefPosition] | None:
        open_ = self.ref.open_positions()
        pairs = [(a, b) for a in open_ for b in open_
                 if a.pid != b.pid and (a.sign == b.sign) == same_side]
        return self.rng.choice(pairs) if pairs else None

    def close_by(self) -> None:
        pair = self.pair(same_side=False)
        if pair is not None:
            a, b = pair
            qty = min(a.qty, b.qty) * self.rng.randint(1, 4) / 4
            self.sim.close_by(a.pid, b.pid, qty)
            self.ref.close_by(a.pid, b.pid, qty)

    def merge(self) -> None:
        pair = self.pair(same_side=True)
        if pair is not None:
            self.sim.merge(pair[0].pid, pair[1].pid)
            self.ref.merge(pair[0].pid, pair[1].pid)

    def duplicate(self) -> None:
        if self.sim.fills:
            fill, order = self.rng.choice(self.sim.fills)
            before = self.sim.book
            result = self.sim.book_fill(fill, order)
            assert result.duplicate
            assert not result.deals
            assert self.sim.book == before

    def step(self) -> None:
        roll = self.rng.random()
        action = (self.order_fill if roll < 0.55 else self.external_fill if roll < 0.65
                  else self.close_by if roll < 0.78 else self.merge if roll < 0.85
                  else self.duplicate)
        action()


def compare(sim: Sim, ref: RefBook) -> None:
    engine = {pid: (p.side.sign, p.qty, p.avg_price, p.realized_pnl, p.fee, p.state.value,
                    p.strategy_id, str(p.reason)) for pid, p in sim.book.positions.items()}
    model = {pid: (p.sign, p.qty, p.avg, p.realized, p.fee, p.state, p.strategy, p.reason)
             for pid, p in ref.positions.items()}
    assert engine == model
    deals = [(d.position_id, d.side.sign, d.qty, d.price, d.pnl, d.entry.value, d.leg, d.fee,
              d.strategy_id) for d in sim.deals]
    assert deals == ref.deals


def run_sequence(
    mode: PositionMode, seed: int, steps: int = 25, every_step: bool = False
) -> Sim:
    """Apply `steps` random commands to engine and model; compare them (after each step when
    `every_step`, else at the end) and check the invariants (every 10 steps, and at the end)."""
    rng = random.Random(seed)
    cs = rng.choice((Decimal(1), Decimal("0.01"), Decimal(25)))
    sim = Sim(mode, Instrument("BTC/USDT:USDT", cs, spot=False))
    run = Run(rng, sim, RefBook(mode.value, cs))
    for n in range(1, steps + 1):
        run.step()
        if every_step:
            compare(sim, run.ref)
            if n % 10 == 0:
                check_all(sim, run.last)
    compare(sim, run.ref)
    check_all(sim, run.last)
    return sim
