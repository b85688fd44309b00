// Accounts overview: every account the key sees, its mode, status, risk state, out_of_sync, and
// its live balance sheet: balance (from /oms/portfolio, re-read when the books change), open
// positions, unrealised PnL and equity from the live books and marks (pnl.ts), moving with
// every price, with no click.
import { errorText, type Row } from "../api";
import { sum } from "../decimal";
import { h } from "../dom";
import { makeGrid, refit } from "../grid";
import { t } from "../i18n";
import { accountFigures, type AccountFigures } from "../pnl";
import type { Session } from "../session";
import { register } from "./registry";

const LIVE = ["unrealized_pnl", "equity", "open_positions", "realized_pnl_open"];
const FIELDS = ["id", "label", "exchange_id", "environment", "position_mode", "status", "currency", "balance", "unrealized_pnl", "equity", "open_positions", "realized_pnl_open", "allow_new_positions", "shadow", "out_of_sync", "out_of_sync_blocks", "permissions"];

/** The balance the account's PnL is counted in: USDT, else USD, else its first currency. */
function mainBalance(balances: Row[]): Row | undefined {
  return balances.find((b) => b["currency"] === "USDT") ?? balances.find((b) => b["currency"] === "USD") ?? balances[0];
}

function liveFigures(s: Session): (r: Row) => AccountFigures | null {
  return (r) => {
    if (r["balance"] == null) return null;
    const mine = [...s.live.books.positions.values()].filter((p) => p["account_id"] === r["id"]);
    return accountFigures(mine, (p) => s.marks.mark(p), String(r["balance"]));
  };
}

register({
  id: "accounts",
  label: "nav_accounts",
  visible: () => true,
  render(root, s) {
    const el = h("div");
    const live = liveFigures(s);
    const openOf = (r: Row): Row[] => [...s.live.books.positions.values()].filter((p) => p["account_id"] === r["id"]);
    const grid = makeGrid(el, FIELDS, {
      testid: "grid-accounts", height: "240px",
      computed: {
        unrealized_pnl: (r) => live(r)?.unrealized_pnl ?? null,
        equity: (r) => live(r)?.equity ?? null,
        open_positions: (r) => String(openOf(r).length),
        realized_pnl_open: (r) => sum(openOf(r).map((p) => (p["realized_pnl"] as string | null) ?? "0")),
      },
    });
    const err = h("div", { class: "msg" });
    const load = async (): Promise<void> => {
      try {
        s.accounts = (await s.api.get<{ items: typeof s.accounts }>("/oms/accounts")).items;
        const readable = s.accounts.filter((a) => s.canRead(a)).map((a) => a.id).join(",");
        const portfolio = readable ? await s.api.get<{ items: Row[] }>("/oms/portfolio", { account_ids: readable }) : { items: [] };
        if (grid.isDestroyed()) return; // the screen was left while the answers were on their way
        const balances = new Map(portfolio.items.map((it) => [Number(it["account_id"]), mainBalance((it["balances"] ?? []) as Row[])]));
        const rows = s.accounts.map((a) => {
          const flags = a.permissions ? Object.entries(a.permissions).filter(([, v]) => v === true).map(([k]) => k.replace(/^can_/, "")).join(" ") : s.profile.role;
          const b = balances.get(a.id);
          return { ...a, permissions: flags, currency: b?.["currency"] ?? null, balance: b?.["total"] ?? null } as Row;
        });
        grid.setGridOption("rowData", rows);
        err.textContent = "";
      } catch (exc) {
        err.textContent = errorText(exc);
        err.className = "msg error";
      }
    };
    void load();
    const refresh = (ids: Set<string>): void => {
      const nodes = [...ids].map((id) => grid.getRowNode(id)).filter((n) => n !== undefined);
      if (!nodes.length) return;
      grid.refreshCells({ rowNodes: nodes, columns: [...LIVE] });
      refit(grid, LIVE); // a figure grown longer widens its column
    };
    const offMarks = s.marks.onChange((keys) => refresh(new Set([...keys].map((k) => k.split("|")[0] ?? ""))));
    const offBooks = s.live.books.listen((changes) => {
      refresh(new Set(changes.flatMap((c) => (c.kind === "position" ? [String(c.row["account_id"])] : []))));
      if (changes.some((c) => c.kind === "reset")) refresh(new Set(s.accounts.map((a) => String(a.id))));
    });
    // the balance moves with deals (fees, realised PnL, funding): re-read it, debounced
    let pending: number | null = null;
    const off = s.live.onEvent((ev) => {
      if (ev.event !== "deal_created" && ev.namespace !== "risk" && ev.event !== "account_out_of_sync") return;
      if (pending === null) pending = window.setTimeout(() => { pending = null; void load(); }, 500);
    });
    root.append(h("h2", {}, t("nav_accounts")), h("p", { class: "hint" }, t("equity_hint")), err, el);
    return () => { off(); offMarks(); offBooks(); if (pending !== null) window.clearTimeout(pending); grid.destroy(); };
  },
});
