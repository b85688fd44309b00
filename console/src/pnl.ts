// Live figures of open positions, computed exactly as the API's /oms/portfolio computes them
// (apps/oms/domain/positions.py): unrealised PnL = (mark − avg) × signed qty × contract size,
// notional = qty × mark × contract size, both rounded half-even to 18 places; the PnL % is
// unrealised / (avg × qty × contract size) × 100 to 2 places (a display ratio, not money).
import type { Row } from "./api";
import { add, fromUnits, product, ratio, subtract, sum, toUnits } from "./decimal";

export interface Figures {
  mark_price: string;
  unrealized_pnl: string;
  pnl_pct: string;
  notional: string;
}

function text(v: unknown, fallback = "0"): string {
  return v === null || v === undefined || v === "" ? fallback : String(v);
}

export function figures(position: Row, mark: string | undefined): Figures | null {
  if (mark === undefined) return null;
  const qty = text(position["qty"]);
  const cs = text(position["contract_size"], "1");
  const avg = text(position["avg_price"]);
  const signed = position["side"] === "sell" ? `-${qty}` : qty;
  const unrealized = product(subtract(mark, avg), signed, cs);
  return {
    mark_price: fromUnits(toUnits(mark)), // as the API writes it: no trailing zeros
    unrealized_pnl: unrealized,
    pnl_pct: ratio(product(unrealized, "100"), product(avg, qty, cs), 2),
    notional: product(qty, mark, cs),
  };
}

/** A spot symbol has no settle currency (`BTC/USDT`); derivatives do (`BTC/USDT:USDT`). */
export function isSpot(symbol: unknown): boolean {
  return !String(symbol ?? "").includes(":");
}

export interface AccountFigures {
  balance: string;
  unrealized_pnl: string;
  equity: string;
  priced: number; // open positions with a mark
}

/**
 * An account's live balance sheet: balance = its quote-currency balance (USDT on paper);
 * unrealised PnL = Σ over open positions; equity = balance + unrealised PnL of derivative
 * positions + market value (signed qty × mark × contract size) of spot positions, whose coins
 * were paid out of the balance.
 */
export function accountFigures(positions: Row[], marks: (p: Row) => string | undefined, balance: string): AccountFigures {
  const unrealized: string[] = [];
  const equity: string[] = [balance];
  let priced = 0;
  for (const p of positions) {
    const f = figures(p, marks(p));
    if (!f) continue;
    priced += 1;
    unrealized.push(f.unrealized_pnl);
    const signed = p["side"] === "sell" ? `-${f.notional}` : f.notional;
    equity.push(isSpot(p["symbol"]) ? signed : f.unrealized_pnl);
  }
  return { balance, unrealized_pnl: sum(unrealized), equity: equity.reduce(add, "0"), priced };
}
