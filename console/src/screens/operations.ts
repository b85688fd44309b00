// Operations: reconciliation with the exchange (run it, see each account's freshness and
// out-of-sync state), reassigning orders to a strategy or position, and signals (the stored
// signals of an account with their outcome; send one). Forms are built from the server's schemas.
import type { Row } from "../api";
import { field, h, select } from "../dom";
import { makeGrid } from "../grid";
import { t, valueLabel } from "../i18n";
import { endpointForm } from "../schemaform";
import type { Account, Session } from "../session";
import { gridLoader, tabs } from "./common";
import { register } from "./registry";

const RECONCILE_ROLES = new Set(["trader", "portfolio_manager", "risk"]);
const STATUS_FIELDS = ["account_id", "status", "age_seconds", "updated_at", "out_of_sync", "blocks_new_positions", "cursor_value", "last_run"];
const SIGNAL_FIELDS = ["id", "created_at", "signal_id", "status", "symbol", "strategy_id", "auth", "api_key_id", "command_id", "error", "body"];

/** security.md: reconcile = trader, portfolio_manager, risk with can_trade or can_risk_manage. */
function canReconcile(s: Session, a: Account): boolean {
  return RECONCILE_ROLES.has(s.profile.role) && Boolean(a.permissions?.can_trade || a.permissions?.can_risk_manage);
}

function reconcileTab(s: Session, cleanups: (() => void)[]): HTMLElement {
  const el = h("div");
  const grid = makeGrid(el, STATUS_FIELDS, { testid: "grid-reconcile-status", height: "260px", rowId: (r) => String(r["account_id"]) });
  cleanups.push(() => grid.destroy());
  const err = h("div", { class: "msg" });
  const load = gridLoader(grid, err, () => s.api.get<{ items: Row[] }>("/oms/reconcile/status").then((r) => r.items));
  void load();
  // runs of every account arrive as events: re-read at most every half second
  let pending: number | null = null;
  const off = s.live.onEvent((ev) => {
    if (ev.event !== "reconciliation_tick" && ev.event !== "account_out_of_sync") return;
    if (pending === null) pending = window.setTimeout(() => { pending = null; void load(); }, 500);
  });
  cleanups.push(off, () => { if (pending !== null) window.clearTimeout(pending); });
  const mine = s.accounts.filter((a) => canReconcile(s, a));
  const form = mine.length
    ? endpointForm(s, "POST", "/oms/reconcile", { id: "reconcile", title: t("reconcile"), after: () => void load(), accounts: mine })
    : null;
  return h("div", {}, h("div", { class: "forms" }, form),
    h("h3", {}, t("reconcile_status")), h("button", { type: "button", onclick: () => void load() }, t("refresh")), err, el);
}

function reassignTab(s: Session): HTMLElement {
  // security.md: reassign = portfolio_manager with can_trade on the account
  const mine = s.profile.role === "portfolio_manager" ? s.accounts.filter((a) => a.permissions?.can_trade) : [];
  const form = mine.length ? endpointForm(s, "POST", "/oms/reassign", { id: "reassign", title: t("reassign"), accounts: mine }) : null;
  return h("div", { class: "forms" }, form ?? h("p", { class: "msg" }, t("no_trading")));
}

function signalsTab(s: Session, cleanups: (() => void)[]): HTMLElement {
  const readable = s.accounts.filter((a) => s.canRead(a));
  const acc = select("signals_account", s.accountOptions(readable));
  const status = select("signals_status", [["", t("all")], ...["accepted", "shadowed", "refused"].map((v): [string, string] => [v, valueLabel(v)])]);
  const el = h("div");
  const grid = makeGrid(el, SIGNAL_FIELDS, { testid: "grid-signals", height: "300px" });
  cleanups.push(() => grid.destroy());
  const err = h("div", { class: "msg" });
  const load = gridLoader(grid, err, () => (acc.value
    ? s.api.get<{ items: Row[] }>(`/signals/${acc.value}`, { status: status.value || undefined }).then((r) => r.items)
    : null));
  acc.addEventListener("change", () => void load());
  status.addEventListener("change", () => void load());
  void load();
  const form = s.tradeAccounts.length ? endpointForm(s, "POST", "/signals/{account_id}", { id: "send_signal", title: t("send_signal"), after: () => void load(), accounts: s.tradeAccounts }) : null;
  return h("div", {}, h("div", { class: "forms" }, form),
    h("div", { class: "filters" }, field(t("account"), acc), field(t("status"), status),
      h("button", { type: "button", "data-testid": "signals-refresh", onclick: () => void load() }, t("refresh"))), err, el);
}

register({
  id: "operations",
  label: "nav_operations",
  visible: (s) => s.has("GET /oms/reconcile/status") || s.has("GET /signals/{account_id}"),
  render(root, s) {
    const cleanups: (() => void)[] = [];
    const items: [string, string, () => HTMLElement][] = [];
    if (s.has("GET /oms/reconcile/status")) items.push(["reconcile", t("reconcile"), () => reconcileTab(s, cleanups)]);
    if (s.has("POST /oms/reassign") && s.profile.role === "portfolio_manager") items.push(["reassign", t("reassign"), () => reassignTab(s)]);
    if (s.has("GET /signals/{account_id}")) items.push(["signals", t("signals"), () => signalsTab(s, cleanups)]);
    root.append(h("h2", {}, t("nav_operations")), tabs(items));
    return () => cleanups.forEach((c) => c());
  },
});
