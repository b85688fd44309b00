// Strategies, the user's own profile and keys, admin (users, audit, more as the server grows)
// and risk (limits). Each screen is offered only where its endpoints exist on this server.
import { errorText, type Query, type Row } from "../api";
import { field, h, input, message, select } from "../dom";
import { makeGrid } from "../grid";
import { fieldLabel, t } from "../i18n";
import { endpointForm, formsRow, refreshAccountChoices } from "../schemaform";
import type { Session } from "../session";
import { gridLoader, pagedGrid } from "./common";
import { register } from "./registry";

/** After an account is added or changed: the session's account list (selects, flags) follows. */
async function refreshAccounts(s: Session): Promise<void> {
  s.accounts = (await s.api.get<{ items: typeof s.accounts }>("/oms/accounts")).items;
  refreshAccountChoices(s);
}

interface ListOptions {
  /** the row's id when it is not `id` (e.g. `strategy_id`) */
  rowId?: (r: Row) => string;
  /** shape an item for the grid (e.g. a list of objects shown as text) */
  row?: (r: Row) => Row;
}

function listScreen(root: HTMLElement, s: Session, title: string, path: string, fields: string[], testid: string, extra?: HTMLElement | null, opts: ListOptions = {}): () => void {
  const el = h("div");
  const grid = makeGrid(el, fields, { testid, height: "360px", rowId: opts.rowId });
  const err = h("div", { class: "msg" });
  const load = gridLoader(grid, err, () => s.api.get<{ items: Row[] }>(path).then((r) => (opts.row ? r.items.map(opts.row) : r.items)));
  void load();
  root.append(h("h2", {}, title), extra ?? "", h("button", { type: "button", onclick: () => void load() }, t("refresh")), err, el);
  (root as HTMLElement & { reload?: () => Promise<void> }).reload = load;
  return () => grid.destroy();
}

