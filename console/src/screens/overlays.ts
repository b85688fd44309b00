// What a candle chart draws over the candles, kept readable however many there are: the
// account's fills as markers, one per candle and side with the summed qty (labels thinned so
// that two of one side never overlap at the current zoom), and its open positions' average
// price and SL/TP as lines, named in a legend beside the chart (never over the newest candles)
// with their prices on the axis (a price label only where no other sits on it).
import type { IChartApi, IPriceLine, ISeriesApi, ISeriesMarkersPluginApi, SeriesMarker, Time, UTCTimestamp } from "lightweight-charts";
import type { Row } from "../api";
import { add, plot } from "../decimal";
import { h } from "../dom";
import type { Session } from "../session";

export const UP = "#00897b";
export const DOWN = "#e53935";
const AVG = "#2962ff";
const LABEL_PX_PER_CHAR = 7; // the chart's 12 px sans-serif digits, with room to spare
const LABEL_GAP_PX = 8;
const AXIS_LABEL_PX = 18; // an axis label's height: nearer labels would cover each other

export type Mark = { time: number; side: string; qty: string; fills: number; text: string };
export type Line = { kind: string; position_id: number; price: string; label: boolean };

interface FillGroup {
  time: UTCTimestamp;
  side: "buy" | "sell";
  qty: string;
  fills: number;
}

/** The groups' markers, oldest first; walking from the newest, a label is kept only when it is
 * `labelBars` candles from the last one kept on its side (the others keep the arrow only). */
export function thinned(groups: FillGroup[], periodMs: number, barSpacing: number): { marks: Mark[]; labelBars: number } {
  const text = (g: FillGroup): string => (g.fills > 1 ? `${g.qty} (${g.fills})` : g.qty);
  const widest = Math.max(0, ...groups.map((g) => text(g).length));
  const labelBars = Math.max(1, Math.ceil((widest * LABEL_PX_PER_CHAR + LABEL_GAP_PX) / Math.max(barSpacing, 0.5)));
  const lastLabel: Record<string, number> = {};
  const marks = [...groups].sort((a, b) => b.time - a.time).map((g) => {
    const newer = lastLabel[g.side];
    const show = newer === undefined || (newer - g.time) / (periodMs / 1000) >= labelBars;
    if (show) lastLabel[g.side] = g.time;
    return { time: g.time, side: g.side, qty: g.qty, fills: g.fills, text: show ? text(g) : "" };
  });
  return { marks: marks.reverse(), labelBars };
}

/** Which of the lines (in order of priority) show their axis label: none nearer than a label's
 * height to one already shown. */
export function shownLabels(ys: (number | null)[]): boolean[] {
  const kept: number[] = [];
  return ys.map((y) => {
    if (y === null || kept.some((k) => Math.abs(k - y) < AXIS_LABEL_PX)) return false;
    kept.push(y);
    return true;
  });
}

/** What the overlays show, for tests (a part of ChartState). */
export interface OverlayState {
  account_id: number;
  symbol: string;
  timeframe: string;
  fills: number;
  marks: Mark[];
  labelBars: number;
  lines: Line[];
}

export interface Overlays {
  /** the legend naming the lines */
  legend: HTMLElement;
  /** a new chart (load): nothing drawn yet */
  attach(chart: IChartApi, series: ISeriesApi<"Candlestick">, markers: ISeriesMarkersPluginApi<Time>): void;
  addFill(d: Row): void;
  drawLines(): void;
  /** repaint labels after the view moved (zoom, scroll, new candles) */
  schedule(): void;
  fills(): number;
  destroy(): void;
}

