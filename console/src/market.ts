// Market data over the session's websocket (`subscribe_market`): one server subscription per
// (account, symbol, channel), shared by every part of the page that wants it (counted here, so
// one screen leaving does not end another's feed), renewed on every new socket. The last
// ticker of each (account, symbol) is kept: bid, ask, last as the API's exact strings.
import type { Row } from "./api";
import type { LiveStream } from "./live";

export interface MarketPush {
  account_id: number;
  symbol: string;
  channel: string;
  data: unknown;
  ts_ms: number;
  received_at: number; // performance.now() when the message arrived
}

interface Wanted {
  count: number;
  payload: Row;
}

function key(accountId: number, symbol: string, channel: string): string {
  return `${accountId}|${symbol}|${channel}`;
}

export class MarketFeed {
  private wanted = new Map<string, Wanted>();
  private tickers = new Map<string, Row>();
  private listeners = new Set<(p: MarketPush) => void>();
  /** the server's refusal of a subscription, by key (e.g. unsupported_market) */
  readonly errors = new Map<string, string>();

  constructor(private readonly live: LiveStream) {
    live.onMarket((msg, receivedAt) => this.take(msg, receivedAt));
    live.onStatus((st) => {
      if (st === "live") for (const [k, w] of this.wanted) this.send(k, w.payload);
    });
  }

  /** Wants a channel of (account, symbol); returns the release. A second want of the same
   * channel with other options (an ohlcv timeframe) replaces the first one's. */
  want(accountId: number, symbol: string, channel = "ticker", options: Row = {}): () => void {
    const k = key(accountId, symbol, channel);
    const payload: Row = { account_id: accountId, symbol, channels: [channel], ...options };
    const w = this.wanted.get(k);
    if (w) {
      w.count += 1;
      if (JSON.stringify(w.payload) !== JSON.stringify(payload)) {
        w.payload = payload;
        this.send(k, payload);
      }
    } else {
      this.wanted.set(k, { count: 1, payload });
      this.send(k, payload);
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const cur = this.wanted.get(k);
      if (!cur) return;
      cur.count -= 1;
      if (cur.count > 0) return;
      this.wanted.delete(k);
      this.errors.delete(k);
      if (this.live.status === "live") {
        void this.live.request("ccxt", "unsubscribe_market", { account_id: accountId, symbol, channels: [channel] }).catch(() => undefined);
      }
    };
  }

  private send(k: string, payload: Row): void {
    if (this.live.status !== "live") return; // sent when the socket is live again
    this.live.request("ccxt", "subscribe_market", payload).then((reply) => {
      if (reply["ok"]) this.errors.delete(k);
      else this.errors.set(k, String((reply["payload"] as Row | undefined)?.["message"] ?? "subscribe_market refused"));
    }, (exc: unknown) => this.errors.set(k, String(exc)));
  }

  ticker(accountId: number, symbol: string): Row | undefined {
    return this.tickers.get(key(accountId, symbol, "ticker"));
  }

  onData(fn: (p: MarketPush) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private take(msg: Row, receivedAt: number): void {
    const push: MarketPush = {
      account_id: Number(msg["account_id"]), symbol: String(msg["symbol"]), channel: String(msg["channel"]),
      data: msg["data"], ts_ms: Number(msg["ts_ms"]), received_at: receivedAt,
    };
    if (push.channel === "ticker" && push.data && typeof push.data === "object") {
      this.tickers.set(key(push.account_id, push.symbol, "ticker"), push.data as Row);
    }
    for (const fn of this.listeners) fn(push);
  }
}
