// AG Grid Community with the API's rows as they are: every number is the API's decimal string,
// sorted with exact decimal comparison (never parsed to a float). Headers are the language
// file's labels of the API's field names (the name itself is the header's tooltip).
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
import { fieldLabel, t } from "./i18n";
import type { LabelKey } from "./i18n/en";

ModuleRegistry.registerModules([AllCommunityModule]);

/** The page's font, ending with a generic family (no web font is fetched: no internet). */
export const FONT = ["system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif"];

export const DECIMAL_FIELDS = new Set([
  "qty", "price", "avg_price", "realized_pnl", "fee", "pending_close_qty", "stop_loss", "stop_gain",
  "filled_qty", "avg_fill_price", "trigger_price", "stop_price", "take_profit_price", "pnl",
  "contract_size", "unrealized_pnl", "mark_price", "notional", "amount", "cost", "filled",
  "pnl_pct", "balance", "equity", "realized_pnl_open",
]);

/** Profit and loss: shown green above zero, red below. */
const SIGNED_FIELDS = new Set(["unrealized_pnl", "pnl_pct", "pnl", "realized_pnl", "realized_pnl_open"]);

/** Column widths by kind: the important columns of a book fit a 1,400 px screen. */
function width(f: string): number {
  if (f === "id" || f === "seq") return 76;
  if (f.endsWith("_id")) return 92;
  if (f === "side") return 60;
  if (f === "symbol") return 120;
  if (f === "pnl_pct") return 76;
  if (f === "state" || f === "status") return 100;
  if (DECIMAL_FIELDS.has(f)) return 96;
  if (f.endsWith("_at") || f === "time") return 176;
  if (f.startsWith("can_") || f === "usable" || f === "shadow") return 100;
  return 120;
}

export function columns(fields: string[], computed: Record<string, (r: Row) => unknown> = {}): ColDef<Row>[] {
  return fields.map((f) => {
    const col: ColDef<Row> = {
      field: f, colId: f, headerName: fieldLabel(f), headerTooltip: f, sortable: true, filter: true,
      resizable: true, width: width(f), wrapHeaderText: true, autoHeaderHeight: true,
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
    col.valueFormatter = (p) => (p.value === null || p.value === undefined ? "" : typeof p.value === "object" ? JSON.stringify(p.value) : String(p.value));
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

export function makeGrid(el: HTMLElement, fields: string[], options: GridOptions = {}): GridApi<Row> {
  el.classList.add("grid");
  if (options.testid) el.dataset["testid"] = options.testid;
  el.style.height = options.height ?? "420px";
  return createGrid<Row>(el, {
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
  });
}

/** Open positions: what a trader reads first comes first (mark, PnL, SL/TP, state). */
export const POSITION_FIELDS = [
  "id", "symbol", "side", "qty", "avg_price", "mark_price", "unrealized_pnl", "pnl_pct", "stop_loss",
  "stop_gain", "fee", "state", "notional", "realized_pnl", "strategy_id", "account_id",
  "pending_close_qty", "reason", "opened_at", "updated_at", "closed_at", "comment",
];
/** Closed positions have no live figures. */
export const POSITION_HISTORY_FIELDS = POSITION_FIELDS.filter((f) => !["mark_price", "unrealized_pnl", "pnl_pct", "notional"].includes(f));
export const ORDER_FIELDS = [
  "id", "symbol", "side", "order_type", "qty", "price", "trigger_price", "status", "filled_qty",
  "avg_fill_price", "stop_loss", "stop_gain", "position_id", "strategy_id", "account_id",
  "reduce_only", "reason", "client_order_id", "exchange_order_id", "error_message", "created_at",
  "updated_at",
];
export const DEAL_FIELDS = [
  "id", "symbol", "side", "qty", "price", "pnl", "fee", "fee_currency", "entry", "order_id",
  "position_id", "strategy_id", "account_id", "reason", "taker_or_maker", "executed_at",
];
