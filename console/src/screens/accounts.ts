// Accounts overview: every account the key sees, its mode, status, risk state, out_of_sync,
// open positions and unrealised PnL (from /oms/portfolio, summed exactly).
import { errorText, type Row } from "../api";
import { sum } from "../decimal";
import { h } from "../dom";
import { makeGrid } from "../grid";
import { t } from "../i18n";
import { register } from "./registry";

const FIELDS = ["id", "label", "exchange_id", "environment", "position_mode", "status", "allow_new_positions", "shadow", "out_of_sync", "out_of_sync_blocks", "open_positions", "unrealized_pnl", "realized_pnl_open", "permissions"];

register({
  id: "accounts",
  label: "nav_accounts",
  visible: () => true,
  render(root, s) {
    const el = h("div");
    const grid = makeGrid(el, FIELDS, { testid: "grid-accounts", height: "300px" });
    const err = h("div", { class: "msg" });
    const load = async (): Promise<void> => {
      try {
        s.accounts = (await s.api.get<{ items: typeof s.accounts }>("/oms/accounts")).items;
        const readable = s.accounts.filter((a) => s.canRead(a)).map((a) => a.id).join(",");
        const portfolio = readable ? await s.api.get<{ items: Row[] }>("/oms/portfolio", { account_ids: readable }) : { items: [] };
        const positions = portfolio.items.flatMap((it) => (it["positions"] ?? []) as Row[]);
        const rows = s.accounts.map((a) => {
          const mine = positions.filter((p) => p["account_id"] === a.id);
          const flags = a.permissions ? Object.entries(a.permissions).filter(([, v]) => v === true).map(([k]) => k.replace(/^can_/, "")).join(" ") : s.profile.role;
          return {
            ...a, permissions: flags, open_positions: String(mine.length),
            unrealized_pnl: sum(mine.map((p) => (p["unrealized_pnl"] as string | null) ?? "0")),
            realized_pnl_open: sum(mine.map((p) => (p["realized_pnl"] as string | null) ?? "0")),
          } as Row;
        });
        grid.setGridOption("rowData", rows);
        err.textContent = "";
      } catch (exc) {
        err.textContent = errorText(exc);
        err.className = "msg error";
      }
    };
    void load();
    let pending: number | null = null;
    const off = s.live.onEvent((ev) => {
      if (!ev.event.startsWith("position_") && ev.namespace !== "risk" && ev.event !== "account_out_of_sync") return;
      if (pending === null) pending = window.setTimeout(() => { pending = null; void load(); }, 500);
    });
    root.append(h("h2", {}, t("nav_accounts")), h("button", { type: "button", onclick: () => void load() }, t("refresh")), err, el);
    return () => { off(); if (pending !== null) window.clearTimeout(pending); grid.destroy(); };
  },
});
