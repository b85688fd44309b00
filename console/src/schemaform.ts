// Forms built from the server's own OpenAPI request schemas (the admin, profile, reconcile,
// reassign and signal endpoints): no hand-written field list, so a field the server adds shows up
// by itself and a form never sends a field the server does not know. Empty fields are not sent
// (a PATCH changes only what is filled in); decimals and other strings go as typed.
import { errorText, type Row } from "./api";
import { h, message } from "./dom";
import { fieldLabel, t } from "./i18n";
import type { Account, Session } from "./session";

export interface Schema {
  type?: string;
  anyOf?: Schema[];
  enum?: string[];
  items?: Schema;
  properties?: Record<string, Schema>;
  required?: string[];
  $ref?: string;
  $defs?: Record<string, Schema>;
  default?: unknown;
  format?: string;
  description?: string;
}

/** One input (or group of inputs): how to read its value (undefined = not sent) and how to
 * show a value read from the API (`set`, used to pre-fill a form with the current state). */
interface Control {
  el: HTMLElement;
  get(): unknown;
  set(value: unknown): void;
}

const SECRET = /password|secret|passphrase|api_key$/;
/** Nullable fields where null means something else than "not sent": no expiry, no secret. */
const CLEARABLE = new Set(["expires_at", "secret"]);

function text(value: unknown): string {
  return value === null || value === undefined ? "" : String(value);
}

class Builder {
  constructor(
    private readonly root: Schema,
    private readonly s: Session,
    private readonly prefix: string,
    /** the accounts an `account_id` field may choose (default: every visible account) */
    private readonly accounts: Account[] | null = null,
    /** a change of existing state (PATCH, PUT): a field can be cleared there */
    private readonly changes = false,
  ) {}

  resolve(schema: Schema): Schema {
    const ref = schema.$ref;
    if (!ref) return schema;
    const name = ref.split("/").pop() ?? "";
    return this.root.$defs?.[name] ?? this.s.schemaNamed(name) ?? {};
  }

  /** The schema without its `null` branch, and whether null was allowed. */
  unwrap(schema: Schema): { base: Schema; nullable: boolean } {
    const s = this.resolve(schema);
    if (!s.anyOf) return { base: s, nullable: false };
    const branches = s.anyOf.map((b) => this.resolve(b)).filter((b) => b.type !== "null");
    const nullable = branches.length < s.anyOf.length;
    if (branches.length === 1) return { base: { ...branches[0], default: s.default ?? branches[0]?.default }, nullable };
    return { base: { type: "string", default: s.default }, nullable }; // number|string, date|date-time: typed as text
  }

  object(schema: Schema, path: string): Control {
    const s = this.resolve(schema);
    const required = new Set(s.required ?? []);
    const parts = Object.entries(s.properties ?? {}).map(([name, prop]) => ({ name, control: this.property(name, prop, `${path}${name}`, required.has(name)) }));
    return {
      el: h("div", { class: "schema-object" }, parts.map((p) => p.control.el)),
      get: () => {
        const out: Row = {};
        for (const p of parts) {
          const v = p.control.get();
          if (v !== undefined) out[p.name] = v;
        }
        return out;
      },
      set: (value) => {
        const row = (value ?? {}) as Row;
        for (const p of parts) if (p.name in row) p.control.set(row[p.name]);
      },
    };
  }

  property(name: string, schema: Schema, path: string, required: boolean): Control {
    const { base, nullable } = this.unwrap(schema);
    const control = this.value(name, base, path, required);
    const grouped = base.type === "object" || (base.type === "array" && this.resolve(base.items ?? {}).type === "object");
    if (grouped) return control;
    const caption = h("span", { title: name }, fieldLabel(name) + (required ? " *" : ""));
    if (!nullable || !this.changes || !CLEARABLE.has(name)) return { ...control, el: h("label", { class: "field" + (required ? " required" : "") }, caption, control.el) };
    // the fields whose null the API gives a meaning of its own can be sent as null on purpose
    // (a key that never expires, a signing secret removed): an empty field is "not sent", the
    // box is "clear"; elsewhere an optional field left empty is simply not sent
    const isNull = h("input", { type: "checkbox", "data-testid": `${this.prefix}${path}.null`, title: t("null_hint") });
    isNull.addEventListener("change", () => ((control.el as HTMLInputElement).disabled = isNull.checked));
    return {
      el: h("label", { class: "field" + (required ? " required" : "") }, caption,
        h("span", { class: "nullable" }, control.el, h("label", { class: "null" }, isNull, t("null_value")))),
      get: () => (isNull.checked ? null : control.get()),
      set: (value) => {
        isNull.checked = value === null;
        (control.el as HTMLInputElement).disabled = isNull.checked;
        control.set(value);
      },
    };
  }

