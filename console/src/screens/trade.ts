// Command forms: every command of POST /oms/commands, one form each, only for accounts on which
// the key may trade (or close). Each result or error is shown as the API says it.
import { errorText, type Row } from "../api";
import { orderText, positionText } from "../books";
import { submitCommand } from "../commands";
import { field, h, input, message, select, valueOf } from "../dom";
import type { LabelKey } from "../i18n/en";
import { t } from "../i18n";
import type { Account, Session } from "../session";
import { register } from "./registry";

/** Non-empty fields only: decimals stay the strings typed in (parsed exactly by the API). */
function payloadOf(form: HTMLElement, names: string[], ints: string[] = []): Row {
  const out: Row = {};
  for (const n of names) {
    const v = valueOf(form, n);
    if (v === "") continue;
    out[n] = ints.includes(n) ? Number(v) : v;
  }
  return out;
}

function positionOptions(s: Session, accountId: number): [string, string][] {
  return [...s.live.books.positions.values()]
    .filter((p) => p["account_id"] === accountId)
    .sort((a, b) => Number(a["id"]) - Number(b["id"]))
    .map((p): [string, string] => [String(p["id"]), positionText(p)]);
}

function orderOptions(s: Session, accountId: number): [string, string][] {
  return [...s.live.books.orders.values()]
    .filter((o) => o["account_id"] === accountId)
    .sort((a, b) => Number(a["id"]) - Number(b["id"]))
    .map((o): [string, string] => [String(o["id"]), orderText(o)]);
}

/** The second of two choices of positions starts on another position than the first. */
function secondChoice(name: string, options: [string, string][]): HTMLSelectElement {
  return select(name, options, options[1]?.[0] ?? "");
}

interface FormSpec {
  id: string;
  title: LabelKey;
  accounts: (s: Session) => Account[];
  fields: (s: Session, accountId: number) => HTMLElement[];
  command: string;
  payload: (form: HTMLElement) => Row;
}

function reduceOnlyOptions(s: Session, accountId: number): [string, string][] {
  const account = s.accounts.find((x) => x.id === accountId);
  return account && s.canTrade(account) ? [["false", "false"], ["true", "true"]] : [["true", "true"]];
}

const SIDE = (): HTMLSelectElement => select("side", [["buy", t("buy")], ["sell", t("sell")]]);

const FORMS: FormSpec[] = [
  {
    id: "send_order", title: "send_order", command: "send_order", accounts: (s) => s.sendAccounts,
    fields: (s, a) => [
      field(t("symbol"), input("symbol", { value: "BTC/USDT", required: true })),
      field(t("side"), SIDE()),
      field(t("order_type"), select("order_type", [["market", t("market")], ["limit", t("limit")], ["stop", t("stop")], ["stop_limit", t("stop_limit")]])),
      field(t("qty"), input("qty", { required: true, inputmode: "decimal" })),
      field(`${t("price")} (${t("optional")})`, input("price", { inputmode: "decimal" })),
      field(`${t("trigger_price")} (${t("optional")})`, input("trigger_price", { inputmode: "decimal" })),
      field(`${t("stop_loss")} (${t("optional")})`, input("oms_stop_loss", { inputmode: "decimal" })),
      field(`${t("take_profit")} (${t("optional")})`, input("oms_stop_gain", { inputmode: "decimal" })),
      field(`${t("strategy")} (${t("optional")})`, input("strategy_id", { inputmode: "numeric" })),
      field(`${t("position")} (${t("optional")})`, input("position_id", { inputmode: "numeric" })),
      field(`${t("comment")} (${t("optional")})`, input("comment")),
      // a key that may only close (can_close_position without can_trade) sends reduce-only orders
      field(t("reduce_only"), select("reduce_only", reduceOnlyOptions(s, a))),
    ],
    payload: (f) => {
      const body = payloadOf(f, ["symbol", "side", "order_type", "qty", "price", "trigger_price", "oms_stop_loss", "oms_stop_gain", "strategy_id", "position_id", "comment"], ["strategy_id", "position_id"]);
      if (valueOf(f, "reduce_only") === "true") body["reduce_only"] = true;
      return body;
    },
  },
  {
    id: "change_order", title: "change_order", command: "change_order", accounts: (s) => s.tradeAccounts,
    fields: (s, a) => [
      field(t("order"), select("order_id", orderOptions(s, a))),
      field(`${t("new_price")} (${t("optional")})`, input("new_price", { inputmode: "decimal" })),
      field(`${t("new_qty")} (${t("optional")})`, input("new_qty", { inputmode: "decimal" })),
    ],
    payload: (f) => payloadOf(f, ["order_id", "new_price", "new_qty"], ["order_id"]),
  },
  {
    id: "cancel_order", title: "cancel_order", command: "cancel_order", accounts: (s) => s.cancelAccounts,
    fields: (s, a) => [field(t("order"), select("order_id", orderOptions(s, a)))],
    payload: (f) => payloadOf(f, ["order_id"], ["order_id"]),
  },
  {
    id: "cancel_all_orders", title: "cancel_all", command: "cancel_all_orders", accounts: (s) => s.cancelAccounts,
    fields: () => [field(`${t("symbol")} (${t("optional")})`, input("symbol"))],
    payload: (f) => payloadOf(f, ["symbol"]),
  },
  {
    id: "close_position", title: "close_position", command: "close_position", accounts: (s) => s.closeAccounts,
    fields: (s, a) => [
      field(t("position"), select("position_id", positionOptions(s, a))),
      field(`${t("qty")} (${t("optional")}: ${t("close_qty_hint")})`, input("qty", { inputmode: "decimal" })),
      field(t("order_type"), select("order_type", [["market", t("market")], ["limit", t("limit")]])),
      field(`${t("price")} (${t("optional")})`, input("price", { inputmode: "decimal" })),
    ],
    payload: (f) => payloadOf(f, ["position_id", "qty", "order_type", "price"], ["position_id"]),
  },
  {
    id: "close_by", title: "close_by", command: "close_by", accounts: (s) => s.closeAccounts.filter((a) => a.position_mode === "hedge"),
    fields: (s, a) => [
      field(t("position_a"), select("position_id_a", positionOptions(s, a))),
      field(t("position_b"), secondChoice("position_id_b", positionOptions(s, a))),
      field(`${t("qty")} (${t("optional")})`, input("qty", { inputmode: "decimal" })),
    ],
    payload: (f) => payloadOf(f, ["position_id_a", "position_id_b", "qty"], ["position_id_a", "position_id_b"]),
  },
  {
    id: "merge_positions", title: "merge", command: "merge_positions", accounts: (s) => s.tradeAccounts.filter((a) => a.position_mode === "hedge"),
    fields: (s, a) => [
      field(t("source_position"), select("source_position_id", positionOptions(s, a))),
      field(t("target_position"), secondChoice("target_position_id", positionOptions(s, a))),
      field(t("stop_mode"), select("stop_mode", [["keep", "keep"], ["clear", "clear"]])),
    ],
    payload: (f) => payloadOf(f, ["source_position_id", "target_position_id", "stop_mode"], ["source_position_id", "target_position_id"]),
  },
  {
    id: "position_change", title: "position_change", command: "position_change", accounts: (s) => s.tradeAccounts,
    fields: (s, a) => [
      field(t("position"), select("position_id", positionOptions(s, a))),
      field(`${t("stop_loss")} (${t("optional")})`, input("oms_stop_loss", { inputmode: "decimal" })),
      field(`${t("take_profit")} (${t("optional")})`, input("oms_stop_gain", { inputmode: "decimal" })),
      field(`${t("comment")} (${t("optional")})`, input("comment")),
    ],
    payload: (f) => payloadOf(f, ["position_id", "oms_stop_loss", "oms_stop_gain", "comment"], ["position_id"]),
  },
];

