// How an order is executed, shown in its row: its trigger in words (a stop, an if-touched price,
// a trailing stop's distance and the trigger as it stands, its activation price, a mark-price
// trigger) and the contingent group it belongs to (`bracket #12 · stop_loss`). The group's kind
// and the order's role are the row's own `group_kind` and `group_role` (every order read and
// event carries them), else what an `order_group_changed` event showed (Books.groups); a row
// without either shows `group #12`, with the role its reason tells (a bracket's exits).
import type { Row } from "./api";
import type { Books } from "./books";
import { isDecimal, normalise } from "./decimal";
import { formatTime } from "./display";
import { t, valueLabel } from "./i18n";

function dec(v: unknown): string {
  if (v === null || v === undefined || v === "") return "";
  const text = String(v);
  return isDecimal(text) ? normalise(text) : text;
}

function word(v: unknown): string {
  return v === null || v === undefined ? "" : String(v);
}

/** `stop 105`, `if touched 110`, `trail 2% → 98`, `… · from 105`, `… · mark`; a time limit's
 * `at 2026-11-28 22:10:00` (the clock fires it). */
export function triggerText(o: Row): string {
  const parts: string[] = [];
  const fireAt = word(o["fire_at"]);
  if (fireAt) return `${t("trig_time")} ${formatTime(fireAt)}`;
  const amount = dec(o["trailing_amount"]);
  const percent = dec(o["trailing_percent"]);
  if (amount || percent) {
    const now = dec(o["trigger_price"]);
    parts.push(`${t("trig_trail")} ${percent ? `${percent}%` : amount}${now ? ` → ${now}` : ""}`);
    const from = dec(o["trailing_trigger_price"]);
    if (from) parts.push(`${t("trig_from")} ${from}`);
  } else {
    const stop = dec(o["stop_price"]) || dec(o["trigger_price"]);
    const touched = dec(o["take_profit_price"]);
    if (stop) parts.push(`${t("trig_stop")} ${stop}`);
    if (touched) parts.push(`${t("trig_if_touched")} ${touched}`);
  }
  if (parts.length && o["trigger_price_type"] === "mark") parts.push(t("trigger_mark"));
  return parts.join(" · ");
}

/** `bracket #12 · stop_loss`; `group #12` until the group's kind is known. */
export function groupText(books: Books, o: Row): string {
  const id = o["group_id"];
  if (id === null || id === undefined) return "";
  const group = books.groups.get(Number(id));
  const kindName = word(o["group_kind"]) || group?.kind;
  const kind = kindName ? valueLabel(kindName) : t("group");
  const reason = String(o["reason"] ?? "");
  const role = word(o["group_role"]) || (group?.roles.get(Number(o["id"])) ?? (o["parent_order_id"] && ["stop_loss", "take_profit", "time_limit"].includes(reason) ? reason : ""));
  return `${kind} #${String(id)}${role ? ` · ${valueLabel(role, false)}` : ""}`;
}

/** The computed columns of an order grid. */
export function orderColumns(books: Books): Record<string, (r: Row) => unknown> {
  return { trigger: triggerText, group: (r) => groupText(books, r) };
}