  value(name: string, base: Schema, path: string, required: boolean): Control {
    const fieldName = this.prefix + path;
    if (base.enum) {
      const el = h("select", { name: fieldName, "data-testid": fieldName });
      if (!required || base.default === undefined) el.append(h("option", { value: "" }, base.default === undefined ? "—" : `— (${String(base.default)})`));
      for (const v of base.enum) el.append(h("option", { value: v }, v));
      el.value = required && base.default !== undefined ? String(base.default) : "";
      return { el, get: () => (el.value === "" ? undefined : el.value), set: (v) => (el.value = text(v)) };
    }
    if (base.type === "boolean") {
      const el = h("select", { name: fieldName, "data-testid": fieldName },
        h("option", { value: "" }, base.default === undefined ? "—" : `— (${String(base.default)})`),
        h("option", { value: "true" }, "true"), h("option", { value: "false" }, "false"));
      return { el, get: () => (el.value === "" ? undefined : el.value === "true"), set: (v) => (el.value = typeof v === "boolean" ? String(v) : "") };
    }
    if (base.type === "integer" && /(^|_)account_id$/.test(name)) {
      const el = h("select", { name: fieldName, "data-testid": fieldName, "data-accounts": this.accounts ? "some" : "all" });
      fillAccounts(el, this.s, this.accounts ?? undefined);
      return { el, get: () => (el.value === "" ? undefined : Number(el.value)), set: (v) => (el.value = text(v)) };
    }
    if (base.type === "integer") {
      const el = h("input", { name: fieldName, "data-testid": fieldName, inputmode: "numeric", autocomplete: "off", placeholder: base.default === undefined ? "" : String(base.default) });
      return { el, get: () => integer(el.value), set: (v) => (el.value = text(v)) };
    }
    if (base.type === "array") {
      const items = this.resolve(base.items ?? {});
      if (items.type === "object") return this.rows(name, items, path);
      if (items.type === "integer" && /(^|_)account_ids$/.test(name)) {
        // several accounts: a multiple choice among those the key may use here
        const el = h("select", { name: fieldName, "data-testid": fieldName, multiple: true, size: 4, "data-accounts": this.accounts ? "some" : "all" });
        fillAccounts(el, this.s, this.accounts ?? undefined);
        const chosen = (): HTMLOptionElement[] => [...el.selectedOptions].filter((o) => o.value !== "");
        return {
          el,
          get: () => (chosen().length ? chosen().map((o) => Number(o.value)) : undefined),
          set: (v) => { const ids = new Set((Array.isArray(v) ? v : []).map(String)); [...el.options].forEach((o) => (o.selected = ids.has(o.value))); },
        };
      }
      const el = h("input", { name: fieldName, "data-testid": fieldName, autocomplete: "off", placeholder: "a, b, c" });
      return {
        el,
        get: () => {
          const parts = el.value.split(",").map((x) => x.trim()).filter(Boolean);
          if (!parts.length) return undefined;
          return items.type === "integer" ? parts.map((x) => integer(x) ?? x) : parts;
        },
        set: (v) => (el.value = Array.isArray(v) ? v.map(String).join(", ") : ""),
      };
    }
    if (base.type === "object" && base.properties) {
      const inner = this.object(base, `${path}.`);
      return { el: h("fieldset", {}, h("legend", { title: name }, fieldLabel(name)), inner.el), get: () => nonEmpty(inner.get() as Row), set: inner.set };
    }
    if (base.type === "object") {
      const el = h("textarea", { name: fieldName, "data-testid": fieldName, rows: "3", placeholder: "{ }" });
      return { el, get: () => (el.value.trim() ? (JSON.parse(el.value) as unknown) : undefined), set: (v) => (el.value = v == null ? "" : JSON.stringify(v)) };
    }
    const secret = SECRET.test(name);
    const el = h("input", {
      name: fieldName, "data-testid": fieldName, autocomplete: secret ? "new-password" : "off",
      type: secret ? "password" : "text",
      placeholder: base.format === "date-time" ? "2026-12-31T00:00:00Z" : base.default === undefined ? "" : String(base.default),
    });
    // secrets are never read back into a form
    return { el, get: () => (el.value.trim() === "" ? undefined : el.value.trim()), set: (v) => (el.value = secret ? "" : text(v)) };
  }

  /** An array of objects (e.g. a key's permissions per account): one row of fields per item. */
  rows(name: string, items: Schema, path: string): Control {
    const list: { el: HTMLElement; control: Control }[] = [];
    const body = h("div", { class: "schema-rows" });
    let made = 0; // names stay unique when a row is removed
    const add = (): Control => {
      const control = this.object(items, `${path}.${made++}.`);
      const entry = { el: h("div", { class: "schema-row" }), control };
      const remove = h("button", { type: "button", class: "link", title: "remove", onclick: () => { list.splice(list.indexOf(entry), 1); entry.el.remove(); } }, "×");
      entry.el.append(control.el, remove);
      list.push(entry);
      body.append(entry.el);
      return control;
    };
    const el = h("fieldset", { "data-testid": `${this.prefix}${path}` }, h("legend", { title: name }, fieldLabel(name)), body,
      h("button", { type: "button", "data-testid": `${this.prefix}${path}.add`, onclick: () => void add() }, `+ ${fieldLabel(name)}`));
    return {
      el,
      get: () => (list.length ? list.map((x) => x.control.get()) : undefined),
      set: (value) => {
        list.length = 0;
        body.replaceChildren();
        for (const item of Array.isArray(value) ? value : []) add().set(item);
      },
    };
  }
}

