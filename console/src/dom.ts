// Tiny DOM helpers: no framework, every element built explicitly.
import { t } from "./i18n";
type Attrs = Record<string, string | boolean | number | null | undefined | ((ev: Event) => void)>;
type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === "function") el.addEventListener(k.replace(/^on/, ""), v);
    else if (k === "value" && "value" in el) (el as HTMLInputElement).value = String(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === "string" ? document.createTextNode(c) : c);
  }
  return el;
}

export function field(label: string, input: HTMLElement): HTMLLabelElement {
  return h("label", { class: "field" }, h("span", {}, label), input);
}

export function input(name: string, attrs: Attrs = {}): HTMLInputElement {
  return h("input", { name, "data-testid": name, autocomplete: "off", ...attrs });
}

export function select(name: string, options: [string, string][], value = ""): HTMLSelectElement {
  const el = h("select", { name, "data-testid": name });
  for (const [v, text] of options) el.append(h("option", { value: v }, text));
  el.value = value || options[0]?.[0] || "";
  return el;
}

export function valueOf(form: HTMLElement, name: string): string {
  const el = form.querySelector<HTMLInputElement | HTMLSelectElement>(`[name="${name}"]`);
  return el ? el.value.trim() : "";
}

export function message(el: HTMLElement, text: string, ok: boolean): void {
  el.textContent = text;
  el.className = ok ? "msg ok" : "msg error";
}

/** A request is on its way: neither ok nor error yet. */
export function pending(el: HTMLElement): void {
  el.textContent = t("loading");
  el.className = "msg pending";
}
