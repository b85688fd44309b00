// A symbol's candles from the venue's OHLCV (`fetch_ohlcv` through /ccxt: on paper, built from
// the market's price path) on a true time axis (one bar per period: the venue fills quiet
// periods), kept live by the market stream's `ohlcv` channel; the account's fills as markers
// and its open positions' average price and SL/TP as lines that follow the books live
// (overlays.ts). A click on the chart offers its price (the order ticket takes it).
import {
  CandlestickSeries, createChart, createSeriesMarkers,
  type AutoscaleInfo, type IChartApi, type ISeriesApi, type MouseEventParams, type Time, type UTCTimestamp,
} from "lightweight-charts";
import { errorText, type Paged, type Row } from "../api";
import { plot } from "../decimal";
import { field, h, select } from "../dom";
import { t } from "../i18n";
import type { Session } from "../session";
import { DOWN, UP, overlays, type OverlayState } from "./overlays";

export const TIMEFRAMES: Record<string, number> = { "1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000, "4h": 14_400_000, "1d": 86_400_000 };

/** What each chart shows, for tests and the benchmark (window.omsConsole.charts). */
export interface ChartState extends OverlayState {
  rows: unknown[][]; // the venue's candles as received (exact strings)
}
export const chartStates: Record<string, ChartState> = {};

export async function allDeals(s: Session, accountId: string, symbol?: string): Promise<Row[]> {
  const out: Row[] = [];
  for (let page = 1; page <= 20; page++) {
    const res = await s.api.get<Paged<Row>>("/oms/deals", { account_ids: accountId, symbol, page, page_size: 500 });
    out.push(...res.items);
    if (page * res.page_size >= res.total) break;
  }
  return out.sort((a, b) => String(a["executed_at"]).localeCompare(String(b["executed_at"])) || Number(a["id"]) - Number(b["id"]));
}

function bar(r: unknown[]): { time: UTCTimestamp; open: number; high: number; low: number; close: number } {
  return { time: (Number(r[0]) / 1000) as UTCTimestamp, open: plot(String(r[1])), high: plot(String(r[2])), low: plot(String(r[3])), close: plot(String(r[4])) };
}

export interface CandleChart {
  el: HTMLElement;
  /** show a symbol's chart; `reload`: even when it is the one shown (the user asked again) */
  show(accountId: number, symbol: string, reload?: boolean): void;
  /** a price clicked on the chart (as a decimal string, to be rounded by its user) */
  onPrice(fn: (price: string) => void): void;
  destroy(): void;
}

export function candleChart(s: Session, prefix: string): CandleChart {
  const tf = select(`${prefix}_timeframe`, Object.keys(TIMEFRAMES).map((k): [string, string] => [k, k]), "1m");
  const legend = h("div", { class: "legend", "data-testid": `${prefix}-legend` });
  const box = h("div", { class: "chart tall", "data-testid": `${prefix}-chart` });
  const err = h("div", { class: "msg" });
  const state: ChartState = { account_id: 0, symbol: "", timeframe: "1m", rows: [], fills: 0, marks: [], labelBars: 1, lines: [] };
  chartStates[prefix] = state;
  let chart: IChartApi | null = null;
  let series: ISeriesApi<"Candlestick"> | null = null;
  const period = (): number => TIMEFRAMES[state.timeframe] ?? 60_000;
  const over = overlays(s, state, period, `${prefix}-lines`);
  let releases: (() => void)[] = [];
  let last = "";
  let generation = 0;
  const priceListeners = new Set<(price: string) => void>();

  const paintLegend = (): void => legend.replaceChildren(
    h("span", { "data-testid": `${prefix}-last` }, `${state.symbol}: ${last}`),
    h("span", { "data-testid": `${prefix}-fills`, "data-fills": over.fills() }, `${t("fills")}: ${over.fills()}`),
    h("span", { "data-testid": `${prefix}-candles`, "data-candles": state.rows.length }, `${t("candles")}: ${state.rows.length} × ${state.timeframe}`));

  const drawLines = (): void => {
    over.drawLines();
    box.dataset["lines"] = String(state.lines.length);
  };

  const take = (rows: unknown[][]): boolean => {
    // live candles: the newest few; a gap (a new period after a quiet one) needs a reload
    for (const r of rows) {
      const at = Number(r[0]);
      const lastAt = Number(state.rows.at(-1)?.[0] ?? at);
      if (at < lastAt) continue;
      if (at > lastAt + period()) return false;
      if (at === lastAt) state.rows[state.rows.length - 1] = r;
      else state.rows.push(r);
      series?.update(bar(r));
    }
    box.dataset["lastTime"] = String(state.rows.at(-1)?.[0] ?? "");
    paintLegend();
    over.schedule(); // the price scale may have moved: axis labels re-thinned
    return true;
  };

  const load = async (): Promise<void> => {
    const mine = ++generation;
    for (const r of releases) r();
    releases = [];
    chart?.remove();
    state.rows = [];
    state.timeframe = tf.value;
    paintLegend(); // "candles: 0" while the chart loads: nobody reads the previous rows as current
    last = String(s.market.ticker(state.account_id, state.symbol)?.["last"] ?? "");
    chart = createChart(box, { autoSize: true, timeScale: { timeVisible: true, secondsVisible: false, rightOffset: 6 }, layout: { fontFamily: "system-ui, sans-serif" } });
    series = chart.addSeries(CandlestickSeries, {
      upColor: UP, downColor: DOWN, borderVisible: false, wickUpColor: UP, wickDownColor: DOWN,
      // the price scale also holds the positions' lines (an SL or TP far from the candles shows)
      autoscaleInfoProvider: (original: () => AutoscaleInfo | null) => {
        const info = original();
        if (!info?.priceRange || !state.lines.length) return info;
        const prices = state.lines.map((l) => plot(l.price));
        return { ...info, priceRange: { minValue: Math.min(info.priceRange.minValue, ...prices), maxValue: Math.max(info.priceRange.maxValue, ...prices) } };
      },
    });
    over.attach(chart, series, createSeriesMarkers(series, []));
    chart.timeScale().subscribeVisibleLogicalRangeChange(over.schedule); // zoom: labels re-thinned
    chart.subscribeClick((param: MouseEventParams<Time>) => {
      const price = param.point && series ? series.coordinateToPrice(param.point.y) : null;
      if (price !== null) for (const fn of priceListeners) fn(String(price));
    });
    if (!state.symbol || !state.account_id) return;
    try {
      const res = await s.api.post<{ result: unknown[][] }>(`/ccxt/${state.account_id}/fetch_ohlcv`, { args: [state.symbol, state.timeframe], kwargs: {} });
      if (mine !== generation) return;
      state.rows = res.result;
      series.setData(res.result.map(bar));
      chart.timeScale().scrollToRealTime();
      for (const d of await allDeals(s, String(state.account_id), state.symbol)) over.addFill(d);
      drawLines();
      releases.push(s.market.want(state.account_id, state.symbol, "ohlcv", { timeframe: state.timeframe, limit: 3 }));
      releases.push(s.market.want(state.account_id, state.symbol, "ticker"));
      err.textContent = "";
    } catch (exc) {
      err.textContent = errorText(exc);
      err.className = "msg error";
    }
    box.dataset["lastTime"] = String(state.rows.at(-1)?.[0] ?? "");
    paintLegend();
  };

  const offMarket = s.market.onData((p) => {
    if (p.account_id !== state.account_id || p.symbol !== state.symbol) return;
    if (p.channel === "ticker") {
      last = String((p.data as Row | null)?.["last"] ?? last);
      paintLegend();
    } else if (p.channel === "ohlcv" && state.rows.length && !take(p.data as unknown[][])) void load();
  });
  const offDeals = s.live.onEvent((ev) => { if (ev.event === "deal_created") { over.addFill(ev.payload); paintLegend(); } });
  const offBooks = s.live.books.listen((changes) => {
    if (changes.some((c) => c.kind === "reset" || (c.kind === "position" && c.row["symbol"] === state.symbol))) drawLines();
  });
  tf.addEventListener("change", () => void load());
  const el = h("div", { class: "candles" }, h("div", { class: "filters" }, field(t("timeframe"), tf)), legend, box, over.legend, err);
  return {
    el,
    show: (accountId, symbol, reload = false) => {
      if (!reload && accountId === state.account_id && symbol === state.symbol && state.rows.length) return;
      state.account_id = accountId;
      state.symbol = symbol;
      void load();
    },
    onPrice: (fn) => { priceListeners.add(fn); },
    destroy: () => {
      generation += 1;
      for (const r of releases) r();
      offMarket(); offDeals(); offBooks();
      over.destroy();
      chart?.remove();
      chart = null;
      delete chartStates[prefix];
    },
  };
}