export function overlays(s: Session, state: OverlayState, periodMs: () => number, testid: string): Overlays {
  const legend = h("div", { class: "legend lines", "data-testid": testid });
  const groups = new Map<string, FillGroup>();
  const fillIds = new Set<number>();
  let drawn: { line: IPriceLine; data: Line }[] = [];
  let chart: IChartApi | null = null;
  let series: ISeriesApi<"Candlestick"> | null = null;
  let markers: ISeriesMarkersPluginApi<Time> | null = null;
  let frame: number | null = null;

  const paint = (): void => {
    frame = null;
    if (!chart || !series || !markers) return;
    const range = chart.timeScale().getVisibleLogicalRange();
    const barSpacing = range && range.to > range.from ? chart.timeScale().width() / (range.to - range.from) : 6;
    const { marks, labelBars } = thinned([...groups.values()], periodMs(), barSpacing);
    state.marks = marks;
    state.labelBars = labelBars;
    markers.setMarkers(marks.map((m): SeriesMarker<Time> => {
      const buy = m.side === "buy";
      return { time: m.time as UTCTimestamp, position: buy ? "belowBar" : "aboveBar", color: buy ? UP : DOWN, shape: buy ? "arrowUp" : "arrowDown", text: m.text };
    }));
    const s2 = series;
    const shown = shownLabels(drawn.map((d) => s2.priceToCoordinate(plot(d.data.price))));
    drawn.forEach((d, i) => {
      const label = shown[i] ?? false;
      if (label !== d.data.label) d.line.applyOptions({ axisLabelVisible: label });
      d.data.label = label;
    });
  };
  const schedule = (): void => { frame ??= requestAnimationFrame(paint); };

  return {
    legend,
    attach: (c, se, m) => {
      chart = c;
      series = se;
      markers = m;
      groups.clear();
      fillIds.clear();
      drawn = [];
      state.marks = [];
      state.lines = [];
      state.fills = 0;
      legend.replaceChildren();
    },
    addFill: (d) => {
      const id = Number(d["id"]);
      if (fillIds.has(id) || Number(d["account_id"]) !== state.account_id || d["symbol"] !== state.symbol) return;
      if (Number(d["qty"]) === 0) return; // a cash deal (funding): money, not a fill
      fillIds.add(id);
      const side = d["side"] === "buy" ? "buy" : "sell";
      const ms = Date.parse(String(d["executed_at"]));
      const time = ((ms - (ms % periodMs())) / 1000) as UTCTimestamp;
      const group = groups.get(`${time}|${side}`) ?? { time, side, qty: "0", fills: 0 };
      group.qty = add(group.qty, String(d["qty"]));
      group.fills += 1;
      groups.set(`${time}|${side}`, group);
      state.fills = fillIds.size;
      schedule();
    },
    drawLines: () => {
      if (!series) return;
      for (const d of drawn) series.removePriceLine(d.line);
      drawn = [];
      // newest position first; average prices before stops (their axis labels win a tie)
      const mine = [...s.live.books.positions.values()]
        .filter((p) => Number(p["account_id"]) === state.account_id && p["symbol"] === state.symbol)
        .sort((a, b) => Number(b["id"]) - Number(a["id"]));
      const names: HTMLElement[] = [];
      for (const [kind, fieldName, color, style] of [["avg", "avg_price", AVG, 0], ["sl", "stop_loss", DOWN, 2], ["tp", "stop_gain", UP, 2]] as const) {
        for (const p of mine) {
          const value = p[fieldName];
          if (value == null || value === "") continue;
          const id = Number(p["id"]);
          const data = { kind, position_id: id, price: String(value), label: true };
          drawn.push({ data, line: series.createPriceLine({ price: plot(data.price), color, lineWidth: kind === "avg" ? 2 : 1, lineStyle: style, axisLabelVisible: true, title: "" }) });
          const name = kind === "avg" ? `${String(p["side"])} ${String(p["qty"])}` : kind.toUpperCase();
          names.push(h("span", { class: `line-${kind}`, "data-position": id }, `${name} #${id} @ ${data.price}`));
        }
      }
      state.lines = drawn.map((d) => d.data);
      legend.replaceChildren(...names);
      schedule();
    },
    schedule,
    fills: () => fillIds.size,
    destroy: () => {
      if (frame !== null) cancelAnimationFrame(frame);
      chart = null;
      series = null;
      markers = null;
    },
  };
}
