// Forms built from the server's own OpenAPI request schemas (the admin, profile, reconcile,
// reassign and signal endpoints): no hand-written field list, so a field the server adds shows up
// by itself and a form never sends a field the server does not know. Empty fields are not sent
// (a PATCH changes only what is filled in); decimals and other strings go as typed.
import { errorText, type Row } from "./api";
import { h, message } from "./dom";
import { t } from "./i18n";
import type { Session } from "./session";

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

/** One input (or group of inputs) and how to read its value; undefined = not sent. */
interface Control {
  el: HTMLElement;
  get(): unknown;
}

const SECRET = /password|secret|passphrase|api_key$/;

class Builder {
  constructor(
    private readonly root: Schema,
    private readonly s: Session,
    private readonly prefix: string,
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
    };
  }

  property(name: string, schema: Schema, path: string, required: boolean): Control {
    const { base } = this.unwrap(schema);
    const control = this.value(name, base, path, required);
    const label = h("label", { class: "field" + (required ? " required" : "") }, h("span", {}, name + (required ? " *" : "")), control.el);
    return { el: base.type === "object" || (base.type === "array" && this.resolve(base.items ?? {}).type === "object") ? control.el : label, get: control.get };
  }

  value(name: string, base: Schema, path: string, required: boolean): Control {
    const fieldName = this.prefix + path;
    if (base.enum) {
      const el = h("select", { name: fieldName, "data-testid": fieldName });
      if (!required || base.default === undefined) el.append(h("option", { value: "" }, base.default === undefined ? "—" : `— (${String(base.default)})`));
      for (const v of base.enum) el.append(h("option", { value: v }, v));
      el.value = required && base.default !== undefined ? String(base.default) : "";
      return { el, get: () => (el.value === "" ? undefined : el.value) };
    }
    if (base.type === "boolean") {
      const el = h("select", { name: fieldName, "data-testid": fieldName },
        h("option", { value: "" }, base.default === undefined ? "—" : `— (${String(base.default)})`),
        h("option", { value: "true" }, "true"), h("option", { value: "false" }, "false"));
      return { el, get: () => (el.value === "" ? undefined : el.value === "true") };
    }
    if (base.type === "integer" && /(^|_)account_id$/.test(name)) {
      const el = h("select", { name: fieldName, "data-testid": fieldName, "data-accounts": "" });
      fillAccounts(el, this.s);
      return { el, get: () => (el.value === "" ? undefined : Number(el.value)) };
    }
    if (base.type === "integer") {
      const el = h("input", { name: fieldName, "data-testid": fieldName, inputmode: "numeric", autocomplete: "off", placeholder: base.default === undefined ? "" : String(base.default) });
      return { el, get: () => integer(el.value) };
    }
    if (base.type === "array") {
      const items = this.resolve(base.items ?? {});
      if (items.type === "object") return this.rows(name, items, path);
      const el = h("input", { name: fieldName, "data-testid": fieldName, autocomplete: "off", placeholder: "a, b, c" });
      return {
        el,
        get: () => {
          const parts = el.value.split(",").map((x) => x.trim()).filter(Boolean);
          if (!parts.length) return undefined;
          return items.type === "integer" ? parts.map((x) => integer(x) ?? x) : parts;
        },
      };
    }
    if (base.type === "object" && base.properties) {
      const inner = this.object(base, `${path}.`);
      return { el: h("fieldset", {}, h("legend", {}, name), inner.el), get: () => nonEmpty(inner.get() as Row) };
    }
    if (base.type === "object") {
      const el = h("textarea", { name: fieldName, "data-testid": fieldName, rows: "3", placeholder: "{ }" });
      return { el, get: () => (el.value.trim() ? (JSON.parse(el.value) as unknown) : undefined) };
    }
    const secret = SECRET.test(name);
    const el = h("input", {
      name: fieldName, "data-testid": fieldName, autocomplete: secret ? "new-password" : "off",
      type: secret ? "password" : "text",
      placeholder: base.format === "date-time" ? "2026-12-31T00:00:00Z" : base.default === undefined ? "" : String(base.default),
    });
    return { el, get: () => (el.value.trim() === "" ? undefined : el.value.trim()) };
  }

  /** An array of objects (e.g. a key's permissions per account): one row of fields per item. */
  rows(name: string, items: Schema, path: string): Control {
    const list: { el: HTMLElement; control: Control }[] = [];
    const body = h("div", { class: "schema-rows" });
    let made = 0; // names stay unique when a row is removed
    const add = (): void => {
      const control = this.object(items, `${path}.${made++}.`);
      const entry = { el: h("div", { class: "schema-row" }), control };
      const remove = h("button", { type: "button", class: "link", onclick: () => { list.splice(list.indexOf(entry), 1); entry.el.remove(); } }, "×");
      entry.el.append(control.el, remove);
      list.push(entry);
      body.append(entry.el);
    };
    const el = h("fieldset", { "data-testid": `${this.prefix}${path}` }, h("legend", {}, name), body,
      h("button", { type: "button", "data-testid": `${this.prefix}${path}.add`, onclick: add }, `+ ${name}`));
    return { el, get: () => (list.length ? list.map((x) => x.control.get()) : undefined) };
  }
}

function fillAccounts(el: HTMLSelectElement, s: Session): void {
  const keep = el.value;
  el.replaceChildren(h("option", { value: "" }, "—"), ...s.accountOptions().map(([v, text]) => h("option", { value: v }, text)));
  el.value = keep;
}

/** After the session's accounts changed (one added or renamed): every account choice follows. */
export function refreshAccountChoices(s: Session): void {
  document.querySelectorAll<HTMLSelectElement>("select[data-accounts]").forEach((el) => fillAccounts(el, s));
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
  const builder = new Builder(schema, s, "");
  const params = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1] ?? "");
  const paramControls = params.map((p) => ({ name: p, control: builder.property(p, { type: "integer" }, p, true) }));
  const body = builder.object(schema, "");
  const msg = h("div", { class: "msg", "data-testid": `result-${opts.id}` });
  const out = h("pre", { class: "json", "data-testid": `response-${opts.id}` });
  const form: HTMLFormElement = h("form", {
    class: "card", "data-form": opts.id,
    onsubmit: async (e: Event) => {
      e.preventDefault();
      msg.className = "msg pending";
      msg.textContent = t("loading");
      try {
        let url = path;
        for (const p of paramControls) {
          const v = p.control.get();
          if (v === undefined) throw new Error(`${p.name}: ${t("required")}`);
          url = url.replace(`{${p.name}}`, encodeURIComponent(String(v)));
        }
        const res = await s.api.request<unknown>(method.toUpperCase(), url, {}, body.get() ?? {});
        out.textContent = JSON.stringify(res, null, 2);
        message(msg, t("done"), true);
        opts.after?.(res);
      } catch (exc) {
        out.textContent = "";
        message(msg, errorText(exc), false);
      }
    },
  }, h("h3", {}, opts.title), h("code", { class: "endpoint" }, key),
  paramControls.map((p) => p.control.el), body.el,
  h("button", { type: "submit", "data-testid": `submit-${opts.id}` }, opts.submitLabel ?? t("send")), msg, out);
  // a list of objects (permissions per account) or a long body gets the row's whole width
  if (form.querySelector(".schema-rows") || body.el.childElementCount > 8) form.classList.add("span-all");
  return form;
}

/** Several endpoint forms side by side; nothing when the server has none of them. */
export function formsRow(...forms: (HTMLElement | null)[]): HTMLElement | null {
  const present = forms.filter((f): f is HTMLElement => f !== null);
  return present.length ? h("div", { class: "forms" }, present) : null;
}
