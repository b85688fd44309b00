// The order ticket: account, symbol, quantity (with the market's step and minimum shown), the
// order's kind (market, limit, stop, stop-limit, market/limit-if-touched, trailing stop) with
// only the fields that kind takes, time in force (GTD with its expiry), an optional bracket
// (stop-loss and take-profit exits), OCO leg or OTO child (an order sent once this one has
// filled), position SL/TP, strategy; the live best bid, ask
// and spread beside it (a click on a price puts it in the ticket); Buy and Sell send at once
// (`send_order`, waiting for it to complete), and only they do: Enter in a field sends nothing
// (a key press never picks a side). What the gateway refuses shows its own message: the ticket
// checks nothing the server checks. Prefilled from a clicked row or chart price (`prefill`).
import { errorText, type Row } from "../api";
import { submitCommand } from "../commands";
import { fromUnits, isDecimal, onStep, ratio, subtract, toUnits } from "../decimal";
import { field, h, input, message, pending, select } from "../dom";
import { t } from "../i18n";
import type { LabelKey } from "../i18n/en";
import type { Session } from "../session";

interface MarketInfo {
  symbol: string;
  amountStep: string;
  minAmount: string;
  priceStep: string;
}

export interface TicketTarget {
  account_id?: number;
  symbol?: string;
  qty?: string;
  price?: string;
}

export interface Ticket {
  el: HTMLElement;
  prefill(target: TicketTarget): void;
  /** (account, symbol) the ticket is on, whenever it changes */
  onTarget(fn: (accountId: number, symbol: string) => void): void;
  current(): { account_id: number; symbol: string };
  destroy(): void;
}

const marketCache = new Map<number, Promise<MarketInfo[]>>();

function markets(s: Session, accountId: number): Promise<MarketInfo[]> {
  let hit = marketCache.get(accountId);
  if (!hit) {
    hit = s.api.post<{ result: Row[] }>(`/ccxt/${accountId}/fetch_markets`, { args: [], kwargs: {} }).then((res) =>
      res.result.map((m) => {
        const precision = (m["precision"] ?? {}) as Row;
        const amount = ((m["limits"] ?? {}) as Row)["amount"] as Row | undefined;
        return { symbol: String(m["symbol"]), amountStep: String(precision["amount"] ?? ""), minAmount: String(amount?.["min"] ?? ""), priceStep: String(precision["price"] ?? "") };
      }).sort((a, b) => a.symbol.localeCompare(b.symbol)));
    hit.catch(() => marketCache.delete(accountId));
    marketCache.set(accountId, hit);
  }
  return hit;
}

function plain(v: unknown): string {
  const text = v === null || v === undefined ? "" : String(v);
  return isDecimal(text) ? fromUnits(toUnits(text)) : text;
}

/** The live best bid and ask (a click offers the price), the spread in price and bps of the
 * mid, the last price: from the ticker of what `target()` names. */
function quotePanel(s: Session, target: () => [number, string], onPrice: (price: string) => void): { el: HTMLElement; paint: (accountId: number, symbol: string) => void; destroy: () => void } {
  const bid = h("button", { type: "button", class: "quote bid", "data-testid": "quote-bid", title: t("quote_click") });
  const ask = h("button", { type: "button", class: "quote ask", "data-testid": "quote-ask", title: t("quote_click") });
  const spread = h("span", { class: "spread", "data-testid": "quote-spread" });
  const last = h("span", { class: "last", "data-testid": "quote-last" });
  bid.addEventListener("click", () => onPrice(bid.dataset["price"] ?? ""));
  ask.addEventListener("click", () => onPrice(ask.dataset["price"] ?? ""));
  const paint = (accountId: number, symbol: string): void => {
    const q = s.market.ticker(accountId, symbol);
    const b = plain(q?.["bid"]);
    const a = plain(q?.["ask"]);
    bid.textContent = b || "—";
    ask.textContent = a || "—";
    bid.dataset["price"] = b;
    ask.dataset["price"] = a;
    last.textContent = `${t("last")}: ${plain(q?.["last"]) || "—"}`;
    if (isDecimal(a) && isDecimal(b)) {
      const width = subtract(a, b);
      const mid = ratio(fromUnits(toUnits(a) + toUnits(b)), "2", 18);
      spread.textContent = `${t("spread")}: ${width} (${ratio(fromUnits(toUnits(width) * 10000n), mid, 2) || "—"} bps)`;
    } else spread.textContent = `${t("spread")}: —`;
  };
  const off = s.market.onData((p) => {
    const [accountId, symbol] = target();
    if (p.channel === "ticker" && p.account_id === accountId && p.symbol === symbol) paint(accountId, symbol);
  });
  const el = h("div", { class: "quotebox" }, h("div", {}, h("span", { class: "hint" }, t("bid")), bid),
    h("div", {}, h("span", { class: "hint" }, t("ask")), ask), h("div", { class: "quotefacts" }, spread, last));
  return { el, paint, destroy: off };
}

