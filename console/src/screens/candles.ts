// A symbol's candles from the venue's OHLCV (`fetch_ohlcv` through /ccxt: on paper, built from
// the market's price path) on a true time axis (one bar per period: the venue fills quiet
// periods), kept live by the market stream's `ohlcv` channel; the account's fills as markers;
// its open positions' average price and SL/TP as price lines that follow the books live. A
// click on the chart offers its price (the order ticket takes it).
import {
  CandlestickSeries, createChart, createSeriesMarkers,
  type AutoscaleInfo, type IChartApi, type IPriceLine, type ISeriesApi, type ISeriesMarkersPluginApi, type MouseEventParams,
  type SeriesMarker, type Time, type UTCTimestamp,
} from "lightweight-charts";
import { errorText, type Paged, type Row } from "../api";
import { plot } from "../decimal";
import { field, h, select } from "../dom";
import { t } from "../i18n";
import type { Session } from "../session";

export const TIMEFRAMES: Record<string, number> = { "1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000, "4h": 14_400_000, "1d": 86_400_000 };
const UP = "#00897b";
const DOWN = "#e53935";

/** What each chart shows, for tests and the benchmark (window.omsConsole.charts). */
export interface ChartState {
  account_id: number;
  symbol: string;
  timeframe: string;
  rows: unknown[][]; // the venue's candles as received (exact strings)
  fills: number;
  lines: { kind: string; position_id: number; price: string }[];
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
  show(accountId: number, symbol: string): void;
  /** a price clicked on the chart (as a decimal string, to be rounded by its user) */
  onPrice(fn: (price: string) => void): void;
  destroy(): void;
}

export function candleChart(s: Session, prefix: string): CandleChart {
  const tf = select(`${prefix}_timeframe`, Object.keys(TIMEFRAMES).map((k): [string, string] => [k, k]), "1m");
  const legend = h("div", { class: "legend", "data-testid": `${prefix}-legend` });
  const box = h("div", { class: "chart tall", "data-testid": `${prefix}-chart` });
  const err = h("div", { class: "msg" });
  const state: ChartState = { account_id: 0, symbol: "", timeframe: "1m", rows: [], fills: 0, lines: [] };
  chartStates[prefix] = state;
  let chart: IChartApi | null = null;
  let series: ISeriesApi<"Candlestick"> | null = null;
  let markersApi: ISeriesMarkersPluginApi<Time> | null = null;
  let markers: SeriesMarker<Time>[] = [];
  let priceLines: IPriceLine[] = [];
  const fillIds = new Set<number>();
  let releases: (() => void)[] = [];
  let last = "";
  let generation = 0;
  const priceListeners = new Set<(price: string) => void>();

  const paintLegend = (): void => legend.replaceChildren(
    h("span", { "data-testid": `${prefix}-last` }, `${state.symbol}: ${last}`),
    h("span", { "data-testid": `${prefix}-fills`, "data-fills": fillIds.size }, `${t("fills")}: ${fillIds.size}`),
    h("span", { "data-testid": `${prefix}-candles`, "data-candles": state.rows.length }, `${t("candles")}: ${state.rows.length} × ${state.timeframe}`));

  const snap = (ms: number): UTCTimestamp => ((ms - (ms % (TIMEFRAMES[state.timeframe] ?? 60_000))) / 1000) as UTCTimestamp;
  const addFill = (d: Row): void => {
    const id = Number(d["id"]);
    if (fillIds.has(id) || Number(d["account_id"]) !== state.account_id || d["symbol"] !== state.symbol) return;
    if (Number(d["qty"]) === 0) return; // a cash deal (funding): money, not a fill
    fillIds.add(id);
    const buy = d["side"] === "buy";
    markers.push({ time: snap(Date.parse(String(d["executed_at"]))), position: buy ? "belowBar" : "aboveBar", color: buy ? UP : DOWN, shape: buy ? "arrowUp" : "arrowDown", text: String(d["qty"]) });
    markers.sort((a, b) => Number(a.time) - Number(b.time));
    markersApi?.setMarkers(markers);
    state.fills = fillIds.size;
  };

  /** Average price and SL/TP of the open positions of (account, symbol), redrawn from the books. */
  const drawLines = (): void => {
    if (!series) return;
    for (const l of priceLines) series.removePriceLine(l);
    priceLines = [];
    state.lines = [];
    for (const p of s.live.books.positions.values()) {
      if (Number(p["account_id"]) !== state.account_id || p["symbol"] !== state.symbol) continue;
      const id = Number(p["id"]);
      for (const [kind, value, color, style] of [["avg", p["avg_price"], "#2962ff", 0], ["sl", p["stop_loss"], DOWN, 2], ["tp", p["stop_gain"], UP, 2]] as const) {
        if (value == null || value === "") continue;
        const title = `${kind === "avg" ? `${String(p["side"])} ${String(p["qty"])}` : kind.toUpperCase()} #${id}`;
        priceLines.push(series.createPriceLine({ price: plot(String(value)), color, lineWidth: kind === "avg" ? 2 : 1, lineStyle: style, axisLabelVisible: true, title }));
        state.lines.push({ kind, position_id: id, price: String(value) });
      }
    }
    box.dataset["lines"] = String(state.lines.length);
  };

  const take = (rows: unknown[][]): boolean => {
    // live candles: the newest few; a gap (a new period after a quiet one) needs a reload
    const period = TIMEFRAMES[state.timeframe] ?? 60_000;
    for (const r of rows) {
      const at = Number(r[0]);
      const lastAt = Number(state.rows.at(-1)?.[0] ?? at);
      if (at < lastAt) continue;
      if (at > lastAt + period) return false;
      if (at === lastAt) state.rows[state.rows.length - 1] = r;
      else state.rows.push(r);
      series?.update(bar(r));
    }
    box.dataset["lastTime"] = String(state.rows.at(-1)?.[0] ?? "");
    paintLegend();
    return true;
  };

  const load = async (): Promise<void> => {
    const mine = ++generation;
    for (const r of releases) r();
    releases = [];
    chart?.remove();
    markers = [];
    priceLines = [];
    fillIds.clear();
    state.rows = [];
    state.timeframe = tf.value;
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
    markersApi = createSeriesMarkers(series, []);
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
      for (const d of await allDeals(s, String(state.account_id), state.symbol)) addFill(d);
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
  const offDeals = s.live.onEvent((ev) => { if (ev.event === "deal_created") { addFill(ev.payload); paintLegend(); } });
  const offBooks = s.live.books.listen((changes) => {
    if (changes.some((c) => c.kind === "reset" || (c.kind === "position" && c.row["symbol"] === state.symbol))) drawLines();
  });
  tf.addEventListener("change", () => void load());
  const el = h("div", { class: "candles" }, h("div", { class: "filters" }, field(t("timeframe"), tf)), legend, box, err);
  return {
    el,
    show: (accountId, symbol) => {
      if (accountId === state.account_id && symbol === state.symbol && state.rows.length) return;
      state.account_id = accountId;
      state.symbol = symbol;
      void load();
    },
    onPrice: (fn) => { priceListeners.add(fn); },
    destroy: () => {
      generation += 1;
      for (const r of releases) r();
      offMarket(); offDeals(); offBooks();
      chart?.remove();
      delete chartStates[prefix];
    },
  };
}