register({
  id: "strategies",
  label: "nav_strategies",
  visible: (s) => s.has("GET /strategies"),
  render(root, s) {
    const holder = h("div");
    let reload = (): void => undefined;
    // POST /strategies: keys that may trade, on the accounts where they may
    const form = s.tradeAccounts.length
      ? endpointForm(s, "POST", "/strategies", { id: "create_strategy", title: t("create_strategy"), after: () => reload(), accounts: s.tradeAccounts })
      : null;
    const forms = s.isAdmin
      ? formsRow(form,
          endpointForm(s, "POST", "/admin/strategies", { id: "admin_create_strategy", title: t("create_strategy"), after: () => reload() }),
          endpointForm(s, "PATCH", "/admin/strategies/{strategy_id}", { id: "edit_strategy", title: t("edit_strategy"), after: () => reload() }))
      : formsRow(form);
    // GET /strategies lists `strategy_id` and `accounts` (the links, with their risk flags)
    const cleanup = listScreen(holder, s, t("nav_strategies"), "/strategies", ["strategy_id", "name", "client_strategy_id", "accounts", "status", "created_at"], "grid-strategies", forms, {
      rowId: (r) => String(r["strategy_id"]),
      row: (r) => ({ ...r, accounts: ((r["accounts"] ?? []) as Row[]).map((a) => `#${String(a["account_id"])}`).join(" ") }),
    });
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
    let reloadKeys = (): void => undefined;
    const forms = formsRow(
      endpointForm(s, "PATCH", "/user/profile", {
        id: "edit_profile", title: t("edit_profile"),
        after: (res) => { // the header and this screen follow the new name
          const name = (res as Row)["name"];
          if (typeof name !== "string") return;
          s.profile.name = name;
          const who = document.querySelector('[data-testid="who"]');
          if (who) who.textContent = `${s.profile.name} · ${s.profile.role}`;
        },
      }),
      endpointForm(s, "POST", "/user/password", { id: "change_password", title: t("change_password") }),
      endpointForm(s, "POST", "/user/api-keys", { id: "create_my_key", title: t("create_my_key"), after: () => reloadKeys() }),
      endpointForm(s, "PATCH", "/user/api-keys/{api_key_id}", { id: "edit_my_key", title: t("edit_my_key"), after: () => reloadKeys() }),
    );
    if (s.has("GET /user/api-keys")) {
      const keys = h("div");
      cleanups.push(listScreen(keys, s, t("nav_admin_keys"), "/user/api-keys", ["id", "label", "prefix", "kind", "status", "expires_at", "last_used_at", "created_at"], "grid-my-keys"));
      reloadKeys = () => void (keys as HTMLElement & { reload?: () => Promise<void> }).reload?.();
      root.append(keys);
    }
    if (forms) root.append(forms);
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
    const form = endpointForm(s, "POST", "/admin/users", { id: "create_user", title: t("create_user"), after: () => reload() });
    const forms = formsRow(form,
      endpointForm(s, "PATCH", "/admin/users/{user_id}", { id: "edit_user", title: t("edit_user"), after: () => reload() }),
      endpointForm(s, "POST", "/admin/users-with-api-key", { id: "create_user_with_key", title: t("create_user_with_key"), after: () => reload() }));
    const cleanup = listScreen(holder, s, t("nav_admin_users"), "/admin/users", ["id", "name", "role", "status", "has_password", "created_at"], "grid-users", forms);
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
    // the audit log pages over the API's paging, filtered by action, target, actor and dates
    const el = h("div");
    const grid = makeGrid(el, ["id", "created_at", "action", "target_type", "target_id", "actor_user_id", "actor_api_key_id", "comment"], { testid: "grid-audit", height: "420px" });
    const pager = pagedGrid(s, grid, "/admin/audit", "audit");
    const names = ["action", "target_type", "target_id", "actor_user_id"];
    const inputs = names.map((n) => input(`audit_${n}`, { placeholder: fieldLabel(n), size: 14 }));
    const start = input("audit_start", { type: "date" });
    const end = input("audit_end", { type: "date" });
    const query = (): Query => {
      const q: Query = {};
      names.forEach((n, i) => { const v = inputs[i]?.value.trim(); if (v) q[n] = v; });
      if (start.value) q["start_date"] = start.value;
      if (end.value) q["end_date"] = end.value;
      return q;
    };
    const filters = h("form", { class: "filters", "data-form": "audit_filters", onsubmit: (e: Event) => { e.preventDefault(); void pager.load(query(), 1); } },
      ...inputs, start, end, h("button", { type: "submit", "data-testid": "audit-apply" }, t("apply")));
    void pager.load({}, 1);
    root.append(h("h2", {}, t("nav_admin_audit")), filters, pager.el, el);
    return () => grid.destroy();
  },
});

register({
  id: "admin-accounts", label: "nav_admin_accounts", group: "admin",
  visible: (s) => s.isAdmin && s.has("GET /admin/accounts"),
  render(root, s) {
    const holder = h("div");
    const reload = (): void => {
      void (holder as HTMLElement & { reload?: () => Promise<void> }).reload?.();
      void refreshAccounts(s);
    };
    const forms = formsRow(
      endpointForm(s, "POST", "/admin/accounts", { id: "create_account", title: t("create_account"), after: reload }),
      endpointForm(s, "PATCH", "/admin/accounts/{account_id}", { id: "edit_account", title: t("edit_account"), after: reload }),
      endpointForm(s, "PUT", "/admin/accounts/{account_id}/signal-secret", { id: "signal_secret", title: t("signal_secret") }));
    const cleanup = listScreen(holder, s, t("nav_admin_accounts"), "/admin/accounts",
      ["id", "label", "exchange_id", "position_mode", "environment", "status", "allow_new_positions", "is_testnet", "has_credentials", "credentials_updated_at"], "grid-admin-accounts", forms);
    root.append(holder);
    return cleanup;
  },
});

