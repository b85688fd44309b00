// In-page timings read by the benchmark (bench/console_row_update.py): from a websocket
// message's arrival (performance.now() in onmessage) to the grid's DOM showing the changed row
// (checked cell by cell), and to the next painted frame; and for live PnL, each animation
// frame that applied moved marks: its script work, the whole frame (from the frame's start
// to the moment the page runs again after style, layout and paint) and the latency from the
// first price's arrival to then.
import type { GridApi } from "ag-grid-community";
import type { Row } from "./api";
import type { StreamEvent } from "./books";
import { displayValue } from "./display";

export interface RowTiming {
  seq: number | null;
  event: string;
  dom_ms: number;
  frame_ms: number;
  rows_in_grid: number;
  rendered: boolean; // the row is in the viewport (rendered) …
  verified: boolean; // … and every rendered cell shows the event's value
}

export interface MarkFrame {
  keys: number; // (account, symbol) marks applied in the frame
  work_ms: number; // the listeners (grid cells refreshed, totals)
  frame_ms: number; // frame start → after its rendering
  latency_ms: number; // first price's arrival → after the frame's rendering
}

/** Runs `fn` as soon as the page gets control back after the current frame's rendering. */
function afterRender(fn: () => void): void {
  const channel = new MessageChannel();
  channel.port1.onmessage = () => fn();
  channel.port2.postMessage(null);
}

export const metrics = {
  timings: [] as RowTiming[],
  markFrames: [] as MarkFrame[],
  marksApplied(keys: number, arrived: number, start: number, end: number): void {
    afterRender(() => {
      const now = performance.now();
      this.markFrames.push({ keys, work_ms: end - start, frame_ms: now - start, latency_ms: now - arrived });
      if (this.markFrames.length > 10000) this.markFrames.splice(0, 5000);
    });
  },
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
          return !(col in row) || cell.textContent === displayValue(col, row[col]);
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
