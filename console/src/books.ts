// Live books of the subscribed accounts: open positions and open orders keyed by id, kept from
// the websocket snapshot and then from events alone (every event carries the full object).
import type { Row } from "./api";
import { t } from "./i18n";

export const OPEN_POSITION_STATES = new Set(["open", "close_requested"]);
export const OPEN_ORDER_STATUSES = new Set(["PENDING_SUBMIT", "SUBMITTED", "PARTIALLY_FILLED"]);

export type Change =
  | { kind: "position" | "order"; op: "upsert" | "remove"; row: Row }
  | { kind: "deal"; op: "add"; row: Row }
  | { kind: "reset" };

export interface StreamEvent {
  event: string;
  namespace: string;
  seq: number | null;
  account_id: number | null;
  payload: Row;
  received_at: number; // performance.now() when the message arrived
}

/** A contingent group as its last `order_group_changed` event showed it. */
export interface GroupInfo {
  kind: string;
  state: string;
  roles: Map<number, string>; // order id → role (entry, stop_loss, leg0, child1, …)
}

export class Books {
  readonly positions = new Map<number, Row>();
  readonly orders = new Map<number, Row>();
  readonly groups = new Map<number, GroupInfo>();
  private listeners = new Set<(changes: Change[], ev: StreamEvent | null) => void>();

  listen(fn: (changes: Change[], ev: StreamEvent | null) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(changes: Change[], ev: StreamEvent | null): void {
    if (changes.length) for (const fn of this.listeners) fn(changes, ev);
  }

  /** A snapshot of one account replaces what we held for it. */
  snapshot(accountId: number, kind: "position" | "order", items: Row[]): void {
    const map = kind === "position" ? this.positions : this.orders;
    for (const [id, row] of map) if (row["account_id"] === accountId) map.delete(id);
    for (const row of items) map.set(Number(row["id"]), row);
    this.emit([{ kind: "reset" }], null);
  }

  clear(): void {
    this.positions.clear();
    this.orders.clear();
    this.groups.clear();
    this.emit([{ kind: "reset" }], null);
  }

  apply(ev: StreamEvent): void {
    const changes: Change[] = [];
    const p = ev.payload;
    if (ev.event === "order_trigger_moved") this.triggerMoved(p, changes);
    if (ev.event === "order_group_changed") this.groupChanged(p, changes);
    const visit = (obj: Row): void => {
      if (typeof obj !== "object" || obj === null) return;
      if ("position_id" in obj && "state" in obj && "avg_price" in obj) {
        changes.push(this.put(this.positions, obj, OPEN_POSITION_STATES.has(String(obj["state"])), "position"));
      } else if ("order_id" in obj && "status" in obj && "order_type" in obj) {
        changes.push(this.put(this.orders, obj, OPEN_ORDER_STATUSES.has(String(obj["status"])), "order"));
      } else if ("deal_id" in obj && "executed_at" in obj) {
        changes.push({ kind: "deal", op: "add", row: obj });
      }
    };
    visit(p);
    for (const key of ["order", "position"]) {
      const inner = p[key];
      if (inner && typeof inner === "object" && !Array.isArray(inner)) visit(inner as Row);
    }
    const items = p["items"];
    if (Array.isArray(items)) for (const it of items) visit(it as Row);
    this.emit(changes, ev);
  }

  /** A held trailing stop's trigger moved: its row shows the trigger as it stands. */
  private triggerMoved(p: Row, changes: Change[]): void {
    const row = this.orders.get(Number(p["order_id"]));
    if (row) changes.push(this.put(this.orders, { ...row, trigger_price: p["trigger_price"] }, true, "order"));
  }

  /** A group's kind and members' roles; its members' rows are redrawn with them. */
  private groupChanged(p: Row, changes: Change[]): void {
    const members = Array.isArray(p["members"]) ? (p["members"] as Row[]) : [];
    const roles = new Map(members.map((m): [number, string] => [Number(m["order_id"]), String(m["role"])]));
    this.groups.set(Number(p["group_id"]), { kind: String(p["kind"]), state: String(p["state"]), roles });
    for (const id of roles.keys()) {
      const row = this.orders.get(id);
      if (row) changes.push(this.put(this.orders, { ...row }, true, "order"));
    }
  }

  private put(map: Map<number, Row>, row: Row, open: boolean, kind: "position" | "order"): Change {
    const id = Number(row["id"]);
    if (open) {
      map.set(id, row);
      return { kind, op: "upsert", row };
    }
    map.delete(id);
    return { kind, op: "remove", row };
  }
}

function text(v: unknown): string {
  return v === null || v === undefined ? "" : String(v);
}

/** A position in a line (choices, confirmations): `#12 BTC/USDT buy 0.5 @ 100`. */
export function positionText(p: Row): string {
  return `#${text(p["id"])} ${text(p["symbol"])} ${text(p["side"])} ${text(p["qty"])} @ ${text(p["avg_price"])}`;
}

/** An order in a line: `#7 BTC/USDT sell limit 0.3 @ 110` (market orders: the word). */
export function orderText(o: Row): string {
  return `#${text(o["id"])} ${text(o["symbol"])} ${text(o["side"])} ${text(o["order_type"])} ${text(o["qty"])} @ ${text(o["price"] ?? t("market"))}`;
}
