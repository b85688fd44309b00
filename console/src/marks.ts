// Mark prices of the open positions, live: the ticker of every (account, symbol) with an open
// position is wanted from the market feed while it has one; its `last` is the mark, as
// /oms/portfolio's `mark_price` (the venue's last price). Seeded from /oms/portfolio for venues
// that push nothing yet. Changes reach listeners once per animation frame, by key.
import type { Api, Row } from "./api";
import type { Books, Change } from "./books";
import type { MarketFeed, MarketPush } from "./market";
import { metrics } from "./metrics";

export function markKey(accountId: unknown, symbol: unknown): string {
  return `${String(accountId)}|${String(symbol)}`;
}

export class LiveMarks {
  private marks = new Map<string, string>();
  private fromTicker = new Set<string>();
  private holders = new Map<string, Set<number>>(); // (account, symbol) → open position ids
  private releases = new Map<string, () => void>();
  private listeners = new Set<(keys: Set<string>) => void>();
  private dirty = new Set<string>();
  private firstArrival: number | null = null;
  private frame: number | null = null;

  constructor(private readonly books: Books, private readonly feed: MarketFeed, private readonly api: Api) {
    books.listen((changes) => this.follow(changes));
    feed.onData((p) => this.take(p));
  }

  mark(position: Row): string | undefined {
    return this.marks.get(markKey(position["account_id"], position["symbol"]));
  }

  /** Listeners get the (account, symbol) keys whose mark moved, once per frame. */
  onChange(fn: (keys: Set<string>) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Marks from /oms/portfolio where no ticker has given one yet. */
  async seed(accountIds: string): Promise<void> {
    if (!accountIds) return;
    const res = await this.api.get<{ items: Row[] }>("/oms/portfolio", { account_ids: accountIds });
    for (const item of res.items) {
      for (const p of (item["positions"] ?? []) as Row[]) {
        const k = markKey(p["account_id"], p["symbol"]);
        if (p["mark_price"] != null && !this.fromTicker.has(k)) this.set(k, String(p["mark_price"]), performance.now());
      }
    }
  }

  private follow(changes: Change[]): void {
    for (const c of changes) {
      if (c.kind === "reset") {
        this.rebuild();
        return;
      }
      if (c.kind !== "position") continue;
      const k = markKey(c.row["account_id"], c.row["symbol"]);
      const ids = this.holders.get(k) ?? new Set<number>();
      if (c.op === "upsert") ids.add(Number(c.row["id"]));
      else ids.delete(Number(c.row["id"]));
      this.holders.set(k, ids);
      this.hold(k, c.row);
    }
  }

  private rebuild(): void {
    for (const ids of this.holders.values()) ids.clear();
    const rows = new Map<string, Row>();
    for (const p of this.books.positions.values()) {
      const k = markKey(p["account_id"], p["symbol"]);
      const ids = this.holders.get(k) ?? new Set<number>();
      ids.add(Number(p["id"]));
      this.holders.set(k, ids);
      rows.set(k, p);
    }
    for (const k of [...this.holders.keys()]) this.hold(k, rows.get(k));
  }

  /** Wants the ticker while the key has open positions; releases it when none is left. */
  private hold(k: string, row: Row | undefined): void {
    const open = (this.holders.get(k)?.size ?? 0) > 0;
    if (open && !this.releases.has(k) && row) {
      this.releases.set(k, this.feed.want(Number(row["account_id"]), String(row["symbol"])));
    } else if (!open) {
      this.releases.get(k)?.();
      this.releases.delete(k);
      this.holders.delete(k);
    }
  }

  private take(p: MarketPush): void {
    if (p.channel !== "ticker") return;
    const last = (p.data as Row | null)?.["last"];
    if (last == null) return;
    const k = markKey(p.account_id, p.symbol);
    this.fromTicker.add(k);
    this.set(k, String(last), p.received_at);
  }

  private set(k: string, mark: string, arrivedAt: number): void {
    if (this.marks.get(k) === mark) return;
    this.marks.set(k, mark);
    this.dirty.add(k);
    this.firstArrival ??= arrivedAt;
    this.frame ??= requestAnimationFrame(() => this.flush());
  }

  private flush(): void {
    const keys = this.dirty;
    const arrived = this.firstArrival ?? performance.now();
    this.dirty = new Set();
    this.firstArrival = null;
    this.frame = null;
    const start = performance.now();
    for (const fn of this.listeners) fn(keys);
    metrics.marksApplied(keys.size, arrived, start, performance.now());
  }
}
