// AG Grid Community with the API's rows as they are: every number is the API's decimal string,
// sorted with exact decimal comparison (never parsed to a float) and shown whole (display.ts).
// Headers are the language file's labels of the API's field names (the name itself is the
// header's tooltip), never broken inside a word; columns grow to show their values uncut.
import {
  AllCommunityModule,
  ModuleRegistry,
  createGrid,
  themeQuartz,
  type CellKeyDownEvent,
  type ColDef,
  type GridApi,
  type RowClickedEvent,
} from "ag-grid-community";
import type { Row } from "./api";
import { compare } from "./decimal";
import { DECIMAL_FIELDS, ENUM_FIELDS, displayValue, isTimeField } from "./display";
import { fieldLabel, t } from "./i18n";
import type { LabelKey } from "./i18n/en";

ModuleRegistry.registerModules([AllCommunityModule]);

/** The page's font, ending with a generic family (no web font is fetched: no internet). */
export const FONT = ["system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif"];
const FONT_CSS = FONT.map((f) => (f.includes(" ") ? `"${f}"` : f)).join(", ");
const HEADER_FONT = `500 12px ${FONT_CSS}`;
const CELL_FONT = `12px ${FONT_CSS}`;
/** A header's room besides its words: padding (2 × 8) and the filter button (16); a sorted
 * column's arrow takes 20 more (a word that then lacks room is cut short, never broken). */
const HEADER_CHROME = 8 + 16 + 8 + 4;
const SORT_ARROW = 20;
/** A cell's room besides its text: padding (2 × 8) and borders. */
const CELL_CHROME = 8 + 8 + 4;
/** A column grows to fit its values up to this width (the rest is the cell's ellipsis). */
const FIT_MAX = 360;
const FIT_SPACING_MS = 250; // at most four measures a second while values move

const widths = new Map<string, number>();
let measure: CanvasRenderingContext2D | null = null;

/** The width in px of `text` in a CSS `font` (measured once per text and font). */
export function textWidth(text: string, font: string): number {
  const key = `${font}|${text}`;
  let w = widths.get(key);
  if (w === undefined) {
    measure ??= document.createElement("canvas").getContext("2d");
    if (!measure) return text.length * 8;
    measure.font = font;
    w = measure.measureText(text).width;
    if (widths.size > 20_000) widths.clear();
    widths.set(key, w);
  }
  return w;
}

const BUTTON_FONT = `11px ${FONT_CSS}`;

/** The width of a cell of small buttons (`button.mini`: padding 2 × 6, borders) with these
 * labels, 4 px apart, and a result mark after them. */
export function buttonsWidth(labels: string[]): number {
  return labels.reduce((w, label) => w + Math.ceil(textWidth(label, BUTTON_FONT)) + 14 + 4, 0) + 14 + CELL_CHROME;
}

/** The narrowest header that breaks only between words (its longest word on one line). */
function headerWidth(label: string, sorted: boolean): number {
  const word = Math.max(0, ...label.split(/\s+/).map((w) => textWidth(w, HEADER_FONT)));
  return Math.ceil(word) + HEADER_CHROME + (sorted ? SORT_ARROW : 0);
}

/** Columns whose values are fitted: numbers, ids, times, symbols and vocabularies (free text,
 * JSON and messages keep their width and show the rest in the cell's ellipsis). */
function fitted(f: string): boolean {
  return DECIMAL_FIELDS.has(f) || isTimeField(f) || ENUM_FIELDS.has(f) || f === "trigger" || f === "group" || f === "id" || f === "seq" || f.endsWith("_id") || f === "symbol" || f === "currency";
}

/** Profit and loss: shown green above zero, red below. */
const SIGNED_FIELDS = new Set(["unrealized_pnl", "pnl_pct", "pnl", "realized_pnl", "realized_pnl_open"]);

/** Narrowest column widths by kind (a column is as wide as its header's longest word and, for
 * fitted columns, its values need): the important columns of a book fit a 1,400 px screen. */