// GET /admin/users-api-keys lists users, each with its keys: the grid shows one row per key
// (with its user's name), and a key's permissions (GET /admin/api-keys/{id}/permissions) below.
register({
  id: "admin-keys", label: "nav_admin_keys", group: "admin",
  visible: (s) => s.isAdmin && s.has("GET /admin/users-api-keys"),
  render(root, s) {
    const el = h("div");
    const grid = makeGrid(el, ["id", "user_id", "user_name", "label", "prefix", "kind", "status", "usable", "expires_at", "last_used_at", "created_at"], { testid: "grid-admin-keys", height: "320px" });
    const err = h("div", { class: "msg" });
    // one row per key, with its user's name
    const load = gridLoader(grid, err, () => s.api.get<{ items: Row[] }>("/admin/users-api-keys").then((r) =>
      r.items.flatMap((u) => ((u["api_keys"] ?? []) as Row[]).map((k) => ({ ...k, user_name: u["name"] })))));
    void load();
    root.append(h("h2", {}, t("nav_admin_keys")), h("button", { type: "button", onclick: () => void load() }, t("refresh")), err, el);
    const forms = formsRow(
      endpointForm(s, "POST", "/admin/api-keys", { id: "create_key", title: t("create_key"), after: () => void load() }),
      endpointForm(s, "PATCH", "/admin/api-keys/{api_key_id}", { id: "edit_key", title: t("edit_key"), after: () => void load() }),
      // PUT replaces the key's whole list: "load current" fills the rows from the key's grants
      // first, so adding one account does not silently drop the others
      endpointForm(s, "PUT", "/admin/api-keys/{api_key_id}/permissions", {
        id: "set_permissions", title: t("set_permissions"),
        prefill: async (p) => ({ permissions: (await s.api.get<{ items: Row[] }>(`/admin/api-keys/${p["api_key_id"] ?? ""}/permissions`)).items }),
        after: (res) => showPermissions(String((res as Row)["api_key_id"] ?? "")),
      }));
    let showPermissions = (_id: string): void => undefined;
    if (forms) root.append(forms);
    const cleanups = [() => grid.destroy()];
    if (s.has("GET /admin/api-keys/{api_key_id}/permissions")) {
      const permEl = h("div");
      const perms = makeGrid(permEl, ["account_id", "can_read", "can_trade", "can_close_position", "can_risk_manage", "can_block_new_positions", "can_block_account", "restrict_to_strategies", "strategy_ids", "allowed_functions"], { testid: "grid-admin-permissions", height: "220px", rowId: (r) => String(r["account_id"]) });
      cleanups.push(() => perms.destroy());
      const keyId = input("perm_key_id", { inputmode: "numeric", size: 6, required: true });
      const msg = h("div", { class: "msg", "data-testid": "result-permissions" });
      const form = h("form", {
        class: "filters", "data-form": "permissions",
        onsubmit: async (e: Event) => {
          e.preventDefault();
          try {
            const res = await s.api.get<{ items?: Row[]; permissions?: Row[] }>(`/admin/api-keys/${keyId.value.trim()}/permissions`);
            if (!perms.isDestroyed()) perms.setGridOption("rowData", res.items ?? res.permissions ?? []);
            message(msg, t("done"), true);
          } catch (exc) {
            message(msg, errorText(exc), false);
          }
        },
      }, field(t("key_id"), keyId), h("button", { type: "submit", "data-testid": "submit-permissions" }, t("apply")));
      showPermissions = (id) => {
        keyId.value = id;
        form.requestSubmit();
      };
      root.append(h("h3", {}, t("permissions")), form, msg, permEl);
    }
    return () => cleanups.forEach((c) => c());
  },
});