function buildForm(s: Session, spec: FormSpec, accounts: Account[]): { el: HTMLElement; refresh: () => void } {
  const accSel = select("account_id", s.accountOptions(accounts));
  const body = h("div", { class: "fields" });
  const msg = h("div", { class: "msg", "data-testid": `result-${spec.id}`, role: "status" });
  const fill = (): void => {
    // keep what the user typed in inputs when the option lists refresh
    const typed = new Map<string, string>();
    body.querySelectorAll<HTMLInputElement | HTMLSelectElement>("[name]").forEach((el) => typed.set(el.name, el.value));
    body.replaceChildren(...spec.fields(s, Number(accSel.value)));
    body.querySelectorAll<HTMLInputElement | HTMLSelectElement>("[name]").forEach((el) => {
      const v = typed.get(el.name);
      if (v === undefined) return;
      if (el instanceof HTMLSelectElement && ![...el.options].some((o) => o.value === v)) return;
      el.value = v;
    });
  };
  accSel.addEventListener("change", fill);
  fill();
  const button = h("button", { type: "submit", "data-testid": `submit-${spec.id}` }, t("submit"));
  const el = h("form", {
    class: "card command", "data-form": spec.id,
    onsubmit: async (e: Event) => {
      e.preventDefault();
      button.disabled = true;
      msg.textContent = t("loading");
      msg.className = "msg";
      try {
        message(msg, await submitCommand(s, Number(accSel.value), spec.command, spec.payload(body)), true);
      } catch (exc) {
        message(msg, errorText(exc), false);
      } finally {
        button.disabled = false;
      }
    },
  }, h("h3", {}, t(spec.title)), field(t("account"), accSel), body, button, msg);
  return { el, refresh: fill };
}

register({
  id: "trade",
  label: "nav_trade",
  visible: (s) => s.sendAccounts.length > 0 || s.cancelAccounts.length > 0,
  render(root, s) {
    const built = FORMS.map((spec) => [spec, spec.accounts(s)] as const)
      .filter(([, accounts]) => accounts.length > 0)
      .map(([spec, accounts]) => buildForm(s, spec, accounts));
    let pending: number | null = null;
    const off = s.live.books.listen((changes) => {
      if (!changes.some((c) => c.kind !== "deal")) return;
      if (pending !== null) return;
      pending = window.setTimeout(() => {
        pending = null;
        const active = document.activeElement;
        for (const f of built) {
          // never rebuild a form while the user is in it (typing a quantity, choosing a
          // position): replacing the focused input mid-typing loses what is typed. Its option
          // lists follow when focus leaves the form.
          if (f.el.contains(active)) stale.add(f);
          else f.refresh();
        }
      }, 100);
    });
    const stale = new Set<(typeof built)[number]>();
    for (const f of built) {
      f.el.addEventListener("focusout", (e: FocusEvent) => {
        if (stale.has(f) && !(e.relatedTarget instanceof Node && f.el.contains(e.relatedTarget))) {
          stale.delete(f);
          f.refresh();
        }
      });
    }
    root.append(h("h2", {}, t("nav_trade")), h("div", { class: "forms" }, ...built.map((b) => b.el)));
    return () => {
      off();
      if (pending !== null) window.clearTimeout(pending);
    };
  },
});
