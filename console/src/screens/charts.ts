// Charts: realised PnL over time per strategy from the account's deals (live on deal_created),
// and a symbol's price (market stream) with the account's fills marked. A chart plots numbers;
// every figure printed next to it is the API's decimal string, summed exactly.
import {
  LineSeries, createChart, createSeriesMarkers,
  type IChartApi, type ISeriesApi, type ISeriesMarkersPluginApi, type SeriesMarker, type Time, type UTCTimestamp,
} from "lightweight-charts";
import { errorText, type Paged, type Row } from "../api";
import { add, plot } from "../decimal";
import { field, h, input, select } from "../dom";
import { t } from "../i18n";
import type { Session } from "../session";
import { register } from "./registry";

const COLORS = ["#2962ff", "#e91e63", "#00897b", "#ff6d00", "#6a1b9a", "#455a64"];

function secs(iso: unknown): UTCTimestamp {
  return Math.floor(Date.parse(String(iso)) / 1000) as UTCTimestamp;
}

async function allDeals(s: Session, accountId: string, symbol?: string): Promise<Row[]> {
  const out: Row[] = [];
  for (let page = 1; page <= 20; page++) {
    const res = await s.api.get<Paged<Row>>("/oms/deals", { account_ids: accountId, symbol, page, page_size: 500 });
    out.push(...res.items);
    if (page * res.page_size >= res.total) break;
  }
  return out.sort((a, b) => String(a["executed_at"]).localeCompare(String(b["executed_at"])) || Number(a["id"]) - Number(b["id"]));
}

function pnlChart(s: Session): { el: HTMLElement; destroy: () => void } {
  const acc = select("pnl_account", s.accountOptions());
  const legend = h("div", { class: "legend", "data-testid": "pnl-legend" });
  const box = h("div", { class: "chart", "data-testid": "pnl-chart" });
  const err = h("div", { class: "msg" });
  let chart: IChartApi | null = null;
  const series = new Map<string, { s: ISeriesApi<"Line">; total: string; points: number }>();
  let seen = new Set<number>();
  const renderLegend = (): void => {
    legend.replaceChildren(...[...series.entries()].map(([k, v]) =>
      h("span", { "data-testid": `pnl-total-${k}`, "data-points": v.points }, `${k}: ${v.total}`)));
  };
  const addDeal = (d: Row, live: boolean): void => {
    const id = Number(d["id"]);
    if (seen.has(id) || String(d["account_id"]) !== acc.value || !chart) return;
    seen.add(id);
    const pnl = String(d["pnl"] ?? "0");
    for (const key of ["all", `strategy ${d["strategy_id"]}`]) {
      let line = series.get(key);
      if (!line) {
        line = { s: chart.addSeries(LineSeries, { color: COLORS[series.size % COLORS.length] ?? "#000", title: key, lineWidth: 2 }), total: "0", points: 0 };
        series.set(key, line);
      }
      line.total = add(line.total, pnl);
      line.points += 1;
      const point = { time: secs(d["executed_at"]), value: plot(line.total) };
      if (live) {
        try { line.s.update(point); } catch { /* an older time than the last point: reload keeps order */ }
      } else line.s.update(point);
    }
    renderLegend();
  };
  const load = async (): Promise<void> => {
    chart?.remove();
    series.clear();
    seen = new Set();
    chart = createChart(box, { autoSize: true, timeScale: { timeVisible: true, secondsVisible: true } });
    try {
      for (const d of await allDeals(s, acc.value)) addDeal(d, false);
      err.textContent = "";
    } catch (exc) {
      err.textContent = errorText(exc);
      err.className = "msg error";
    }
    chart.timeScale().fitContent();
    renderLegend();
  };
  acc.addEventListener("change", () => void load());
  void load();
  const off = s.live.onEvent((ev) => { if (ev.event === "deal_created") addDeal(ev.payload, true); });
  const el = h("section", { class: "card wide" }, h("h3", {}, t("pnl_chart")), field(t("account"), acc), legend, box, err);
  return { el, destroy: () => { off(); chart?.remove(); } };
}

