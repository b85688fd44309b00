// In-page timings read by the benchmark (bench/console_row_update.py): from a websocket
// message's arrival to the grid's DOM showing the row, and to the next painted frame.
import type { GridApi } from "ag-grid-community";
import type { Row } from "./api";
import type { StreamEvent } from "./books";

export interface RowTiming {
  seq: number | null;
  event: string;
  dom_ms: number;
  frame_ms: number;
  rows_in_grid: number;
}

export const metrics = {
  timings: [] as RowTiming[],
  rowUpdated(ev: StreamEvent, grid: GridApi<Row>, _rows: Row[]): void {
    const domMs = performance.now() - ev.received_at;
    const rows = grid.getDisplayedRowCount();
    requestAnimationFrame(() => {
      this.timings.push({
        seq: ev.seq,
        event: ev.event,
        dom_ms: domMs,
        frame_ms: performance.now() - ev.received_at,
        rows_in_grid: rows,
      });
      if (this.timings.length > 10000) this.timings.splice(0, 5000);
    });
  },
};