/** The ticket's order kinds: the `send_order` order type each sends, and the fields it shows. */
const KINDS: Record<string, { orderType: "market" | "limit"; price: boolean; trigger: "" | "trigger_price" | "take_profit_price"; trailing: boolean }> = {
  market: { orderType: "market", price: false, trigger: "", trailing: false },
  limit: { orderType: "limit", price: true, trigger: "", trailing: false },
  stop: { orderType: "market", price: false, trigger: "trigger_price", trailing: false },
  stop_limit: { orderType: "limit", price: true, trigger: "trigger_price", trailing: false },
  market_if_touched: { orderType: "market", price: false, trigger: "take_profit_price", trailing: false },
  limit_if_touched: { orderType: "limit", price: true, trigger: "take_profit_price", trailing: false },
  trailing_stop: { orderType: "market", price: false, trigger: "", trailing: true },
};
/** A price click turns a kind without a price into its priced twin. */
const PRICED: Record<string, string> = { market: "limit", stop: "stop_limit", market_if_touched: "limit_if_touched" };

/** A `datetime-local` value (the browser's zone) as ISO 8601 in UTC, what `expire_at` takes;
 * text the browser cannot read goes as typed (the gateway says what is wrong with it). */
function isoInstant(local: string): string {
  const ms = Date.parse(local);
  return Number.isNaN(ms) ? local : new Date(ms).toISOString();
}

