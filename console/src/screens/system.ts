// System monitor: the venue's raw CCXT orders and trades as stored, the live event log, and a
// direct CCXT call (read functions for every reader; trade functions for keys that may trade).
import { errorText, type Row } from "../api";
import { field, h, input, message, select } from "../dom";
import { makeGrid } from "../grid";
import { t } from "../i18n";
import type { Session } from "../session";
import { filterBar, pagedGrid, tabs } from "./common";
import { register } from "./registry";

const READ_FUNCS = ["fetch_ticker", "fetch_order_book", "fetch_balance", "fetch_open_orders", "fetch_my_trades", "fetch_ohlcv", "fetch_markets", "fetch_positions", "fetch_order"];
const TRADE_FUNCS = ["create_order", "cancel_order", "edit_order", "cancel_all_orders"];
const RAW_FIELDS = ["id", "account_id", "kind", "exchange_id", "exchange_object_id", "payload", "created_at"];
const LOG_FIELDS = ["seq", "time", "namespace", "event", "account_id", "summary"];

function summary(p: Row): string {
  const keys = ["id", "symbol", "side", "qty", "price", "status", "state", "pnl", "message"];
  return keys.filter((k) => p[k] !== undefined && p[k] !== null).map((k) => `${k}=${String(p[k])}`).join(" ");
}

export const eventLog: Row[] = [];

function ccxtForm(s: Session): HTMLElement | null {
  const readable = s.accounts.filter((a) => s.canRead(a) && !s.isAdmin);
  if (!readable.length) return null;
  const funcs = s.tradeAccounts.length ? [...READ_FUNCS, ...TRADE_FUNCS] : READ_FUNCS;
  const acc = select("account_id", s.accountOptions(readable));
  const func = select("func", funcs.map((f): [string, string] => [f, f]));
  const args = input("args", { value: '["BTC/USDT"]' });
  const kwargs = input("kwargs", { value: "{}" });
  const out = h("pre", { class: "json", "data-testid": "ccxt-result" });
  const msg = h("div", { class: "msg", "data-testid": "result-ccxt_call" });
  return h("form", {
    class: "card", "data-form": "ccxt_call",
    onsubmit: async (e: Event) => {
      e.preventDefault();
      try {
        const body = { args: JSON.parse(args.value || "[]") as unknown, kwargs: JSON.parse(kwargs.value || "{}") as unknown };
        const res = await s.api.post<Row>(`/ccxt/${acc.value}/${func.value}`, body);
        out.textContent = JSON.stringify(res["result"], null, 2);
        message(msg, t("done"), true);
      } catch (exc) {
        out.textContent = "";
        message(msg, errorText(exc), false);
      }
    },
  }, h("h3", {}, t("ccxt_call")), field(t("account"), acc), field(t("function"), func),
  field(t("args"), args), field(t("kwargs"), kwargs), h("button", { type: "submit" }, t("submit")), msg, out);
}

register({
  id: "system",
  label: "nav_system",
  visible: () => true,
  render(root, s) {
    const roEl = h("div");
    const ro = makeGrid(roEl, RAW_FIELDS, { testid: "grid-raw-orders" });
    const roPager = pagedGrid(s, ro, "/ccxt/orders/raw", "raw-orders");
    const rtEl = h("div");
    const rt = makeGrid(rtEl, RAW_FIELDS, { testid: "grid-raw-trades" });
    const rtPager = pagedGrid(s, rt, "/ccxt/trades/raw", "raw-trades");
    void roPager.load();
    void rtPager.load();
    const logEl = h("div");
    const log = makeGrid(logEl, LOG_FIELDS, { testid: "grid-event-log", rowId: (r) => String(r["key"]) });
    log.setGridOption("rowData", [...eventLog]);
    const off = s.live.onEvent((ev) => {
      const row = eventLogRow(ev.seq, ev.namespace, ev.event, ev.account_id, ev.payload);
      log.applyTransaction({ add: [row], addIndex: 0 });
    });
    const form = ccxtForm(s);
    root.append(
      h("h2", {}, t("nav_system")),
      tabs([
        ["event-log", t("event_log"), () => logEl],
        ["raw-orders", t("raw_orders"), () => h("div", {}, filterBar(s, (q) => void roPager.load(q, 1), { dates: true }), roPager.el, roEl)],
        ["raw-trades", t("raw_trades"), () => h("div", {}, filterBar(s, (q) => void rtPager.load(q, 1), { dates: true }), rtPager.el, rtEl)],
        ...(form ? [["ccxt", t("ccxt_call"), () => form] as [string, string, () => HTMLElement]] : []),
      ]),
    );
    return () => {
      off();
      for (const g of [ro, rt, log]) g.destroy();
    };
  },
});

let logKey = 0;
export function eventLogRow(seq: number | null, namespace: string, event: string, accountId: number | null, payload: Row): Row {
  return { key: ++logKey, seq, time: new Date().toISOString(), namespace, event, account_id: accountId, summary: summary(payload) };
}

/** The log keeps the last 1,000 events of the session, also while another screen is shown. */
export function recordEvents(s: Session): () => void {
  return s.live.onEvent((ev) => {
    eventLog.unshift(eventLogRow(ev.seq, ev.namespace, ev.event, ev.account_id, ev.payload));
    if (eventLog.length > 1000) eventLog.length = 1000;
  });
}