const LIMIT_FIELDS = ["max_open_positions", "max_open_positions_per_symbol", "max_order_qty", "max_order_notional", "min_order_notional", "max_position_notional", "max_open_orders_per_symbol", "daily_loss_limit", "max_commands_per_minute", "loss_breaker", "drawdown_breaker"];
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
    // what a tripped loss breaker does (docs/identity-and-risk.md → Loss breakers)
    const breakerAction = select("breaker_action", [["", "—"], ["reduce_only", t("breaker_reduce_only")], ["halted", t("breaker_halted")]]);
    const comment = input("risk_comment", { required: true });
    let generation = 0;
    // the scope's limits as read: a save keeps the ones this form does not show (a PUT
    // replaces the whole scope: collars, breakers, … set elsewhere must not be cleared)
    let shown: Row = {};
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
        shown = { ...(values ?? {}) };
        for (const el of inputs) el.value = values?.[el.name] == null ? "" : String(values[el.name]);
        const list = values?.["symbol_allowlist"];
        symbols.value = Array.isArray(list) ? list.join(", ") : "";
        breakerAction.value = values?.["breaker_action"] == null ? "" : String(values["breaker_action"]);
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
        const body: Row = { ...shown, strategy_id: Number(strategy.value || "0"), comment: comment.value };
        for (const el of inputs) {
          const v = el.value.trim();
          // a whole-number limit goes as a number; anything else as typed, for the API to refuse
          // (Number("1,000") is NaN, which JSON would send as null = "no limit")
          body[el.name] = v === "" ? null : INT_LIMITS.has(el.name) && /^\d+$/.test(v) ? Number(v) : v;
        }
        const list = symbols.value.split(",").map((x) => x.trim()).filter(Boolean);
        body["symbol_allowlist"] = list.length ? list : null;
        body["breaker_action"] = breakerAction.value || null;
        msg.className = "msg pending";
        msg.textContent = t("loading");
        try {
          await s.api.put<Row>(`/oms/risk/${acc.value}/limits`, body);
          message(msg, t("done"), true);
          await load();
        } catch (exc) {
          message(msg, errorText(exc), false);
        }
      },
    }, h("h3", {}, t("risk_limits")), field(t("account"), acc), field(t("strategy"), strategy),
    ...inputs.map((el) => field(fieldLabel(el.name), el)), field(fieldLabel("symbol_allowlist"), symbols), field(fieldLabel("breaker_action"), breakerAction), field(t("comment"), comment),
    h("button", { type: "submit", "data-testid": "submit-risk_limits" }, t("save_limits")), msg);
    acc.addEventListener("change", () => void load());
    strategy.addEventListener("change", () => void load());
    void load();
    root.append(h("h2", {}, t("nav_risk")));
    const kill = killSwitch(s);
    if (kill) root.append(kill.el);
    const actions = riskActions(s);
    if (actions) root.append(actions.el);
    root.append(h("div", { class: "forms" }, form, h("section", { class: "card" }, current)));
    return () => { kill?.cleanup(); actions?.cleanup(); };
  },
});

/** The kill switch (docs/identity-and-risk.md → Kill switch): halt one account or everything,
 * cancel the scope's working orders and, on request, flatten its positions. Nothing is sent
 * before a confirmation that says what will stop; the active halts are listed, each with its
 * lift. Offered to the risk role with can_risk_manage + can_block_account on an account. */