function fillAccounts(el: HTMLSelectElement, s: Session, accounts?: Account[]): void {
  const keep = new Set([...el.selectedOptions].map((o) => o.value));
  const empty = el.multiple ? [] : [h("option", { value: "" }, "—")];
  el.replaceChildren(...empty, ...s.accountOptions(accounts).map(([v, label]) => h("option", { value: v }, label)));
  [...el.options].forEach((o) => (o.selected = keep.has(o.value)));
  if (!el.multiple && !keep.size) el.value = "";
}

/** After the session's accounts changed (one added or renamed): every account choice follows. */
export function refreshAccountChoices(s: Session): void {
  document.querySelectorAll<HTMLSelectElement>('select[data-accounts="all"]').forEach((el) => fillAccounts(el, s));
}

function integer(text: string): number | string | undefined {
  const v = text.trim();
  if (v === "") return undefined;
  // ids beyond 2^53 go as typed: the API validates them (and refuses what is not an integer)
  return /^-?\d+$/.test(v) && Number.isSafeInteger(Number(v)) ? Number(v) : v;
}

function nonEmpty(row: Row): Row | undefined {
  return Object.keys(row).length ? row : undefined;
}

export interface EndpointFormOptions {
  /** data-form / test id */
  id: string;
  title: string;
  /** called with the response after a success (e.g. reload a grid) */
  after?: (res: unknown) => void;
  submitLabel?: string;
  /** the current state to edit, read with the path parameters (e.g. a key's permissions): a
   * "load current" button fills the form with it (a PUT replaces the whole list) */
  prefill?: (params: Record<string, string>) => Promise<unknown>;
  /** the accounts its `account_id` fields offer (those the key may use this endpoint on) */
  accounts?: Account[];
}

/**
 * A card with one form for `method path`: path parameters first, then the request body's fields
 * from the server's schema; the response is shown as JSON under it (a new key's secret appears
 * there once), an error as the API's message. Null when the server lacks the endpoint.
 */
export function endpointForm(s: Session, method: string, path: string, opts: EndpointFormOptions): HTMLElement | null {
  const key = `${method.toUpperCase()} ${path}`;
  if (!s.has(key)) return null;
  const schema = s.requestSchema(method, path) ?? { type: "object", properties: {} };
  const builder = new Builder(schema, s, "", opts.accounts ?? null, ["PATCH", "PUT"].includes(method.toUpperCase()));
  const params = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1] ?? "");
  const paramControls = params.map((p) => ({ name: p, control: builder.property(p, { type: "integer" }, p, true) }));
  const body = builder.object(schema, "");
  const msg = h("div", { class: "msg", "data-testid": `result-${opts.id}` });
  const out = h("pre", { class: "json", "data-testid": `response-${opts.id}` });
  const pathParams = (): Record<string, string> => {
    const values: Record<string, string> = {};
    for (const p of paramControls) {
      const v = p.control.get();
      if (v === undefined) throw new Error(`${fieldLabel(p.name)}: ${t("required")}`);
      values[p.name] = String(v);
    }
    return values;
  };
  const load = opts.prefill;
  const loadButton = load
    ? h("button", {
        type: "button", "data-testid": `load-${opts.id}`,
        onclick: async () => {
          try {
            body.set(await load(pathParams()));
            message(msg, t("done"), true);
          } catch (exc) {
            message(msg, errorText(exc), false);
          }
        },
      }, t("load_current"))
    : null;
  const form: HTMLFormElement = h("form", {
    class: "card", "data-form": opts.id,
    onsubmit: async (e: Event) => {
      e.preventDefault();
      msg.className = "msg pending";
      msg.textContent = t("loading");
      try {
        const res = await s.api.request<unknown>(method.toUpperCase(), fill(path, pathParams()), {}, body.get() ?? {});
        out.textContent = JSON.stringify(res, null, 2);
        message(msg, t("done"), true);
        // what was typed into password fields (passwords, secrets, credentials) is not kept
        form.querySelectorAll<HTMLInputElement>('input[type="password"]').forEach((el) => (el.value = ""));
        opts.after?.(res);
      } catch (exc) {
        out.textContent = "";
        message(msg, errorText(exc), false);
      }
    },
  }, h("h3", {}, opts.title), h("code", { class: "endpoint" }, key),
  paramControls.map((p) => p.control.el), loadButton, body.el,
  h("button", { type: "submit", "data-testid": `submit-${opts.id}` }, opts.submitLabel ?? t("send")), msg, out);
  // a list of objects (permissions per account) or a long body gets the row's whole width
  if (form.querySelector(".schema-rows") || body.el.childElementCount > 8) form.classList.add("span-all");
  return form;
}

function fill(path: string, params: Record<string, string>): string {
  return path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(params[name] ?? ""));
}

/** Several endpoint forms side by side; nothing when the server has none of them. */
export function formsRow(...forms: (HTMLElement | null)[]): HTMLElement | null {
  const present = forms.filter((f): f is HTMLElement => f !== null);
  return present.length ? h("div", { class: "forms" }, present) : null;
}