function width(f: string): number {
  if (f === "id" || f === "seq") return 64;
  if (f.endsWith("_id")) return 80;
  if (f === "side" || f === "pnl_pct") return 60;
  if (f === "symbol") return 110;
  if (f === "state" || f === "status") return 80;
  if (DECIMAL_FIELDS.has(f)) return 80;
  if (isTimeField(f)) return 120;
  if (f.startsWith("can_") || f === "usable" || f === "shadow") return 72;
  return 120;
}

export function columns(fields: string[], computed: Record<string, (r: Row) => unknown> = {}): ColDef<Row>[] {
  return fields.map((f) => {
    const label = fieldLabel(f);
    const col: ColDef<Row> = {
      field: f, colId: f, headerName: label, headerTooltip: f, sortable: true, filter: true,
      resizable: true, width: Math.max(width(f), headerWidth(label, f === "id")), wrapHeaderText: true, autoHeaderHeight: true,
    };
    const get = computed[f];
    if (get) col.valueGetter = (p) => (p.data ? get(p.data) : null);
    if (DECIMAL_FIELDS.has(f)) {
      col.comparator = (a: unknown, b: unknown) =>
        compare(a == null ? null : String(a), b == null ? null : String(b));
      col.filter = "agTextColumnFilter";
      col.cellClass = "num";
      if (SIGNED_FIELDS.has(f)) {
        col.cellClassRules = {
          "pnl-up": (p) => compare(p.value == null ? null : String(p.value), "0") > 0,
          "pnl-down": (p) => String(p.value ?? "").startsWith("-"),
        };
      }
    } else if (f === "id" || f.endsWith("_id")) {
      col.comparator = (a: unknown, b: unknown) => Number(a ?? 0) - Number(b ?? 0);
      if (f === "id") col.sort = "desc"; // newest first, as the API lists them
    }
    col.valueFormatter = (p) => displayValue(f, p.value);
    if (ENUM_FIELDS.has(f)) col.filterValueGetter = (p) => displayValue(f, p.getValue(f)); // filtered as shown
    if (isTimeField(f)) col.tooltipValueGetter = (p) => (p.value == null ? null : String(p.value)); // the API's own time
    return col;
  });
}

const GRID_TEXTS = ["noRowsToShow", "loadingOoo", "filterOoo", "contains", "notContains", "equals", "notEqual", "startsWith", "endsWith", "blank", "notBlank", "andCondition", "orCondition"] as const;

/** AG Grid's own words in the console's language (the rest of its texts are not shown here). */
function gridTexts(): Record<string, string> {
  return Object.fromEntries(GRID_TEXTS.map((k) => [k, t(`grid_${k}` as LabelKey)]));
}

export interface GridOptions {
  rowId?: (r: Row) => string;
  testid?: string;
  height?: string;
  /** columns computed from the row (live PnL): field name → value */
  computed?: Record<string, (r: Row) => unknown>;
  /** extra columns after the fields (row actions), pinned right */
  extra?: ColDef<Row>[];
  onKey?: (e: CellKeyDownEvent<Row>) => void;
  onRowClicked?: (e: RowClickedEvent<Row>) => void;
}

/** Widens the columns whose values, in the rows on screen, do not fit; never narrows one. */
function grow(api: GridApi<Row>, fields: string[]): void {
  const need = new Map<string, number>();
  for (const node of api.getRenderedNodes()) {
    for (const f of fields) {
      const text: unknown = api.getCellValue({ rowNode: node, colKey: f, useFormatter: true });
      if (text === null || text === undefined || text === "") continue;
      need.set(f, Math.max(need.get(f) ?? 0, textWidth(String(text), CELL_FONT)));
    }
  }
  const wider: { key: string; newWidth: number }[] = [];
  for (const [f, w] of need) {
    const want = Math.min(FIT_MAX, Math.ceil(w) + CELL_CHROME);
    if (want > (api.getColumn(f)?.getActualWidth() ?? Infinity)) wider.push({ key: f, newWidth: want });
  }
  if (wider.length) api.setColumnWidths(wider);
}

