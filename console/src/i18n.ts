import { en, type LabelKey, type Labels } from "./i18n/en";
import { es } from "./i18n/es";
import { pt } from "./i18n/pt";

export const LANGUAGES: Record<string, { name: string; labels: Labels }> = {
  en: { name: "English", labels: en },
  pt: { name: "Português", labels: pt },
  es: { name: "Español", labels: es },
};

let current: Labels = en;
/** API field names shown without a label of their own (a test keeps this empty). */
export const missingLabels = new Set<string>();
/** Values of the API's closed vocabularies shown without a label of their own (a test keeps
 * this empty). */
export const missingValues = new Set<string>();

export function setLanguage(code: string): void {
  current = LANGUAGES[code]?.labels ?? en;
  document.documentElement.lang = LANGUAGES[code] ? code : "en";
}

export function t(key: LabelKey): string {
  return current[key];
}

/** A form field's label: its translation when the language file has `f_<name>`, else the
 * API's own field name. */
export function fieldLabel(name: string): string {
  const key = `f_${name}`;
  if (key in current) return current[key as LabelKey];
  missingLabels.add(name);
  return name;
}

/** A value of one of the API's closed vocabularies (a side, an order status, a position state…)
 * in the language: `v_<value>` of the language file, else the value itself. `known`: the value
 * must have a label (a free-text field such as `reason` shows its unknown values as they are). */
export function valueLabel(value: string, known = true): string {
  const key = `v_${value}`;
  if (key in current) return current[key as LabelKey];
  if (known) missingValues.add(value);
  return value;
}