function killSwitch(s: Session): { el: HTMLElement; cleanup: () => void } | null {
  if (!s.has("POST /oms/risk/kill")) return null;
  const accounts = s.accounts.filter((a) => s.canBlock(a));
  if (!accounts.length) return null;
  const scope = select("kill_scope", [["account", t("kill_scope_account")], ["all", t("kill_scope_all")]]);
  const acc = select("kill_account", s.accountOptions(accounts));
  const flatten = input("kill_flatten", { type: "checkbox" });
  const comment = input("kill_comment", { required: true, size: 40 });
  const msg = h("div", { class: "msg", "data-testid": "result-kill" });
  const halts = h("ul", { class: "halts", "data-testid": "kill-halts" });
  const question = h("p", { "data-testid": "kill-question" });
  const target = (): { scope: string; id?: number } =>
    scope.value === "all" ? { scope: "all" } : { scope: "account", id: Number(acc.value) };
  const load = async (): Promise<void> => {
    try {
      const items = (await s.api.get<{ items: Row[] }>("/oms/risk/kill")).items;
      halts.replaceChildren(...items.map((halt) => h("li", { "data-halt": String(halt["halt_id"]) },
        `#${String(halt["halt_id"])} ${String(halt["scope"])} ${halt["scope"] === "all" ? "" : String(halt["scope_id"])}: ${String(halt["reason"])} `,
        h("button", { type: "button", "data-testid": `kill-lift-${String(halt["halt_id"])}`, onclick: () => void lift(halt) }, t("kill_lift")))));
    } catch (exc) {
      message(msg, errorText(exc), false);
    }
  };
  const lift = async (halt: Row): Promise<void> => {
    if (!comment.value.trim()) {
      message(msg, t("comment_required"), false);
      comment.focus();
      return;
    }
    msg.className = "msg pending";
    msg.textContent = t("loading");
    try {
      const body: Row = { scope: halt["scope"], comment: comment.value };
      if (halt["scope"] !== "all") body["id"] = halt["scope_id"];
      await s.api.post("/oms/risk/kill/lift", body);
      message(msg, t("done"), true);
    } catch (exc) {
      message(msg, errorText(exc), false);
    }
    await load();
  };
  const engage = async (): Promise<void> => {
    confirmBox.hidden = true;
    msg.className = "msg pending";
    msg.textContent = t("loading");
    try {
      const res = await s.api.post<Row>("/oms/risk/kill", { ...target(), flatten: flatten.checked, comment: comment.value });
      message(msg, `${t("kill_engaged")}: ${String(res["working_orders"])} ${t("kill_working_orders")}`, true);
    } catch (exc) {
      message(msg, errorText(exc), false);
    }
    await load();
  };
  const confirmBox = h("div", { class: "confirm", role: "alertdialog", "data-testid": "kill-confirm" }, question,
    h("button", { type: "button", class: "danger", "data-testid": "kill-confirm-yes", onclick: () => void engage() }, t("kill_confirm")),
    h("button", { type: "button", "data-testid": "kill-confirm-no", onclick: () => { confirmBox.hidden = true; } }, t("kill_keep")));
  confirmBox.hidden = true;
  const ask = (): void => {
    if (!comment.value.trim()) {
      message(msg, t("comment_required"), false);
      comment.focus();
      return;
    }
    const what = scope.value === "all" ? t("kill_scope_all") : `${t("account")} #${acc.value}`;
    question.textContent = `${t("kill_question")} ${what}${flatten.checked ? ` (${t("kill_flatten")})` : ""}?`;
    confirmBox.hidden = false;
  };
  scope.addEventListener("change", () => { acc.disabled = scope.value === "all"; });
  const off = s.live.onEvent((ev) => { if (ev.namespace === "risk") void load(); });
  void load();
  const el = h("section", { class: "card kill", "data-form": "kill_switch" },
    h("h3", {}, t("kill_switch")), field(t("kill_scope"), scope), field(t("account"), acc),
    field(t("kill_flatten"), flatten), field(t("comment"), comment),
    h("button", { type: "button", class: "danger", "data-testid": "kill-engage", onclick: ask }, t("kill_switch")),
    confirmBox, msg, h("h4", {}, t("kill_active")), halts);
  return { el, cleanup: off };
}

/** Block / unblock the account, allow / stop new positions for it and per strategy (comment
 * mandatory). Offered per account only where the key's role and flags allow each action. */
