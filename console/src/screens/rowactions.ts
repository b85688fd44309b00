// Actions on the rows of the live books, as in a trading terminal: close a position (all or
// part, market or limit) and change or remove its SL/TP (an emptied field removes it); cancel an
// order and change its price or qty.
// Each opens a short confirmation (a modal <dialog>: Enter confirms, Esc leaves) and the
// outcome is shown on the row. Keys on a focused row: C close, S SL/TP, X or Delete cancel,
// M modify. Only what the key may do on the row's account is offered (session.ts).
import type { CellKeyDownEvent, ColDef, GridApi, ICellRendererParams } from "ag-grid-community";
import { errorText, type Row } from "../api";
import { orderText, positionText } from "../books";
import { field, h, input, message, pending, select } from "../dom";
import { buttonsWidth } from "../grid";
import type { LabelKey } from "../i18n/en";
import { t } from "../i18n";
import type { Account, Session } from "../session";
import { submitCommand } from "../commands";

export type RowKind = "position" | "order";
type ActionId = "close" | "sltp" | "cancel" | "modify";

interface ActionSpec {
  id: ActionId;
  label: LabelKey;
  keys: string[];
  allowed: (s: Session, a: Account) => boolean;
  command: string;
  /** the fields of the confirmation, prefilled from the row */
  fields: (row: Row, s: Session) => HTMLElement[];
  /** the command's payload from the confirmation's fields */
  payload: (row: Row, f: HTMLFormElement) => Row;
  summary: (row: Row) => string;
}

function value(f: HTMLFormElement, name: string): string {
  return (f.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement | null)?.value.trim() ?? "";
}

function text(v: unknown): string {
  return v === null || v === undefined ? "" : String(v);
}

/** The fields that differ from the row's current values. An emptied field whose value the
 * command may remove (`clearable`: a position's SL or TP) is sent as null, which removes it;
 * otherwise an empty field is left out (unchanged). */
function changed(f: HTMLFormElement, pairs: [string, unknown][], clearable = false): Row {
  const out: Row = {};
  for (const [name, current] of pairs) {
    const v = value(f, name);
    if (v === "" ? clearable && text(current) !== "" : v !== text(current)) out[name] = v === "" ? null : v;
  }
  return out;
}


export const ACTIONS: Record<RowKind, ActionSpec[]> = {
  position: [
    {
      id: "close", label: "act_close", keys: ["c"], command: "close_position",
      allowed: (s, a) => s.canClose(a), summary: positionText,
      fields: (row, s) => {
        const type = select("order_type", [["market", t("market")], ["limit", t("limit")]]);
        const price = input("price", { inputmode: "decimal", value: s.marks.mark(row) ?? "" });
        const priceField = field(t("price"), price);
        priceField.hidden = true;
        type.addEventListener("change", () => (priceField.hidden = type.value !== "limit"));
        return [field(`${t("qty")} (${t("close_qty_hint")})`, input("qty", { inputmode: "decimal", value: text(row["qty"]), required: true })),
          field(t("order_type"), type), priceField];
      },
      payload: (row, f) => {
        const body: Row = { position_id: Number(row["id"]), order_type: value(f, "order_type") };
        const qty = value(f, "qty");
        if (qty !== text(row["qty"])) body["qty"] = qty; // all: no qty, the whole position
        if (body["order_type"] === "limit") body["price"] = value(f, "price");
        return body;
      },
    },
    {
      id: "sltp", label: "act_sltp", keys: ["s"], command: "position_change",
      allowed: (s, a) => s.canTrade(a), summary: positionText,
      fields: (row) => [
        field(t("stop_loss"), input("oms_stop_loss", { inputmode: "decimal", value: text(row["stop_loss"]) })),
        field(t("take_profit"), input("oms_stop_gain", { inputmode: "decimal", value: text(row["stop_gain"]) })),
      ],
      payload: (row, f) => ({ position_id: Number(row["id"]),
        ...changed(f, [["oms_stop_loss", row["stop_loss"]], ["oms_stop_gain", row["stop_gain"]]], true) }),
    },
  ],
  order: [
    {
      id: "cancel", label: "act_cancel", keys: ["x", "Delete"], command: "cancel_order",
      allowed: (s, a) => s.canCancel(a), summary: orderText,
      fields: () => [],
      payload: (row) => ({ order_id: Number(row["id"]) }),
    },
    {
      id: "modify", label: "act_modify", keys: ["m"], command: "change_order",
      allowed: (s, a) => s.canTrade(a), summary: orderText,
      fields: (row) => [
        field(t("new_price"), input("new_price", { inputmode: "decimal", value: text(row["price"]) })),
        field(t("new_qty"), input("new_qty", { inputmode: "decimal", value: text(row["qty"]) })),
      ],
      payload: (row, f) => ({ order_id: Number(row["id"]),
        ...changed(f, [["new_price", row["price"]], ["new_qty", row["qty"]]]) }),
    },
  ],
};

let shared: HTMLDialogElement | null = null;