export function orderTicket(s: Session, defaultSymbol: string): Ticket {
  const accounts = s.sendAccounts;
  const acc = select("account_id", s.accountOptions(accounts.length ? accounts : s.accounts));
  const sym = select("symbol", [[defaultSymbol, defaultSymbol]]);
  const qty = input("qty", { inputmode: "decimal", required: true });
  const qtyHint = h("span", { class: "hint", "data-testid": "ticket-qty-hint" });
  const type = select("order_type", Object.keys(KINDS).map((k): [string, string] => [k, t(`kind_${k}` as LabelKey)]));
  const price = input("price", { inputmode: "decimal" });
  const trigger = input("trigger_price", { inputmode: "decimal" });
  const trailDistance = input("trailing_distance", { inputmode: "decimal" });
  const trailUnit = select("trailing_unit", [["percent", "%"], ["amount", t("trailing_amount")]]);
  const trailFrom = input("trailing_trigger_price", { inputmode: "decimal" });
  const triggerOn = select("trigger_price_type", [["last", t("trigger_last")], ["mark", t("trigger_mark")]]);
  const emulation = select("emulation", [["", t("emulation_auto")], ["venue", t("v_venue")], ["gateway", t("v_gateway")]]);
  const tif = select("time_in_force", [["", "GTC"], ["GTD", "GTD"], ["IOC", "IOC"], ["FOK", "FOK"]]);
  const expire = input("expire_at", { type: "datetime-local", step: "1" });
  const bracket = h("input", { type: "checkbox", name: "bracket", "data-testid": "bracket" });
  const slTrigger = input("bracket_stop_loss", { inputmode: "decimal" });
  const slLimit = input("bracket_stop_loss_price", { inputmode: "decimal" });
  const tpTrigger = input("bracket_take_profit", { inputmode: "decimal" });
  const tpLimit = input("bracket_take_profit_price", { inputmode: "decimal" });
  const timeLimit = input("bracket_time_limit", { inputmode: "numeric" });
  const oco = h("input", { type: "checkbox", name: "oco", "data-testid": "oco" });
  // the other leg: a held stop or if-touched order, or a limit that rests on the venue
  const ocoKind = select("oco_trigger", [["stop_price", t("trig_stop")], ["take_profit_price", t("trig_if_touched")], ["limit", t("oco_resting_limit")]]);
  const ocoTrigger = input("oco_trigger_price", { inputmode: "decimal" });
  const ocoLimit = input("oco_price", { inputmode: "decimal" });
  // both legs on the exchange, as its own OCO (Binance spot's order list), not held
  const ocoVenue = h("input", { type: "checkbox", name: "oco_venue", "data-testid": "oco-venue" });
  const oto = h("input", { type: "checkbox", name: "oto", "data-testid": "oto" });
  const otoKind = select("oto_kind", [["limit", t("kind_limit")], ["market", t("kind_market")], ["stop_price", t("trig_stop")], ["take_profit_price", t("trig_if_touched")]]);
  const otoSide = select("oto_side", [["", t("oto_side_other")], ["same", t("oto_side_same")]]);
  const otoTrigger = input("oto_trigger_price", { inputmode: "decimal" });
  const otoLimit = input("oto_price", { inputmode: "decimal" });
  const sl = input("oms_stop_loss", { inputmode: "decimal" });
  const tp = input("oms_stop_gain", { inputmode: "decimal" });
  const strategy = select("strategy_id", [["", "—"]]);
  const reduce = select("reduce_only", [["true", t("yes")]]);
  const priceField = field(t("price"), price);
  const triggerField = field(t("trigger_price"), trigger);
  const trailingFields = h("div", {},
    h("div", { class: "pair" }, field(t("trailing_distance"), trailDistance), field(t("trailing_unit"), trailUnit)),
    field(`${t("trailing_activation")} (${t("optional")})`, trailFrom));
  const conditionalFields = h("div", { class: "pair" }, field(t("trigger_on"), triggerOn), field(t("f_emulation"), emulation));
  const expireField = field(t("f_expire_at"), expire);
  const ocoTriggerField = field(t("trigger_price"), ocoTrigger);
  const ocoLimitLabel = h("span", {});
  const ocoFields = h("div", { class: "bracket", "data-testid": "oco-fields" },
    h("div", { class: "pair" }, field(t("oco_leg_kind"), ocoKind), ocoTriggerField),
    h("label", { class: "field" }, ocoLimitLabel, ocoLimit),
    h("label", { class: "check" }, ocoVenue, h("span", {}, t("oco_on_venue"))));
  const otoTriggerField = field(t("trigger_price"), otoTrigger);
  const otoLimitField = field(t("limit_price"), otoLimit);
  const otoFields = h("div", { class: "bracket", "data-testid": "oto-fields" },
    h("div", { class: "pair" }, field(t("oto_child_kind"), otoKind), field(t("oto_child_side"), otoSide)),
    h("div", { class: "pair" }, otoTriggerField, otoLimitField));
  const bracketFields = h("div", { class: "bracket", "data-testid": "bracket-fields" },
    h("div", { class: "pair" }, field(t("bracket_sl_trigger"), slTrigger), field(`${t("limit_price")} (${t("optional")})`, slLimit)),
    h("div", { class: "pair" }, field(t("bracket_tp_trigger"), tpTrigger), field(`${t("limit_price")} (${t("optional")})`, tpLimit)),
    field(`${t("bracket_time_limit")} (${t("optional")})`, timeLimit));
  const reduceField = field(t("reduce_only"), reduce);
  const msg = h("div", { class: "msg", "data-testid": "result-ticket", role: "status" });
  // plain buttons, not submit buttons: a form's Enter "clicks" its first submit button
  const buy = h("button", { type: "button", class: "buy", "data-testid": "ticket-buy" }, t("buy"));
  const sell = h("button", { type: "button", class: "sell", "data-testid": "ticket-sell" }, t("sell"));
  let info: MarketInfo | undefined;
  let release: (() => void) | null = null;
  const targetListeners = new Set<(a: number, sy: string) => void>();
  const canTradeHere = (): boolean => accounts.some((a) => String(a.id) === acc.value && s.canTrade(a));

  const kind = () => KINDS[type.value] ?? KINDS["market"]!;
  const showTypeFields = (): void => {
    const k = kind();
    priceField.hidden = !k.price;
    triggerField.hidden = !k.trigger;
    trailingFields.hidden = !k.trailing;
    conditionalFields.hidden = !k.trigger && !k.trailing;
    expireField.hidden = tif.value !== "GTD";
    bracketFields.hidden = !bracket.checked;
    ocoFields.hidden = !oco.checked;
    ocoTriggerField.hidden = ocoKind.value === "limit";
    ocoLimitLabel.textContent = ocoKind.value === "limit" ? t("limit_price") : `${t("limit_price")} (${t("optional")})`;
    otoFields.hidden = !oto.checked;
    otoTriggerField.hidden = otoKind.value === "limit" || otoKind.value === "market";
    otoLimitField.hidden = otoKind.value === "market";
    reduceField.hidden = canTradeHere(); // a key that may only close sends reduce-only orders
  };
  const follow = (): void => {
    release?.();
    release = s.market.want(Number(acc.value), sym.value);
    quote.paint(Number(acc.value), sym.value);
    for (const fn of targetListeners) fn(Number(acc.value), sym.value);
  };
  const loadMarkets = async (): Promise<void> => {
    try {
      const list = await markets(s, Number(acc.value));
      const keep = sym.value;
      sym.replaceChildren(...list.map((m) => h("option", { value: m.symbol }, m.symbol)));
      sym.value = list.some((m) => m.symbol === keep) ? keep : (list[0]?.symbol ?? "");
    } catch (exc) {
      message(msg, errorText(exc), false);
    }
    await pickSymbol();
  };
  const pickSymbol = async (): Promise<void> => {
    info = (await markets(s, Number(acc.value)).catch(() => [])).find((m) => m.symbol === sym.value);
    qtyHint.textContent = info ? `${t("step")} ${plain(info.amountStep)} · ${t("minimum")} ${plain(info.minAmount)}` : "";
    qty.step = "any";
    follow();
  };
  const loadStrategies = async (): Promise<void> => {
    if (!s.has("GET /strategies")) return;
    try {
      const res = await s.api.get<{ items: Row[] }>("/strategies");
      const mine = res.items.filter((x) => ((x["accounts"] ?? []) as Row[]).some((a) => String(a["account_id"]) === acc.value));
      strategy.replaceChildren(h("option", { value: "" }, "—"), ...mine.map((x) => h("option", { value: String(x["strategy_id"]) }, `#${String(x["strategy_id"])} ${String(x["name"])}`)));
    } catch {
      // strategies are optional: the ticket works without them
    }
  };

  const setPrice = (p: string): void => {
    if (!p) return;
    price.value = info?.priceStep && isDecimal(p) ? onStep(p, info.priceStep) : p;
    type.value = PRICED[type.value] ?? type.value;
    showTypeFields();
  };
  const quote = quotePanel(s, () => [Number(acc.value), sym.value], setPrice);
  acc.addEventListener("change", () => { showTypeFields(); void loadMarkets(); void loadStrategies(); });
  sym.addEventListener("change", () => void pickSymbol());
  type.addEventListener("change", showTypeFields);
  tif.addEventListener("change", showTypeFields);
  bracket.addEventListener("change", showTypeFields);
  oco.addEventListener("change", showTypeFields);
  ocoKind.addEventListener("change", showTypeFields);
  oto.addEventListener("change", showTypeFields);
  otoKind.addEventListener("change", showTypeFields);

  /** The OTO child: sent once this order has filled, sized to its fills, on the other side
   * unless asked for the same (the gateway's default); a triggered child is held by it. */
  const otoChild = (side: "buy" | "sell"): Row => {
    const limit = otoLimit.value.trim();
    const priced = otoKind.value === "limit" || (otoKind.value !== "market" && limit !== "");
    const child: Row = { order_type: priced ? "limit" : "market" };
    if (priced && limit) child["price"] = limit;
    if (otoKind.value === "stop_price" || otoKind.value === "take_profit_price") child[otoKind.value] = otoTrigger.value.trim();
    if (otoSide.value === "same") child["side"] = side;
    return child;
  };
  const send = async (side: "buy" | "sell"): Promise<void> => {
    if (!form.reportValidity()) return; // a quantity is required
    const k = kind();
    const body: Row = { symbol: sym.value, side, order_type: k.orderType, qty: qty.value.trim() };
    const optional: [string, HTMLInputElement | HTMLSelectElement, boolean][] = [
      ["price", price, k.price], [k.trigger, trigger, k.trigger !== ""],
      [trailUnit.value === "amount" ? "trailing_amount" : "trailing_percent", trailDistance, k.trailing],
      ["trailing_trigger_price", trailFrom, k.trailing],
      ["emulation", emulation, k.trailing || k.trigger !== ""],
      ["time_in_force", tif, true],
      ["oms_stop_loss", sl, true], ["oms_stop_gain", tp, true]];
    for (const [name, el, shown] of optional) if (shown && el.value.trim()) body[name] = el.value.trim();
    // the default `last` is left out: a venue that takes no trigger price type is not asked
    if ((k.trailing || k.trigger) && triggerOn.value === "mark") body["trigger_price_type"] = "mark";
    if (tif.value === "GTD" && expire.value) body["expire_at"] = isoInstant(expire.value);
    if (bracket.checked) {
      for (const [name, trig, limit] of [["bracket_stop_loss", slTrigger, slLimit], ["bracket_take_profit", tpTrigger, tpLimit]] as const) {
        if (!trig.value.trim()) continue;
        body[name] = limit.value.trim() ? { trigger_price: trig.value.trim(), price: limit.value.trim() } : { trigger_price: trig.value.trim() };
      }
      // whole seconds as typed: the gateway refuses anything else with the field named
      if (timeLimit.value.trim()) body["bracket_time_limit"] = /^\d+$/.test(timeLimit.value.trim()) ? Number(timeLimit.value.trim()) : timeLimit.value.trim();
    }
    if (oco.checked) {
      // the other leg of a one-cancels-other: same symbol, side and qty, its own trigger
      const leg: Row = ocoKind.value === "limit"
        ? { order_type: "limit" } // no trigger: it rests on the venue (Binance's OCO)
        : { order_type: ocoLimit.value.trim() ? "limit" : "market", [ocoKind.value]: ocoTrigger.value.trim() };
      if (ocoLimit.value.trim()) leg["price"] = ocoLimit.value.trim();
      body["oco_orders"] = [leg];
      if (ocoVenue.checked) body["emulation"] = "venue"; // the gateway refuses it where the venue has none
    }
    if (oto.checked) body["oto_orders"] = [otoChild(side)];
    if (strategy.value) body["strategy_id"] = Number(strategy.value);
    if (!canTradeHere()) body["reduce_only"] = true;
    buy.disabled = sell.disabled = true;
    pending(msg);
    try {
      message(msg, `${t(side)} · ${await submitCommand(s, Number(acc.value), "send_order", body)}`, true);
    } catch (exc) {
      message(msg, errorText(exc), false);
    } finally {
      buy.disabled = sell.disabled = false;
    }
  };
  buy.addEventListener("click", () => void send("buy"));
  sell.addEventListener("click", () => void send("sell"));
  const form: HTMLFormElement = h("form", {
    class: "ticket", "data-form": accounts.length ? "ticket" : "quote",
    // Enter in a field: nothing is sent, and the trader is told how to send
    onsubmit: (e: Event) => { e.preventDefault(); },
    onkeydown: (e: Event) => {
      const ev = e as KeyboardEvent;
      if (ev.key !== "Enter" || !(ev.target instanceof HTMLInputElement)) return;
      ev.preventDefault();
      if (accounts.length) message(msg, t("ticket_choose_side"), false);
    },
  },
  quote.el,
  field(t("account"), acc), field(t("symbol"), sym),
  // a key that may not send orders gets the quote and the choice of symbol, no trading control
  ...(accounts.length ? [
    h("label", { class: "field" }, h("span", {}, t("qty")), qty, qtyHint),
    field(t("order_type"), type), priceField, triggerField, trailingFields, conditionalFields,
    field(t("time_in_force"), tif), expireField,
    h("label", { class: "check" }, bracket, h("span", {}, t("bracket_exits"))), bracketFields,
    h("label", { class: "check" }, oco, h("span", {}, t("oco_other_leg"))), ocoFields,
    h("label", { class: "check" }, oto, h("span", {}, t("oto_then"))), otoFields,
    h("div", { class: "pair" }, field(t("stop_loss"), sl), field(t("take_profit"), tp)),
    field(t("strategy"), strategy), reduceField,
    h("div", { class: "buysell" }, sell, buy), msg] : []));
  showTypeFields();
  void loadMarkets();
  void loadStrategies();
  return {
    el: h("section", { class: "card ticket-card" }, h("h3", {}, t(accounts.length ? "order_ticket" : "quote")), form),
    prefill: (target) => {
      let moved = false;
      if (target.account_id !== undefined && String(target.account_id) !== acc.value && [...acc.options].some((o) => o.value === String(target.account_id))) {
        acc.value = String(target.account_id);
        moved = true;
      }
      if (target.symbol && target.symbol !== sym.value) {
        if (![...sym.options].some((o) => o.value === target.symbol)) sym.append(h("option", { value: target.symbol }, target.symbol));
        sym.value = target.symbol;
        moved = true;
      }
      if (target.qty) qty.value = target.qty;
      if (moved) {
        showTypeFields();
        void (target.account_id !== undefined ? loadMarkets() : pickSymbol()).then(() => { if (target.price) setPrice(target.price); });
        void loadStrategies();
      } else if (target.price) setPrice(target.price);
    },
    onTarget: (fn) => { targetListeners.add(fn); },
    current: () => ({ account_id: Number(acc.value), symbol: sym.value }),
    destroy: () => { release?.(); quote.destroy(); },
  };
}
