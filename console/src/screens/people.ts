// Strategies, the user's own profile and keys, admin (users, audit, more as the server grows)
// and risk (limits). Each screen is offered only where its endpoints exist on this server.
import { errorText, type Row } from "../api";
import { field, h, input, message, select } from "../dom";
import { makeGrid } from "../grid";
import { t } from "../i18n";
import type { Session } from "../session";
import { register } from "./registry";

function listScreen(root: HTMLElement, s: Session, title: string, path: string, fields: string[], testid: string, extra?: HTMLElement | null): () => void {
  const el = h("div");
  const grid = makeGrid(el, fields, { testid, height: "360px" });
  const err = h("div", { class: "msg" });
  const load = async (): Promise<void> => {
    try {
      grid.setGridOption("rowData", (await s.api.get<{ items: Row[] }>(path)).items);
      err.textContent = "";
    } catch (exc) {
      err.textContent = errorText(exc);
      err.className = "msg error";
    }
  };
  void load();
  root.append(h("h2", {}, title), extra ?? "", h("button", { type: "button", onclick: () => void load() }, t("refresh")), err, el);
  (root as HTMLElement & { reload?: () => Promise<void> }).reload = load;
  return () => grid.destroy();
}

function createForm(id: string, title: string, fields: HTMLElement[], run: (form: HTMLFormElement) => Promise<string>, after: () => void): HTMLFormElement {
  const msg = h("div", { class: "msg", "data-testid": `result-${id}` });
  const form: HTMLFormElement = h("form", {
    class: "card", "data-form": id,
    onsubmit: async (e: Event) => {
      e.preventDefault();
      try {
        message(msg, await run(form), true);
        after();
      } catch (exc) {
        message(msg, errorText(exc), false);
      }
    },
  }, h("h3", {}, title), ...fields, h("button", { type: "submit", "data-testid": `submit-${id}` }, t("create")), msg);
  return form;
}

register({
  id: "strategies",
  label: "nav_strategies",
  visible: (s) => s.has("GET /strategies"),
  render(root, s) {
    const holder = h("div");
    let reload = (): void => undefined;
    const form = s.tradeAccounts.length
      ? createForm("create_strategy", t("create_strategy"), [
          field(t("name"), input("name", { required: true })),
          field(t("account"), select("account_id", s.accountOptions(s.tradeAccounts))),
        ], async (f) => {
          const name = (f.querySelector('[name="name"]') as HTMLInputElement).value;
          const acc = Number((f.querySelector('[name="account_id"]') as HTMLSelectElement).value);
          const res = await s.api.post<Row>("/strategies", { name, account_ids: [acc] });
          return `strategy #${String(res["strategy_id"])}`;
        }, () => reload())
      : null;
    const cleanup = listScreen(holder, s, t("nav_strategies"), "/strategies", ["id", "name", "client_strategy_id", "account_ids", "status", "created_at"], "grid-strategies", form);
    reload = () => void (holder as HTMLElement & { reload?: () => Promise<void> }).reload?.();
    root.append(holder);
    return cleanup;
  },
});

register({
  id: "profile",
  label: "nav_profile",
  visible: () => true,
  render(root, s) {
    const p = s.profile;
    const rows: [string, string][] = [
      [t("user"), `#${p.user_id} ${p.name}`], [t("role"), p.role], [t("key_id"), String(p.api_key.id)],
      [t("key_label"), p.api_key.label ?? ""], [t("key_prefix"), p.api_key.prefix],
    ];
    const el = h("div");
    const grid = makeGrid(el, ["id", "label", "exchange_id", "can_read", "can_trade", "can_close_position", "can_risk_manage", "can_block_new_positions", "can_block_account", "restrict_to_strategies", "strategy_ids"], { testid: "grid-permissions", height: "240px" });
    grid.setGridOption("rowData", s.accounts.map((a) => ({ id: a.id, label: a.label, exchange_id: a.exchange_id, ...(a.permissions ?? {}) })));
    const cleanups = [() => grid.destroy()];
    root.append(h("h2", {}, t("nav_profile")),
      h("table", { class: "kv", "data-testid": "profile" }, ...rows.map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, v)))),
      h("h3", {}, t("permissions")), el);
    if (s.has("GET /user/api-keys")) {
      const keys = h("div");
      cleanups.push(listScreen(keys, s, t("nav_admin_keys"), "/user/api-keys", ["id", "label", "prefix", "kind", "status", "expires_at", "last_used_at", "created_at"], "grid-my-keys"));
      root.append(keys);
    }
    return () => cleanups.forEach((c) => c());
  },
});

register({
  id: "admin-users",
  label: "nav_admin_users",
  group: "admin",
  visible: (s) => s.isAdmin && s.has("GET /admin/users"),
  render(root, s) {
    const holder = h("div");
    let reload = (): void => undefined;
    const form = s.has("POST /admin/users")
      ? createForm("create_user", t("create_user"), [
          field(t("name"), input("name", { required: true })),
          field(t("role"), select("role", ["trader", "portfolio_manager", "robot", "risk", "readonly", "admin"].map((r): [string, string] => [r, r]))),
        ], async (f) => {
          const name = (f.querySelector('[name="name"]') as HTMLInputElement).value;
          const role = (f.querySelector('[name="role"]') as HTMLSelectElement).value;
          const res = await s.api.post<Row>("/admin/users", { name, role });
          return `user #${String(res["id"])} ${String(res["name"])}`;
        }, () => reload())
      : null;
    const cleanup = listScreen(holder, s, t("nav_admin_users"), "/admin/users", ["id", "name", "role", "status", "created_at"], "grid-users", form);
    reload = () => void (holder as HTMLElement & { reload?: () => Promise<void> }).reload?.();
    root.append(holder);
    return cleanup;
  },
});

