import type { GridApi } from "ag-grid-community";
import { errorText, type Paged, type Query, type Row } from "../api";
import { h, input, message, select } from "../dom";
import { t, valueLabel } from "../i18n";
import type { Session } from "../session";

/** Account / symbol / strategy / dates filter bar; calls onApply with the query. */
export function filterBar(s: Session, onApply: (q: Query) => void, opts: { dates?: boolean; status?: string[] } = {}): HTMLElement {
  const acc = select("f_account", [["", t("all")], ...s.accountOptions()]);
  const sym = input("f_symbol", { placeholder: t("symbol") });
  const strat = input("f_strategy", { placeholder: t("strategy"), inputmode: "numeric", size: 6 });
  const start = input("f_start", { type: "date" });
  const end = input("f_end", { type: "date" });
  const status = opts.status ? select("f_status", [["", t("all")], ...opts.status.map((x): [string, string] => [x, valueLabel(x)])]) : null;
  const apply = (): void =>
    onApply({
      account_ids: acc.value || s.accountIds,
      symbol: sym.value.trim() || undefined,
      strategy_id: strat.value.trim() || undefined,
      start_date: start.value && end.value ? start.value : undefined,
      end_date: start.value && end.value ? end.value : undefined,
      ...(status && status.value ? statusQuery(status.value) : {}),
    });
  const form = h("form", { class: "filters", onsubmit: (e: Event) => { e.preventDefault(); apply(); } },
    acc, sym, strat, opts.dates ? start : null, opts.dates ? end : null, status,
    h("button", { type: "submit", "data-testid": "f_apply" }, t("apply")));
  return form;
}

function statusQuery(v: string): Query {
  return /^[A-Z_]+$/.test(v) ? { status: v } : { state: v };
}

/**
 * Each call starts a request and returns its "still the latest?" check: an answer to an earlier
 * request that arrives late (the first, unfiltered page answering after a filter was applied, or
 * a reload from before a write answering after the one from after it) must not overwrite the
 * newer one.
 */
export function latestRequest(): () => () => boolean {
  let n = 0;
  return () => {
    const mine = ++n;
    return () => mine === n;
  };
}

/**
 * load() for a grid fed by one request: shows the rows, or the error in `err`; only the latest
 * request's answer is applied. `fetch` answers null when there is nothing to ask for yet.
 */
export function gridLoader(grid: GridApi<Row>, err: HTMLElement, fetch: () => Promise<Row[]> | null): () => Promise<void> {
  const start = latestRequest();
  return async () => {
    const current = start(); // also when there is nothing to ask: an answer in flight is stale
    const request = fetch();
    if (request === null) return;
    try {
      const rows = await request;
      if (!current() || grid.isDestroyed()) return; // a newer request, or the screen was left
      grid.setGridOption("rowData", rows);
      err.textContent = "";
    } catch (exc) {
      if (current() && !grid.isDestroyed()) message(err, errorText(exc), false);
    }
  };
}

/** A grid over one of the API's paged lists: page/page_size are the API's, not the browser's. */
export function pagedGrid(
  s: Session, grid: GridApi<Row>, path: string, testid: string,
): { el: HTMLElement; load: (q?: Query, page?: number) => Promise<void>; page: () => number; query: () => Query } {
  let page = 1;
  let query: Query = { account_ids: s.accountIds };
  const pageSize = 100;
  const info = h("span", { class: "pageinfo", "data-testid": `${testid}-pageinfo` });
  const err = h("div", { class: "msg" });
  const start = latestRequest();
  const load = async (q?: Query, p?: number): Promise<void> => {
    if (q) query = q;
    if (p) page = p;
    const current = start();
    try {
      const res = await s.api.get<Paged<Row>>(path, { ...query, page, page_size: pageSize });
      if (!current() || grid.isDestroyed()) return; // a newer request, or the screen was left
      grid.setGridOption("rowData", res.items);
      const pages = Math.max(1, Math.ceil(res.total / res.page_size));
      info.textContent = `${t("page")} ${res.page} ${t("of")} ${pages} · ${res.total} ${t("rows")}`;
      err.textContent = "";
    } catch (exc) {
      if (current()) message(err, errorText(exc), false);
    }
  };
  const el = h("div", { class: "pager" },
    h("button", { type: "button", onclick: () => { if (page > 1) void load(undefined, page - 1); } }, t("prev")),
    info,
    h("button", { type: "button", onclick: () => void load(undefined, page + 1) }, t("next")),
    h("button", { type: "button", onclick: () => void load() }, t("refresh")),
    err);
  return { el, load, page: () => page, query: () => query };
}

export function tabs(items: [string, string, () => HTMLElement][]): HTMLElement {
  const bar = h("div", { class: "tabs", role: "tablist" });
  const body = h("div", { class: "tabbody" });
  const panels = items.map(([id, , build]) => {
    const panel = h("div", { class: "tabpanel", "data-tab": id }, build());
    body.append(panel);
    return panel;
  });
  const show = (i: number): void => {
    panels.forEach((p, j) => (p.style.display = i === j ? "" : "none"));
    [...bar.children].forEach((b, j) => b.classList.toggle("active", i === j));
  };
  items.forEach(([id, label], i) => bar.append(h("button", { type: "button", role: "tab", "data-testid": `tab-${id}`, onclick: () => show(i) }, label)));
  show(0);
  return h("div", {}, bar, body);
}

export function matches(row: Row, q: Query): boolean {
  const ids = String(q["account_ids"] ?? "").split(",").filter(Boolean);
  if (ids.length && !ids.includes(String(row["account_id"]))) return false;
  if (q["symbol"] && row["symbol"] !== q["symbol"]) return false;
  if (q["strategy_id"] && String(row["strategy_id"]) !== String(q["strategy_id"])) return false;
  return true;
}