const refits = new WeakMap<GridApi<Row>, (cols?: readonly string[]) => void>();

/** Re-measures (soon, at most four times a second) the grid's fitted columns, or only `cols`:
 * for values that change without a row transaction or scroll (live figures refreshed in place). */
export function refit(api: GridApi<Row>, cols?: readonly string[]): void {
  refits.get(api)?.(cols);
}

function fitter(api: () => GridApi<Row> | undefined, fields: string[]): (cols?: readonly string[]) => void {
  const pending = new Set<string>();
  let timer: number | null = null;
  let last = 0;
  const run = (): void => {
    timer = null;
    last = performance.now();
    const g = api();
    const cols = [...pending];
    pending.clear();
    if (g && !g.isDestroyed()) grow(g, cols);
  };
  return (cols) => {
    for (const c of cols ?? fields) if (fields.includes(c)) pending.add(c);
    timer ??= window.setTimeout(run, Math.max(0, last + FIT_SPACING_MS - performance.now()));
  };
}

export function makeGrid(el: HTMLElement, fields: string[], options: GridOptions = {}): GridApi<Row> {
  el.classList.add("grid");
  if (options.testid) el.dataset["testid"] = options.testid;
  el.style.height = options.height ?? "420px";
  let api: GridApi<Row> | undefined;
  const fit = fitter(() => api, fields.filter(fitted));
  api = createGrid<Row>(el, {
    theme: themeQuartz.withParams({ fontSize: 12, spacing: 4, fontFamily: FONT, headerFontFamily: FONT, cellFontFamily: FONT }),
    columnDefs: [...columns(fields, options.computed), ...(options.extra ?? [])],
    rowData: [],
    getRowId: (p) => (options.rowId ? options.rowId(p.data) : String(p.data["id"])),
    animateRows: false,
    enableCellTextSelection: true,
    suppressDragLeaveHidesColumns: true,
    suppressColumnVirtualisation: true,
    alwaysShowHorizontalScroll: true,
    tooltipShowDelay: 300,
    localeText: gridTexts(),
    onCellKeyDown: options.onKey as ((e: unknown) => void) | undefined,
    onRowClicked: options.onRowClicked,
    onRowDataUpdated: () => fit(),
    onViewportChanged: () => fit(), // other rows on screen
  });
  refits.set(api, fit);
  return api;
}

/** Open positions: what a trader reads first comes first (mark, PnL, SL/TP, state). */
export const POSITION_FIELDS = [
  "id", "symbol", "side", "qty", "avg_price", "mark_price", "unrealized_pnl", "pnl_pct", "stop_loss",
  "stop_gain", "fee", "state", "notional", "realized_pnl", "strategy_id", "account_id",
  "pending_close_qty", "reason", "opened_at", "updated_at", "closed_at", "comment",
];
/** Closed positions have no live figures. */
export const POSITION_HISTORY_FIELDS = POSITION_FIELDS.filter((f) => !["mark_price", "unrealized_pnl", "pnl_pct", "notional"].includes(f));
/** Orders: `trigger` and `group` are computed (orderfacts.ts: `orderColumns`). */
export const ORDER_FIELDS = [
  "id", "symbol", "side", "order_type", "qty", "price", "trigger", "status", "filled_qty",
  "avg_fill_price", "emulation", "group", "parent_order_id", "expire_at", "fire_at", "stop_loss", "stop_gain",
  "position_id", "strategy_id", "account_id", "reduce_only", "reason", "client_order_id",
  "exchange_order_id", "error_message", "created_at", "updated_at",
];
export const DEAL_FIELDS = [
  "id", "symbol", "side", "qty", "price", "pnl", "fee", "fee_currency", "entry", "order_id",
  "position_id", "strategy_id", "account_id", "reason", "taker_or_maker", "executed_at",
];
