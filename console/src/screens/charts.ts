// Charts: realised PnL over time per strategy from the account's deals (live on deal_created),
// and a symbol's candles (candles.ts) with the account's fills marked and its positions' lines,
// opened on the symbol the account last traded (else one it holds). A chart plots numbers;
// every figure printed next to it is the API's decimal string, summed exactly.
import { LineSeries, createChart, type IChartApi, type ISeriesApi, type UTCTimestamp } from "lightweight-charts";
import { errorText, type Paged, type Row } from "../api";
import { add, plot } from "../decimal";
import { field, h, input, select } from "../dom";
import { t } from "../i18n";
import type { Session } from "../session";
import { allDeals, candleChart } from "./candles";
import { register } from "./registry";

/** What a price chart shows when the account has neither traded nor holds anything. */
const DEFAULT_SYMBOL = "BTC/USDT:USDT";
const COLORS = ["#2962ff", "#e91e63", "#00897b", "#ff6d00", "#6a1b9a", "#455a64"];

function secs(iso: unknown): UTCTimestamp {
  return Math.floor(Date.parse(String(iso)) / 1000) as UTCTimestamp;
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

/** The symbol the account last traded (its newest deal), else one it holds, else the default. */
async function usualSymbol(s: Session, accountId: string): Promise<string> {
  try {
    const res = await s.api.get<Paged<Row>>("/oms/deals", { account_ids: accountId, page: 1, page_size: 1 });
    const last = res.items[0]?.["symbol"];
    if (last) return String(last);
  } catch {
    // the deals only choose the symbol: the books and the default remain
  }
  const held = [...s.live.books.positions.values()].find((p) => String(p["account_id"]) === accountId);
  return String(held?.["symbol"] ?? DEFAULT_SYMBOL);
}

function priceChart(s: Session): { el: HTMLElement; destroy: () => void } {
  const acc = select("price_account", s.accountOptions());
  const sym = input("price_symbol", { placeholder: t("symbol") });
  const candles = candleChart(s, "price");
  const apply = (reload = false): void => candles.show(Number(acc.value), sym.value.trim(), reload);
  // a symbol typed by the user is kept; otherwise the chosen account's usual one is shown
  let typed = false;
  let gone = false;
  sym.addEventListener("input", () => { typed = true; });
  const follow = async (): Promise<void> => {
    const accountId = acc.value;
    const symbol = await usualSymbol(s, accountId);
    if (gone || typed || acc.value !== accountId) return;
    sym.value = symbol;
    apply();
  };
  acc.addEventListener("change", () => void follow());
  const form = h("form", { class: "filters", onsubmit: (e: Event) => { e.preventDefault(); apply(true); } },
    field(t("account"), acc), field(t("symbol"), sym), h("button", { type: "submit", "data-testid": "price-apply" }, t("apply")));
  void follow();
  const el = h("section", { class: "card wide" }, h("h3", {}, t("price_chart")), form, candles.el);
  return { el, destroy: () => { gone = true; candles.destroy(); } };
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
