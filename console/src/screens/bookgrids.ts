// The live books as grids: open positions with their live mark, unrealised PnL (and %) and
// notional (pnl.ts, refreshed cell by cell once per frame as marks move), open orders; both
// with the row actions the key may take (rowactions.ts). Used by the Positions and Terminal
// screens.
import type { GridApi, IRowNode, RowClickedEvent } from "ag-grid-community";
import type { Query, Row } from "../api";
import { h } from "../dom";
import { ORDER_FIELDS, POSITION_FIELDS, makeGrid, refit } from "../grid";
import { t } from "../i18n";
import { markKey } from "../marks";
import { orderColumns } from "../orderfacts";
import { figures, type Figures } from "../pnl";
import type { Session } from "../session";
import { bindLiveGrid } from "./livegrid";
import { rowActions, type RowKind } from "./rowactions";

export const LIVE_COLUMNS = ["mark_price", "unrealized_pnl", "pnl_pct", "notional"] as const;

/** Value getters of the live columns, memoised per (row object, mark). */
export function liveColumns(s: Session): Record<string, (r: Row) => unknown> {
  const memo = new WeakMap<Row, { mark: string | undefined; f: Figures | null }>();
  const of = (r: Row): Figures | null => {
    const mark = s.marks.mark(r);
    const hit = memo.get(r);
    if (hit && hit.mark === mark) return hit.f;
    const f = figures(r, mark);
    memo.set(r, { mark, f });
    return f;
  };
  return Object.fromEntries(LIVE_COLUMNS.map((c) => [c, (r: Row) => of(r)?.[c] ?? null]));
}

/** Refreshes the live cells of the rows whose mark moved (rendered rows only: AG Grid). */
function followMarks(s: Session, grid: GridApi<Row>): () => void {
  return s.marks.onChange((keys) => {
    const nodes: IRowNode<Row>[] = [];
    grid.forEachNode((n) => {
      if (n.data && keys.has(markKey(n.data["account_id"], n.data["symbol"]))) nodes.push(n);
    });
    if (!nodes.length) return;
    grid.refreshCells({ rowNodes: nodes, columns: [...LIVE_COLUMNS] });
    refit(grid, LIVE_COLUMNS); // a figure grown longer widens its column
  });
}

export interface BookGrid {
  el: HTMLElement;
  grid: GridApi<Row>;
  /** re-applies the filter (after it changed) */
  rebind(): void;
  destroy(): void;
}

export function bookGrid(
  s: Session, kind: RowKind, testid: string, filter: () => Query,
  opts: { height?: string; onRowClicked?: (row: Row) => void } = {},
): BookGrid {
  const host = h("div");
  const actions = rowActions(s, kind);
  const grid = makeGrid(host, kind === "position" ? POSITION_FIELDS : ORDER_FIELDS, {
    testid, height: opts.height,
    computed: kind === "position" ? liveColumns(s) : orderColumns(s.live.books),
    extra: actions.column ? [actions.column] : [],
    onKey: actions.onKey,
    onRowClicked: opts.onRowClicked ? (e: RowClickedEvent<Row>) => { if (e.data) opts.onRowClicked?.(e.data); } : undefined,
  });
  actions.attach(grid);
  let off = bindLiveGrid(s, grid, kind, filter, host);
  const offMarks = kind === "position" ? followMarks(s, grid) : () => undefined;
  const hint = actions.column ? h("p", { class: "hint" }, t(kind === "position" ? "keys_positions" : "keys_orders")) : null;
  return {
    el: h("div", {}, host, actions.status, hint),
    grid,
    rebind: () => { off(); off = bindLiveGrid(s, grid, kind, filter, host); },
    destroy: () => { off(); offMarks(); actions.destroy(); grid.destroy(); },
  };
}
