// In-page timings read by the benchmark (bench/console_row_update.py): from a websocket
// message's arrival (performance.now() in onmessage) to the grid's DOM showing the changed row
// (checked cell by cell), and to the next painted frame.
import type { GridApi } from "ag-grid-community";
import type { Row } from "./api";
import type { StreamEvent } from "./books";

export interface RowTiming {
  seq: number | null;
  event: string;
  dom_ms: number;
  frame_ms: number;
  rows_in_grid: number;
  rendered: boolean; // the row is in the viewport (rendered) …
  verified: boolean; // … and every rendered cell shows the event's value
}

function shown(v: unknown): string {
  return v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v);
}

export const metrics = {
  timings: [] as RowTiming[],
  rowUpdated(ev: StreamEvent, grid: GridApi<Row>, rows: Row[], host?: HTMLElement): void {
    const domMs = performance.now() - ev.received_at;
    let rendered = false;
    let verified = false;
    const row = rows[0];
    if (host && row) {
      const el = host.querySelector(`.ag-center-cols-container .ag-row[row-id="${String(row["id"])}"]`);
      if (el) {
        rendered = true;
        verified = [...el.querySelectorAll("[col-id]")].every((cell) => {
          const col = cell.getAttribute("col-id") ?? "";
          return !(col in row) || cell.textContent === shown(row[col]);
        });
      }
    }
    const count = grid.getDisplayedRowCount();
    requestAnimationFrame(() => {
      this.timings.push({ seq: ev.seq, event: ev.event, dom_ms: domMs, frame_ms: performance.now() - ev.received_at, rows_in_grid: count, rendered, verified });
      if (this.timings.length > 10000) this.timings.splice(0, 5000);
    });
  },
};