register({
  id: "admin-audit",
  label: "nav_admin_audit",
  group: "admin",
  visible: (s) => s.isAdmin && s.has("GET /admin/audit"),
  render(root, s) {
    return listScreen(root, s, t("nav_admin_audit"), "/admin/audit", ["id", "created_at", "action", "target_type", "target_id", "actor_user_id", "actor_api_key_id", "comment"], "grid-audit");
  },
});

// Admin screens for endpoints another branch adds: listed here, offered once the server has them.
for (const [id, label, path, fields] of [
  ["admin-keys", "nav_admin_keys", "/admin/users-api-keys", ["id", "user_id", "label", "prefix", "kind", "status", "expires_at", "created_at"]],
  ["admin-accounts", "nav_admin_accounts", "/admin/accounts", ["id", "label", "exchange_id", "position_mode", "status", "is_testnet", "has_credentials", "credentials_updated_at"]],
] as const) {
  register({
    id, label, group: "admin",
    visible: (s) => s.isAdmin && s.has(`GET ${path}`),
    render: (root, s) => listScreen(root, s, t(label), path, [...fields], `grid-${id}`),
  });
}

const LIMIT_FIELDS = ["max_open_positions", "max_open_positions_per_symbol", "max_order_qty", "max_order_notional", "min_order_notional", "max_position_notional", "max_open_orders_per_symbol", "daily_loss_limit", "max_commands_per_minute"];
const INT_LIMITS = new Set(["max_open_positions", "max_open_positions_per_symbol", "max_open_orders_per_symbol", "max_commands_per_minute"]);

register({
  id: "risk",
  label: "nav_risk",
  group: "risk",
  visible: (s) => s.has("GET /oms/risk/{account_id}/limits") && s.accounts.some((a) => s.canRisk(a) || s.isAdmin),
  render(root, s) {
    const accounts = s.accounts.filter((a) => s.canRisk(a) || s.isAdmin);
    const acc = select("risk_account", s.accountOptions(accounts));
    const strategy = input("risk_strategy", { value: "0", inputmode: "numeric", size: 6 });
    const current = h("pre", { class: "json", "data-testid": "risk-current" });
    const msg = h("div", { class: "msg", "data-testid": "result-risk_limits" });
    const canWrite = (): boolean => s.has("PUT /oms/risk/{account_id}/limits") && accounts.some((a) => String(a.id) === acc.value && s.canRisk(a));
    const inputs = LIMIT_FIELDS.map((f) => input(f, { inputmode: INT_LIMITS.has(f) ? "numeric" : "decimal" }));
    const symbols = input("symbol_allowlist", { placeholder: "BTC/USDT, ETH/USDT" });
    const comment = input("risk_comment", { required: true });
    let generation = 0;
    const load = async (): Promise<void> => {
      const mine = ++generation;
      // inputs stay disabled until the newest read is shown, so nothing typed is overwritten
      form.querySelectorAll("input, button[type=submit]").forEach((el) => ((el as HTMLInputElement).disabled = true));
      strategy.disabled = false;
      try {
        const res = await s.api.get<Row>(`/oms/risk/${acc.value}/limits`);
        if (mine !== generation) return;
        current.textContent = JSON.stringify(res, null, 2);
        const sid = strategy.value.trim() || "0";
        const values = (sid === "0" ? res["account"] : (res["strategies"] as Row | undefined)?.[sid]) as Row | undefined;
        for (const el of inputs) el.value = values?.[el.name] == null ? "" : String(values[el.name]);
        const list = values?.["symbol_allowlist"];
        symbols.value = Array.isArray(list) ? list.join(", ") : "";
        form.querySelectorAll("input, button[type=submit]").forEach((el) => ((el as HTMLInputElement).disabled = !canWrite()));
        acc.disabled = false;
        strategy.disabled = false;
      } catch (exc) {
        message(msg, errorText(exc), false);
      }
    };
    const form: HTMLFormElement = h("form", {
      class: "card", "data-form": "risk_limits",
      onsubmit: async (e: Event) => {
        e.preventDefault();
        const body: Row = { strategy_id: Number(strategy.value || "0"), comment: comment.value };
        for (const el of inputs) body[el.name] = el.value.trim() === "" ? null : INT_LIMITS.has(el.name) ? Number(el.value) : el.value.trim();
        const list = symbols.value.split(",").map((x) => x.trim()).filter(Boolean);
        body["symbol_allowlist"] = list.length ? list : null;
        try {
          await s.api.put<Row>(`/oms/risk/${acc.value}/limits`, body);
          message(msg, t("done"), true);
          await load();
        } catch (exc) {
          message(msg, errorText(exc), false);
        }
      },
    }, h("h3", {}, t("risk_limits")), field(t("account"), acc), field(t("strategy"), strategy),
    ...inputs.map((el) => field(el.name, el)), field("symbol_allowlist", symbols), field(t("comment"), comment),
    h("button", { type: "submit", "data-testid": "submit-risk_limits" }, t("save_limits")), msg);
    acc.addEventListener("change", () => void load());
    strategy.addEventListener("change", () => void load());
    void load();
    root.append(h("h2", {}, t("nav_risk")), h("div", { class: "forms" }, form, h("section", { class: "card" }, current)));
  },
});