function priceChart(s: Session): { el: HTMLElement; destroy: () => void } {
  const acc = select("price_account", s.accountOptions());
  const sym = input("price_symbol", { value: "BTC/USDT" });
  const legend = h("div", { class: "legend", "data-testid": "price-legend" });
  const box = h("div", { class: "chart", "data-testid": "price-chart" });
  const err = h("div", { class: "msg" });
  let chart: IChartApi | null = null;
  let line: ISeriesApi<"Line"> | null = null;
  let markersApi: ISeriesMarkersPluginApi<Time> | null = null;
  const points = new Map<number, number>();
  const markers: SeriesMarker<Time>[] = [];
  let last = "";
  const fillIds = new Set<number>();
  const redraw = (): void => {
    if (!line) return;
    line.setData([...points.entries()].sort((a, b) => a[0] - b[0]).map(([time, value]) => ({ time: time as UTCTimestamp, value })));
    markers.sort((a, b) => Number(a.time) - Number(b.time));
    markersApi?.setMarkers(markers);
    chart?.timeScale().fitContent();
    legend.replaceChildren(h("span", { "data-testid": "price-last" }, `${sym.value}: ${last}`), h("span", { "data-testid": "price-fills", "data-fills": fillIds.size }, `fills: ${fillIds.size}`));
  };
  const addFill = (d: Row): void => {
    const id = Number(d["id"]);
    if (fillIds.has(id) || String(d["account_id"]) !== acc.value || d["symbol"] !== sym.value) return;
    if (Number(d["qty"]) === 0) return; // a cash deal (funding): money, not a fill on the price line
    fillIds.add(id);
    const time = secs(d["executed_at"]);
    if (!points.has(time)) points.set(time, plot(String(d["price"])));
    const buy = d["side"] === "buy";
    markers.push({ time, position: buy ? "belowBar" : "aboveBar", color: buy ? "#00897b" : "#e53935", shape: buy ? "arrowUp" : "arrowDown", text: String(d["qty"]) });
  };
  let subscribed: Row | null = null;
  const unsubscribe = (): void => {
    if (subscribed) void s.live.request("ccxt", "unsubscribe_market", subscribed).catch(() => undefined);
    subscribed = null;
  };
  const load = async (): Promise<void> => {
    unsubscribe();
    chart?.remove();
    points.clear();
    markers.length = 0;
    fillIds.clear();
    last = "";
    chart = createChart(box, { autoSize: true, timeScale: { timeVisible: true, secondsVisible: true } });
    line = chart.addSeries(LineSeries, { color: "#2962ff", lineWidth: 2 });
    markersApi = createSeriesMarkers(line, []);
    try {
      for (const d of await allDeals(s, acc.value, sym.value)) addFill(d);
      subscribed = { account_id: Number(acc.value), symbol: sym.value, channels: ["ticker"] };
      const reply = await s.live.request("ccxt", "subscribe_market", subscribed);
      if (!reply["ok"]) throw new Error(String((reply["payload"] as Row | undefined)?.["message"] ?? "subscribe_market failed"));
      err.textContent = "";
    } catch (exc) {
      err.textContent = errorText(exc);
      err.className = "msg error";
    }
    redraw();
  };
  const offMarket = s.live.onMarket((p) => {
    if (String(p["account_id"]) !== acc.value || p["symbol"] !== sym.value) return;
    const data = p["data"] as Row | undefined;
    const price = data?.["last"] ?? data?.["close"];
    if (price == null) return;
    last = String(price);
    points.set(Math.floor(Number(p["ts_ms"]) / 1000), plot(last));
    redraw();
  });
  const offDeals = s.live.onEvent((ev) => { if (ev.event === "deal_created") { addFill(ev.payload); redraw(); } });
  const form = h("form", { class: "filters", onsubmit: (e: Event) => { e.preventDefault(); void load(); } },
    field(t("account"), acc), field(t("symbol"), sym), h("button", { type: "submit", "data-testid": "price-apply" }, t("apply")));
  const offStatus = s.live.onStatus((st) => {
    if (st !== "live") return;
    if (!subscribed) void load();
    else void s.live.request("ccxt", "subscribe_market", subscribed).catch(() => undefined); // a new socket
  });
  if (s.live.status === "live") void load();
  const el = h("section", { class: "card wide" }, h("h3", {}, t("price_chart")), form, legend, box, err);
  return { el, destroy: () => { unsubscribe(); offMarket(); offDeals(); offStatus(); chart?.remove(); } };
}

register({
  id: "charts",
  label: "nav_charts",
  visible: (s) => s.accounts.length > 0,
  render(root, s) {
    const pnl = pnlChart(s);
    const price = priceChart(s);
    root.append(h("h2", {}, t("nav_charts")), pnl.el, price.el);
    return () => { pnl.destroy(); price.destroy(); };
  },
});
