"""Compare paper venue fills with a naive "fill at last price" model on the replay sample.

    .venv/bin/python bench/paper_fill_compare.py            # prints a markdown table + JSON
    .venv/bin/python bench/paper_fill_compare.py --make-sample   # regenerates the sample CSV

The sample (apps/paper/exchange/data/btc_usdt_1m_sample.csv) is SYNTHETIC: 240 one-minute
BTC/USDT candles from a seeded random walk (no network here to record real data). The order flow
is deterministic: every 6th tick a market order (sizes cycle 0.05, 0.5, 2, 5 BTC, sides
alternate) and a resting limit 10 bps away from the price on the other side.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from apps.oms.domain.money import ZERO
from apps.paper.domain.book import BookConfig, make_quote
from apps.paper.domain.errors import PaperError
from apps.paper.domain.matching import Venue, apply_price, place_order
from apps.paper.domain.prices import draw, parse_replay, random_walk_step
from apps.paper.domain.state import OrderRequest, VenueAccount, new_account

D = Decimal
SAMPLE = Path(__file__).parent.parent / "apps/paper/exchange/data/btc_usdt_1m_sample.csv"
SYMBOL = "BTC/USDT"
SIZES = (D("0.05"), D("0.5"), D(2), D(5))
HONEST = BookConfig(
    spread_bps=D(2),
    levels=50,
    level_step_bps=D(1),
    level_volume=D("0.5"),
    resting_volume=D("0.25"),
)


def make_sample(path: Path, rows: int = 240, seed: int = 2026) -> None:
    """Seeded synthetic candles: close-to-close walk of ±15 bps, wicks up to 8 bps."""
    lines = ["timestamp,open,high,low,close,volume"]
    price, ts = D(50000), 1_793_491_200_000  # 2026-11-01T00:00:00Z
    for i in range(rows):
        close = random_walk_step(price, seed, SYMBOL, i, D(15), D("0.1"))
        up = D(draw(seed, "hi", i) % 800) / D(1_000_000)
        down = D(draw(seed, "lo", i) % 800) / D(1_000_000)
        high = (max(price, close) * (1 + up)).quantize(D("0.1"))
        low = (min(price, close) * (1 - down)).quantize(D("0.1"))
        volume = D(draw(seed, "v", i) % 4500 + 500) / 100
        lines.append(f"{ts + i * 60_000},{price},{high},{low},{close},{volume}")
        price = close
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@dataclass
class Tally:
    market_bps: dict[Decimal, list[Decimal]] = field(default_factory=dict)
    limit_qty: Decimal = ZERO
    limit_filled: Decimal = ZERO
    fees: Decimal = ZERO


def run(book: BookConfig | None) -> Tally:
    """Replay the sample with the paper core (`book`) or the naive model (`book=None`)."""
    venue = Venue(book=book or BookConfig())
    ticks = parse_replay(SAMPLE.read_text(encoding="utf-8"), SYMBOL)
    market = venue.markets.get(SYMBOL)
    state: VenueAccount = new_account(1, {"USDT": D(10_000_000), "BTC": D(1000)})
    tally, placed = Tally(), 0
    for seq, tick in enumerate(ticks, start=1):
        quote = make_quote(market, tick.price, venue.book, seq=seq, timestamp_ms=tick.timestamp_ms)
        state = _match(state, venue, quote, tally)
        if seq % 6:
            continue
        size, side = SIZES[placed % len(SIZES)], "buy" if placed % 2 == 0 else "sell"
        placed += 1
        try:
            out = place_order(
                state, OrderRequest(SYMBOL, side, "market", size), venue, quote, tick.timestamp_ms
            )
        except PaperError:
            continue
        state = out.state
        cost = sum((f.cost for f in out.fills), D(0))
        qty = sum((f.qty for f in out.fills), D(0))
        sign = 1 if side == "buy" else -1
        bps = (cost / qty / tick.price - 1) * 10000 * sign
        tally.market_bps.setdefault(size, []).append(bps)
        tally.fees += sum((f.fee for f in out.fills), D(0))
        state = _place_limit(state, venue, quote, side, tick.price, tally)
    return tally


def _place_limit(
    state: VenueAccount,
    venue: Venue,
    quote,
    side: str,  # type: ignore[no-untyped-def]
    price: Decimal,
    tally: Tally,
) -> VenueAccount:
    other = "sell" if side == "buy" else "buy"
    offset = price * D("0.001") * (1 if other == "sell" else -1)
    limit = (price + offset).quantize(D("0.1"))
    out = place_order(
        state, OrderRequest(SYMBOL, other, "limit", D(1), limit), venue, quote, quote.timestamp_ms
    )
    tally.limit_qty += 1
    tally.limit_filled += sum((f.qty for f in out.fills), D(0))
    return out.state


def _match(state: VenueAccount, venue: Venue, quote, tally: Tally) -> VenueAccount:  # type: ignore[no-untyped-def]
    out = apply_price(state, venue, quote, quote.timestamp_ms)
    tally.limit_filled += sum((f.qty for f in out.fills), D(0))
    tally.fees += sum((f.fee for f in out.fills), D(0))
    return out.state


def summary() -> dict[str, object]:
    paper, naive = run(HONEST), run(None)
    rows = []
    for size in SIZES:
        p, n = paper.market_bps.get(size, []), naive.market_bps.get(size, [])
        rows.append(
            {
                "market order (BTC)": str(size),
                "orders": len(p),
                "naive avg cost vs last (bps)": f"{sum(n) / len(n):.2f}" if n else "-",
                "paper avg cost vs last (bps)": f"{sum(p) / len(p):.2f}" if p else "-",
            }
        )
    return {
        "config": {
            "spread_bps": "2",
            "level_step_bps": "1",
            "level_volume": "0.5",
            "resting_volume_per_tick": "0.25",
        },
        "market_orders": rows,
        "limit_fill_ratio": {
            "naive": f"{naive.limit_filled / naive.limit_qty:.3f}",
            "paper": f"{paper.limit_filled / paper.limit_qty:.3f}",
        },
        "fees_usdt": {
            "naive": str(naive.fees.quantize(D("0.01"))),
            "paper": str(paper.fees.quantize(D("0.01"))),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--make-sample", action="store_true")
    args = parser.parse_args()
    if args.make_sample:
        make_sample(SAMPLE)
    result = summary()
    print("| market order (BTC) | orders | naive: avg cost vs last (bps) | paper (bps) |")
    print("|---|---|---|---|")
    for row in result["market_orders"]:  # type: ignore[attr-defined]
        print("| " + " | ".join(str(v) for v in row.values()) + " |")
    ratio, fees = result["limit_fill_ratio"], result["fees_usdt"]
    print(f"| resting 1 BTC limits, share filled | 40 | {ratio['naive']} | {ratio['paper']} |")  # type: ignore[index]
    print(f"| fees paid (USDT) | | {fees['naive']} | {fees['paper']} |")  # type: ignore[index]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