/** The page's one confirmation dialog (every grid's actions use it: one is open at a time). */
function actionDialog(): HTMLDialogElement {
  if (!shared || !shared.isConnected) {
    const dialog = h("dialog", { class: "card action", "data-testid": "action-dialog" });
    // a closed dialog keeps nothing of the last action (what it named is not confirmed again)
    dialog.addEventListener("close", () => dialog.replaceChildren());
    document.body.append(dialog);
    shared = dialog;
  }
  return shared;
}

export interface RowActions {
  /** the actions column, or null when the key may take none of them on any account */
  column: ColDef<Row> | null;
  onKey: (e: CellKeyDownEvent<Row>) => void;
  /** the outcome of the last action (also shown on its row while the row exists) */
  status: HTMLElement;
  attach(grid: GridApi<Row>): void;
  destroy(): void;
}

export function rowActions(s: Session, kind: RowKind): RowActions {
  const specs = ACTIONS[kind];
  const account = (row: Row): Account | undefined => s.accounts.find((a) => a.id === Number(row["account_id"]));
  const mayOn = (row: Row): ActionSpec[] => {
    const a = account(row);
    return a ? specs.filter((sp) => sp.allowed(s, a)) : [];
  };
  const any = s.accounts.some((a) => specs.some((sp) => sp.allowed(s, a)));
  const results = new Map<string, { ok: boolean; text: string }>();
  const status = h("div", { class: "msg", "data-testid": `${kind}-action-result`, role: "status" });
  const dialog = actionDialog();
  let grid: GridApi<Row> | null = null;

  const show = (row: Row, ok: boolean, msg: string): void => {
    const id = text(row["id"]);
    results.set(id, { ok, text: msg });
    message(status, `#${id}: ${msg}`, ok);
    if (!grid || grid.isDestroyed()) return; // the screen was left while the command ran
    const node = grid.getRowNode(id);
    if (node) grid.refreshCells({ rowNodes: [node], columns: ["actions"], force: true });
  };

  const open = (spec: ActionSpec, row: Row): void => {
    const msg = h("div", { class: "msg", "data-testid": "action-result", role: "status" });
    const confirm = h("button", { type: "submit", "data-testid": "action-confirm" }, t(spec.label));
    const form: HTMLFormElement = h("form", {
      method: "dialog", "data-form": `row-${spec.id}`,
      onsubmit: async (e: Event) => {
        e.preventDefault();
        confirm.disabled = true;
        pending(msg);
        try {
          const a = account(row);
          if (!a) throw new Error("account not visible");
          const res = await submitCommand(s, a.id, spec.command, spec.payload(row, form));
          show(row, true, res);
          dialog.close();
        } catch (exc) {
          message(msg, errorText(exc), false);
          show(row, false, errorText(exc));
        } finally {
          confirm.disabled = false;
        }
      },
    }, h("h3", {}, `${t(spec.label)} · ${spec.summary(row)}`), ...spec.fields(row, s),
    h("div", { class: "actions-bar" }, confirm,
      h("button", { type: "button", class: "secondary", "data-testid": "action-dismiss", onclick: () => dialog.close() }, t("dismiss"))), msg);
    dialog.replaceChildren(form);
    dialog.showModal();
    (form.querySelector("input, select") as HTMLElement | null ?? confirm).focus();
  };

  const column: ColDef<Row> | null = any ? {
    colId: "actions", headerName: t("actions"), pinned: "right", width: buttonsWidth(specs.map((sp) => t(sp.label))),
    sortable: false, filter: false, resizable: true, suppressHeaderMenuButton: true,
    cellRenderer: (p: ICellRendererParams<Row>) => {
      const row = p.data;
      if (!row) return "";
      const id = text(row["id"]);
      const result = results.get(id);
      return h("span", { class: "row-actions" },
        ...mayOn(row).map((sp) => h("button", {
          type: "button", class: "mini", "data-testid": `act-${sp.id}-${id}`, title: `${t(sp.label)} (${sp.keys[0]?.toUpperCase() ?? ""})`,
          onclick: () => open(sp, row),
        }, t(sp.label))),
        result ? h("span", { class: result.ok ? "ok" : "error", "data-testid": `row-result-${id}`, title: result.text }, result.ok ? "✓" : "✗") : null);
    },
  } : null;

  return {
    column,
    status,
    attach: (g) => { grid = g; },
    onKey: (e) => {
      const ev = e.event as KeyboardEvent | null;
      const row = e.data;
      if (!ev || !row || ev.ctrlKey || ev.metaKey || ev.altKey) return;
      const spec = mayOn(row).find((sp) => sp.keys.includes(ev.key) || sp.keys.includes(ev.key.toLowerCase()));
      if (!spec) return;
      ev.preventDefault();
      // after the grid has handled the key (it keeps focus on its cell): the dialog takes it
      window.setTimeout(() => open(spec, row), 0);
    },
    destroy: () => { if (dialog.open) dialog.close(); },
  };
}
