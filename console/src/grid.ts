// AG Grid Community with the API's rows as they are: every number is the API's decimal string,
// sorted with exact decimal comparison (never parsed to a float).
import {
  AllCommunityModule,
  ModuleRegistry,
  createGrid,
  themeQuartz,
  type ColDef,
  type GridApi,
} from "ag-grid-community";
import type { Row } from "./api";
import { compare } from "./decimal";

ModuleRegistry.registerModules([AllCommunityModule]);

export const DECIMAL_FIELDS = new Set([
  "qty", "price", "avg_price", "realized_pnl", "fee", "pending_close_qty", "stop_loss", "stop_gain",
  "filled_qty", "avg_fill_price", "trigger_price", "stop_price", "take_profit_price", "pnl",
  "contract_size", "unrealized_pnl", "mark_price", "notional", "amount", "cost", "filled",
]);

export function columns(fields: string[]): ColDef<Row>[] {
  return fields.map((f) => {
    const col: ColDef<Row> = { field: f, headerName: f, sortable: true, filter: true, resizable: true };
    if (DECIMAL_FIELDS.has(f)) {
      col.comparator = (a: unknown, b: unknown) =>
        compare(a == null ? null : String(a), b == null ? null : String(b));
      col.filter = "agTextColumnFilter";
      col.cellClass = "num";
    } else if (f === "id" || f.endsWith("_id")) {
      col.comparator = (a: unknown, b: unknown) => Number(a ?? 0) - Number(b ?? 0);
      col.width = 110;
      if (f === "id") col.sort = "desc"; // newest first, as the API lists them
    }
    if (typeof f === "string" && (f.endsWith("_at") || f === "time")) col.width = 210;
    col.valueFormatter = (p) => (p.value === null || p.value === undefined ? "" : typeof p.value === "object" ? JSON.stringify(p.value) : String(p.value));
    return col;
  });
}

export function makeGrid(
  el: HTMLElement,
  fields: string[],
  options: { rowId?: (r: Row) => string; testid?: string; height?: string } = {},
): GridApi<Row> {
  el.classList.add("grid");
  if (options.testid) el.dataset["testid"] = options.testid;
  el.style.height = options.height ?? "420px";
  return createGrid<Row>(el, {
    theme: themeQuartz.withParams({ fontSize: 12, spacing: 4 }),
    columnDefs: columns(fields),
    rowData: [],
    getRowId: (p) => (options.rowId ? options.rowId(p.data) : String(p.data["id"])),
    animateRows: false,
    enableCellTextSelection: true,
    suppressDragLeaveHidesColumns: true,
    suppressColumnVirtualisation: true,
  });
}

export const POSITION_FIELDS = [
  "id", "account_id", "symbol", "side", "qty", "avg_price", "realized_pnl", "fee",
  "pending_close_qty", "stop_loss", "stop_gain", "strategy_id", "state", "reason", "opened_at",
  "updated_at", "closed_at", "comment",
];
export const ORDER_FIELDS = [
  "id", "account_id", "symbol", "side", "order_type", "qty", "price", "trigger_price", "status",
  "filled_qty", "avg_fill_price", "position_id", "strategy_id", "reduce_only", "stop_loss",
  "stop_gain", "reason", "client_order_id", "exchange_order_id", "error_message", "created_at",
  "updated_at",
];
export const DEAL_FIELDS = [
  "id", "account_id", "order_id", "position_id", "symbol", "side", "qty", "price", "pnl", "fee",
  "fee_currency", "entry", "strategy_id", "reason", "taker_or_maker", "executed_at",
];
