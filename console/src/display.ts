// How a grid writes the API's values for people without changing them: decimals with every
// digit and no exponent or trailing zeros, times in the browser's time zone to the second (the
// API's ISO string is the cell's tooltip), values of closed vocabularies in the language, and
// the decimals inside server messages normalised.
import { isDecimal, normalise, plainNumbers } from "./decimal";
import { valueLabel } from "./i18n";

/** Fields holding decimal strings. */
export const DECIMAL_FIELDS = new Set([
  "qty", "price", "avg_price", "realized_pnl", "fee", "pending_close_qty", "stop_loss", "stop_gain",
  "filled_qty", "avg_fill_price", "trigger_price", "stop_price", "take_profit_price", "pnl",
  "contract_size", "unrealized_pnl", "mark_price", "notional", "amount", "cost", "filled",
  "pnl_pct", "balance", "equity", "realized_pnl_open",
]);
/** Fields whose values come from a closed vocabulary: the domain's enums, the statuses of
 * accounts, users, keys, strategies, reconciliations and signals, key and raw-record kinds. */
export const ENUM_FIELDS = new Set([
  "side", "order_type", "status", "state", "entry", "taker_or_maker", "position_mode", "environment", "role", "kind",
  "emulation",
]);
/** Free text with well-known values (`reason`): those are translated, the rest shown as sent. */
const OPEN_ENUM_FIELDS = new Set(["reason"]);
/** Server messages. */
const MESSAGE_FIELDS = new Set(["error", "error_message"]);

export function isTimeField(f: string): boolean {
  return f.endsWith("_at") || f === "time" || f === "last_run";
}

const pad = (n: number): string => String(n).padStart(2, "0");

/** "2026-11-26 17:07:47" in the browser's time zone; text that is not an ISO time unchanged. */
export function formatTime(iso: string): string {
  const ms = Date.parse(iso);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(iso) || Number.isNaN(ms)) return iso;
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** What a cell of `field` shows for `value`. */
export function displayValue(field: string, value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "object") return JSON.stringify(value);
  const text = String(value);
  if (DECIMAL_FIELDS.has(field)) return isDecimal(text) ? normalise(text) : text;
  if (typeof value !== "string") return text;
  if (isTimeField(field)) return formatTime(text);
  if (ENUM_FIELDS.has(field)) return valueLabel(text);
  if (OPEN_ENUM_FIELDS.has(field)) return valueLabel(text, false);
  if (MESSAGE_FIELDS.has(field)) return plainNumbers(text);
  return text;
}
