// A grid kept equal to the live books: snapshot rows, then one transaction per websocket event.
import type { GridApi } from "ag-grid-community";
import type { Query, Row } from "../api";
import type { Change, StreamEvent } from "../books";
import { metrics } from "../metrics";
import type { Session } from "../session";
import { matches } from "./common";

export function bindLiveGrid(
  s: Session, grid: GridApi<Row>, kind: "position" | "order", filter: () => Query, host?: HTMLElement,
): () => void {
  const source = (): Map<number, Row> => (kind === "position" ? s.live.books.positions : s.live.books.orders);
  const reload = (): void => {
    const q = filter();
    grid.setGridOption("rowData", [...source().values()].filter((r) => matches(r, q)));
  };
  reload();
  const off = s.live.books.listen((changes: Change[], ev: StreamEvent | null) => {
    const q = filter();
    const add: Row[] = [];
    const update: Row[] = [];
    const remove: Row[] = [];
    for (const c of changes) {
      if (c.kind === "reset") {
        reload();
        return;
      }
      if (c.kind !== kind) continue;
      const present = grid.getRowNode(String(c.row["id"])) !== undefined;
      if (c.op === "upsert" && matches(c.row, q)) (present ? update : add).push(c.row);
      else if (present) remove.push(c.row);
    }
    if (!add.length && !update.length && !remove.length) return;
    grid.applyTransaction({ add, update, remove, addIndex: 0 });
    if (ev) metrics.rowUpdated(ev, grid, [...update, ...add], host);
  });
  return () => {
    off();
  };
}
