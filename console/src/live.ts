// The websocket stream: auth, subscribe with a snapshot, then events by seq; after a dropped
// connection it resumes with since_seq (gap-free replay), or takes a fresh snapshot when the
// server answers resync_required. Events are deduplicated by seq.
import type { Api, Row } from "./api";
import { Books, type StreamEvent } from "./books";

export type LiveStatus = "connecting" | "live" | "offline";

export class LiveStream {
  readonly books = new Books();
  status: LiveStatus = "offline";
  lastSeq: number | null = null;
  authError: string | null = null;
  private socket: WebSocket | null = null;
  private retry = 0;
  private timer: number | null = null;
  private suspended = false;
  private stopped = false;
  private nextId = 1;
  private pending = new Map<string, (msg: Row) => void>();
  private statusListeners = new Set<(s: LiveStatus) => void>();
  private eventListeners = new Set<(ev: StreamEvent) => void>();
  private marketListeners = new Set<(msg: Row, receivedAt: number) => void>();

  constructor(
    private readonly api: Api,
    private readonly accountIds: number[],
  ) {}

  onStatus(fn: (s: LiveStatus) => void): () => void {
    this.statusListeners.add(fn);
    return () => this.statusListeners.delete(fn);
  }
  onEvent(fn: (ev: StreamEvent) => void): () => void {
    this.eventListeners.add(fn);
    return () => this.eventListeners.delete(fn);
  }
  onMarket(fn: (msg: Row, receivedAt: number) => void): () => void {
    this.marketListeners.add(fn);
    return () => this.marketListeners.delete(fn);
  }

  private setStatus(s: LiveStatus): void {
    this.status = s;
    for (const fn of this.statusListeners) fn(s);
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.clearTimer();
    this.socket?.close(1000, "bye");
    this.socket = null;
    this.setStatus("offline");
  }

  /** Drop the connection and stay offline until resume(): what a network cut does. */
  suspend(): void {
    this.suspended = true;
    this.clearTimer();
    this.socket?.close(4000, "suspended");
    this.socket = null;
    this.setStatus("offline");
  }

  resume(): void {
    this.suspended = false;
    this.retry = 0;
    if (!this.socket) this.connect();
  }

  /** A request over the socket (ping, subscribe_market, command, call): resolves with the reply. */
  request(namespace: string, action: string, payload: Row = {}): Promise<Row> {
    const id = `c${this.nextId++}`;
    return new Promise((resolve, reject) => {
      if (!this.socket || this.socket.readyState !== WebSocket.OPEN) {
        reject(new Error("websocket is not connected"));
        return;
      }
      this.pending.set(id, resolve);
      this.socket.send(JSON.stringify({ id, namespace, action, payload }));
    });
  }

  private clearTimer(): void {
    if (this.timer !== null) window.clearTimeout(this.timer);
    this.timer = null;
  }

  private connect(): void {
    if (this.stopped || this.suspended) return;
    this.setStatus("connecting");
    const ws = new WebSocket(this.api.wsUrl());
    this.socket = ws;
    ws.onopen = () => {
      ws.send(JSON.stringify({ id: "auth", action: "auth", payload: { api_key: this.api.key } }));
    };
    ws.onmessage = (msg: MessageEvent<string>) => {
      if (ws !== this.socket) return;
      this.handle(JSON.parse(msg.data) as Row, performance.now());
    };
    ws.onclose = (ev: CloseEvent) => {
      if (ws !== this.socket) return;
      this.socket = null;
      for (const [, resolve] of this.pending) resolve({ ok: false, payload: { message: "disconnected" } });
      this.pending.clear();
      this.setStatus("offline");
      if (ev.code === 1008) {
        this.authError = ev.reason || "API key refused";
        return;
      }
      if (this.stopped || this.suspended) return;
      const delay = Math.min(250 * 2 ** this.retry, 5000);
      this.retry += 1;
      this.timer = window.setTimeout(() => this.connect(), delay);
    };
  }

  private subscribe(): void {
    const payload: Row = { account_ids: this.accountIds, namespaces: ["position", "ccxt", "risk"] };
    if (this.lastSeq === null) payload["with_snapshot"] = true;
    else {
      payload["with_snapshot"] = false;
      payload["since_seq"] = this.lastSeq;
    }
    this.socket?.send(JSON.stringify({ id: "subscribe", action: "subscribe", payload }));
  }

  private handle(msg: Row, receivedAt: number): void {
    const id = msg["id"];
    const event = String(msg["event"] ?? "");
    const payload = (msg["payload"] ?? {}) as Row;
    if (id === "auth") {
      if (msg["ok"]) this.subscribe();
      else this.authError = String(payload["message"] ?? "API key refused");
      return;
    }
    if (id === "subscribe") {
      if (msg["ok"]) {
        this.retry = 0;
        // with a snapshot, live starts when snapshot_done arrives; a resume is live at once
        if (this.lastSeq !== null) this.setStatus("live");
      } else if (payload["code"] === "resync_required") {
        this.lastSeq = null;
        this.books.clear();
        this.subscribe();
      } else {
        // e.g. account_not_found after a grant was removed: say so instead of waiting silently
        this.authError = `${String(payload["message"] ?? "subscribe refused")} (${String(payload["code"] ?? "")})`;
        this.setStatus("offline");
      }
      return;
    }
    if (typeof id === "string" && this.pending.has(id)) {
      const resolve = this.pending.get(id);
      this.pending.delete(id);
      resolve?.(msg);
      return;
    }
    if (msg["type"] !== "ws_event") return;
    if (msg["action"] === "snapshot" || event.startsWith("snapshot_")) {
      const accountId = Number(payload["account_id"] ?? msg["account_id"]);
      const items = (payload["items"] ?? []) as Row[];
      if (event === "snapshot_open_positions") this.books.snapshot(accountId, "position", items);
      else if (event === "snapshot_open_orders") this.books.snapshot(accountId, "order", items);
      else if (event === "snapshot_done") {
        this.lastSeq = Number(payload["seq"]);
        this.setStatus("live");
      }
      return;
    }
    if (event === "subscription_revoked") {
      // the key lost read access to this account: its rows go, the rest of the stream stays
      const accountId = Number(payload["account_id"] ?? msg["account_id"]);
      this.books.snapshot(accountId, "position", []);
      this.books.snapshot(accountId, "order", []);
    }
    if (msg["namespace"] === "ccxt" && event.endsWith("_updated")) {
      for (const fn of this.marketListeners) fn(payload, receivedAt);
      return;
    }
    const seq = typeof msg["seq"] === "number" ? msg["seq"] : null;
    if (seq !== null) {
      if (this.lastSeq !== null && seq <= this.lastSeq) return; // already applied
      this.lastSeq = seq;
    }
    const ev: StreamEvent = {
      event,
      namespace: String(msg["namespace"] ?? ""),
      seq,
      account_id: typeof msg["account_id"] === "number" ? msg["account_id"] : null,
      payload,
      received_at: receivedAt,
    };
    this.books.apply(ev);
    for (const fn of this.eventListeners) fn(ev);
  }
}