function riskActions(s: Session): { el: HTMLElement; cleanup: () => void } | null {
  const has = {
    status: s.has("POST /oms/risk/{account_id}/status"),
    allow: s.has("POST /oms/risk/{account_id}/allow_new_positions"),
    strategies: s.has("GET /oms/risk/{account_id}/strategies") && s.has("POST /oms/risk/{account_id}/strategies/allow_new_positions"),
    shadow: s.has("POST /oms/risk/{account_id}/shadow"),
    strategyShadow: s.has("POST /oms/risk/{account_id}/strategies/shadow"),
  };
  const accounts = s.accounts.filter((a) => (has.status && s.canBlock(a)) || ((has.allow || has.strategies) && s.canAllowNew(a)));
  if (!accounts.length) return null;
  const acc = select("action_account", s.accountOptions(accounts));
  const comment = input("action_comment", { required: true, size: 40 });
  const state = h("div", { class: "kv", "data-testid": "risk-state" });
  const msg = h("div", { class: "msg", "data-testid": "result-risk_action" });
  const gridEl = h("div");
  const grid = makeGrid(gridEl, ["strategy_id", "name", "client_strategy_id", "status", "allow_new_positions", "shadow", "comment", "updated_at"], { testid: "grid-risk-strategies", height: "220px", rowId: (r) => String(r["strategy_id"]) });
  const strategy = input("action_strategy", { inputmode: "numeric", size: 6 });
  const current = (): (typeof accounts)[number] | undefined => accounts.find((a) => String(a.id) === acc.value);
  const button = (id: string, label: string, run: () => Promise<unknown>): HTMLButtonElement =>
    h("button", { type: "button", "data-testid": id, "data-action": id, onclick: () => void act(run) }, label);
  const statusButtons = [
    button("risk-block", t("block_account"), () => s.api.post(`/oms/risk/${acc.value}/status`, { status: "blocked", comment: comment.value })),
    button("risk-unblock", t("unblock_account"), () => s.api.post(`/oms/risk/${acc.value}/status`, { status: "active", comment: comment.value })),
  ];
  const allowButtons = [
    button("risk-allow-new", t("allow_new"), () => s.api.post(`/oms/risk/${acc.value}/allow_new_positions`, { allow_new_positions: true, comment: comment.value })),
    button("risk-stop-new", t("stop_new"), () => s.api.post(`/oms/risk/${acc.value}/allow_new_positions`, { allow_new_positions: false, comment: comment.value })),
  ];
  // shadow mode (signals.md): new orders are validated and recorded but never sent
  const shadowButtons = has.shadow ? [
    button("risk-shadow-on", t("shadow_on"), () => s.api.post(`/oms/risk/${acc.value}/shadow`, { shadow: true, comment: comment.value })),
    button("risk-shadow-off", t("shadow_off"), () => s.api.post(`/oms/risk/${acc.value}/shadow`, { shadow: false, comment: comment.value })),
  ] : [];
  const strategyShadowButtons = has.strategyShadow ? [
    button("risk-strategy-shadow-on", t("shadow_on"), () => s.api.post(`/oms/risk/${acc.value}/strategies/shadow`, { strategy_id: Number(strategy.value), shadow: true, comment: comment.value })),
    button("risk-strategy-shadow-off", t("shadow_off"), () => s.api.post(`/oms/risk/${acc.value}/strategies/shadow`, { strategy_id: Number(strategy.value), shadow: false, comment: comment.value })),
  ] : [];
  const strategyButtons = [
    button("risk-strategy-allow", t("allow_new"), () => s.api.post(`/oms/risk/${acc.value}/strategies/allow_new_positions`, { strategy_id: Number(strategy.value), allow_new_positions: true, comment: comment.value })),
    button("risk-strategy-stop", t("stop_new"), () => s.api.post(`/oms/risk/${acc.value}/strategies/allow_new_positions`, { strategy_id: Number(strategy.value), allow_new_positions: false, comment: comment.value })),
  ];
  const statusRow = h("div", { class: "filters" }, ...statusButtons);
  const allowRow = h("div", { class: "filters" }, ...allowButtons, ...shadowButtons);
  const strategyRow = h("div", { class: "filters" }, field(t("strategy"), strategy), ...strategyButtons, ...strategyShadowButtons);
  const strategySection = h("div", {}, h("h3", {}, t("strategies_allow")), strategyRow, gridEl);
  // the account's tripped loss breakers, each with its lift (the risk role's, with risk_limits)
  const hasBreakers = s.has("GET /oms/risk/{account_id}/breakers");
  const breakerList = h("ul", { class: "halts", "data-testid": "risk-breakers" });
  const breakerSection = h("div", {}, h("h3", {}, t("loss_breakers")), breakerList);
  breakerSection.style.display = hasBreakers ? "" : "none";
  const showBreakers = async (): Promise<void> => {
    if (!hasBreakers) return;
    const items = (await s.api.get<{ items: Row[] }>(`/oms/risk/${acc.value}/breakers`)).items;
    const tripped = items.filter((b) => b["state"] !== "armed");
    breakerList.replaceChildren(...(tripped.length ? tripped.map((b) => h("li", { "data-strategy": String(b["strategy_id"]) },
      `${Number(b["strategy_id"]) ? `${t("strategy")} ${String(b["strategy_id"])}` : t("account")}: ${String(b["rule"])} ${String(b["value"])} / ${String(b["limit"])} → ${String(b["state"])} `,
      s.has("POST /oms/risk/{account_id}/breakers/lift")
        ? button(`risk-breaker-lift-${String(b["strategy_id"])}`, t("kill_lift"), () => s.api.post(`/oms/risk/${acc.value}/breakers/lift`, { strategy_id: b["strategy_id"], comment: comment.value }))
        : null)) : [h("li", {}, t("no_tripped_breakers"))]));
  };
  const load = async (): Promise<void> => {
    const a = current();
    statusRow.style.display = a && has.status && s.canBlock(a) ? "" : "none";
    allowRow.style.display = a && has.allow && s.canAllowNew(a) ? "" : "none";
    strategySection.style.display = a && has.strategies && s.canAllowNew(a) ? "" : "none";
    try {
      s.accounts = (await s.api.get<{ items: typeof s.accounts }>("/oms/accounts")).items;
      const fresh = s.accounts.find((x) => String(x.id) === acc.value);
      state.textContent = fresh ? `${t("account_status")}: ${fresh.status} · allow_new_positions: ${String(fresh.allow_new_positions)} · shadow: ${String(fresh.shadow ?? false)}` : "";
      if (fresh) {
        state.dataset["status"] = fresh.status;
        state.dataset["allowNew"] = String(fresh.allow_new_positions);
        state.dataset["shadow"] = String(fresh.shadow ?? false);
      }
      await showBreakers();
      if (has.strategies && a && s.canAllowNew(a)) {
        const links = (await s.api.get<{ items: Row[] }>(`/oms/risk/${acc.value}/strategies`)).items;
        if (!grid.isDestroyed()) grid.setGridOption("rowData", links);
      }
    } catch (exc) {
      message(msg, errorText(exc), false);
    }
  };
  const act = async (run: () => Promise<unknown>): Promise<void> => {
    if (!comment.value.trim()) {
      message(msg, t("comment_required"), false);
      comment.focus();
      return;
    }
    // the previous action's result is cleared first: "done" always means this action
    msg.className = "msg pending";
    msg.textContent = t("loading");
    try {
      await run();
      message(msg, t("done"), true);
    } catch (exc) {
      message(msg, errorText(exc), false);
    }
    await load();
  };
  acc.addEventListener("change", () => void load());
  // another risk officer's (or the CLI's) action shows up here too
  const off = s.live.onEvent((ev) => { if (ev.namespace === "risk") void load(); });
  void load();
  const el = h("section", { class: "card", "data-form": "risk_actions" },
    h("h3", {}, t("risk_actions")), field(t("account"), acc), state, field(t("comment"), comment),
    statusRow, allowRow, strategySection, breakerSection, msg);
  return { el, cleanup: () => { off(); grid.destroy(); } };
}
