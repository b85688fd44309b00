// The trading screen a trader keeps open: the order ticket with the live bid/ask beside the
// symbol's candles (fills, average price and SL/TP lines), and the live books below with
// mark, unrealised PnL and the row actions. A click on a row puts its account, symbol, qty and
// price in the ticket and the chart; a click on the chart puts its price in the ticket.
import type { Row } from "../api";
import { h } from "../dom";
import { t } from "../i18n";
import { bookGrid } from "./bookgrids";
import { candleChart } from "./candles";
import { tabs } from "./common";
import { register } from "./registry";
import { orderTicket } from "./ticket";

const DEFAULT_SYMBOL = "BTC/USDT:USDT";

register({
  id: "terminal",
  label: "nav_terminal",
  visible: (s) => s.accounts.some((a) => s.canRead(a)),
  render(root, s) {
    const first = [...s.live.books.positions.values()][0];
    const ticket = orderTicket(s, String(first?.["symbol"] ?? DEFAULT_SYMBOL));
    const chart = candleChart(s, "terminal");
    const all = { account_ids: s.accountIds };
    const pick = (row: Row): void => {
      const price = row["price"] ?? s.marks.mark(row);
      ticket.prefill({ account_id: Number(row["account_id"]), symbol: String(row["symbol"]), qty: String(row["qty"] ?? ""), price: price == null ? undefined : String(price) });
    };
    const positions = bookGrid(s, "position", "terminal-positions", () => all, { height: "300px", onRowClicked: pick });
    const orders = bookGrid(s, "order", "terminal-orders", () => all, { height: "300px", onRowClicked: pick });
    ticket.onTarget((accountId, symbol) => chart.show(accountId, symbol));
    chart.onPrice((price) => ticket.prefill({ price }));
    const { account_id: accountId, symbol } = ticket.current();
    chart.show(accountId, symbol);
    const trading = s.sendAccounts.length > 0;
    root.append(
      h("h2", {}, t("nav_terminal")),
      h("div", { class: trading ? "terminal" : "terminal watch" }, ticket.el,
        h("section", { class: "card" }, h("h3", {}, t("price_chart")), chart.el)),
      tabs([
        ["terminal-positions", t("open_positions"), () => positions.el],
        ["terminal-orders", t("open_orders"), () => orders.el],
      ]),
    );
    return () => { ticket.destroy(); chart.destroy(); positions.destroy(); orders.destroy(); };
  },
});
