"""Price sources of the core: seeded random walk and CSV replay; fault decisions."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from apps.paper.domain.faults import NONE, REJECT, TIMEOUT, FaultConfig, decide
from apps.paper.domain.prices import Tick, parse_replay, random_walk_step

D = Decimal
SAMPLE = Path(__file__).parents[3] / "apps/paper/exchange/data/btc_usdt_1m_sample.csv"


def walk(seed: int, steps: int = 50) -> list[Decimal]:
    price, path = D(50000), []
    for step in range(steps):
        price = random_walk_step(price, seed, "BTC/USDT", step, D(10), D("0.1"))
        path.append(price)
    return path


def test_random_walk_is_deterministic_and_bounded() -> None:
    assert walk(1) == walk(1)
    assert walk(1) != walk(2)
    previous = D(50000)
    for price in walk(3):
        assert abs(price - previous) <= previous * D(10) / 10000 + D("0.1")
        assert price % D("0.1") == 0
        previous = price


def test_replay_candles_and_trades() -> None:
    candles = "timestamp,open,high,low,close,volume\n1000,10,12,9,11,5\n2000,11,11.5,10,10.5,1\n"
    assert [t.price for t in parse_replay(candles, "BTC/USDT")] == [
        D(10), D(9), D(12), D(11), D(11), D("11.5"), D(10), D("10.5")
    ]
    trades = "timestamp,symbol,price,amount\n5,ETH/USDT,3000.5,1\n6,ETH/USDT,3001,2\n"
    assert parse_replay(trades, "BTC/USDT") == [
        Tick(5, "ETH/USDT", D("3000.5")), Tick(6, "ETH/USDT", D(3001))
    ]
    assert parse_replay("", "BTC/USDT") == []


def test_shipped_sample_parses() -> None:
    ticks = parse_replay(SAMPLE.read_text(encoding="utf-8"), "BTC/USDT")
    assert len(ticks) == 240 * 4
    assert all(t.price > 0 for t in ticks)


def test_fault_decisions_are_seeded_and_follow_rates() -> None:
    config = FaultConfig(reject_rate=D("0.2"), timeout_rate=D("0.1"), seed=42)
    first = [decide(config, 7, n) for n in range(2000)]
    assert first == [decide(config, 7, n) for n in range(2000)]
    assert 300 < first.count(REJECT) < 500
    assert 130 < first.count(TIMEOUT) < 270
    assert decide(FaultConfig(), 7, 1) == NONE
