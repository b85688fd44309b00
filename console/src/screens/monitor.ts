import type { Query, Row } from "../api";
import { h } from "../dom";
import { DEAL_FIELDS, ORDER_FIELDS, POSITION_HISTORY_FIELDS, makeGrid } from "../grid";
import { orderColumns } from "../orderfacts";
import { t } from "../i18n";
import { bookGrid } from "./bookgrids";
import { filterBar, matches, pagedGrid, tabs } from "./common";
import { register } from "./registry";

register({
  id: "monitor",
  label: "nav_monitor",
  visible: () => true,
  render(root, s) {
    const cleanups: (() => void)[] = [];
    let liveQuery: Query = { account_ids: s.accountIds };
    const positions = bookGrid(s, "position", "grid-open-positions", () => liveQuery);
    const orders = bookGrid(s, "order", "grid-open-orders", () => liveQuery);
    const rebinds = (): void => {
      positions.rebind();
      orders.rebind();
    };

    const dealsEl = h("div");
    const deals = makeGrid(dealsEl, DEAL_FIELDS, { testid: "grid-deals" });
    const dealsPager = pagedGrid(s, deals, "/oms/deals", "deals");
    const phEl = h("div");
    const ph = makeGrid(phEl, POSITION_HISTORY_FIELDS, { testid: "grid-positions-history" });
    const phPager = pagedGrid(s, ph, "/oms/positions/history", "positions-history");
    const ohEl = h("div");
    const oh = makeGrid(ohEl, ORDER_FIELDS, { testid: "grid-orders-history", computed: orderColumns(s.live.books) });
    const ohPager = pagedGrid(s, oh, "/oms/orders/history", "orders-history");
    void dealsPager.load();
    void phPager.load();
    void ohPager.load();

    // live: new deals go on top of page 1; histories re-read page 1 when books change
    let pending: number | null = null;
    const offEvents = s.live.onEvent((ev) => {
      if (ev.event === "deal_created" && dealsPager.page() === 1 && matches(ev.payload, dealsPager.query())) {
        if (!deals.getRowNode(String(ev.payload["id"]))) deals.applyTransaction({ add: [ev.payload as Row], addIndex: 0 });
      }
      if (ev.event.startsWith("position_") || ev.event.startsWith("order_") || ev.event === "close_by_executed" || ev.event === "positions_merged") {
        if (pending !== null) return;
        pending = window.setTimeout(() => {
          pending = null;
          if (phPager.page() === 1) void phPager.load();
          if (ohPager.page() === 1) void ohPager.load();
        }, 300);
      }
    });
    cleanups.push(offEvents);

    root.append(
      h("h2", {}, t("nav_monitor")),
      tabs([
        ["open-positions", t("open_positions"), () => h("div", {},
          filterBar(s, (q) => { liveQuery = q; rebinds(); }), positions.el)],
        ["open-orders", t("open_orders"), () => h("div", {},
          filterBar(s, (q) => { liveQuery = q; rebinds(); }), orders.el)],
        ["deals", t("deals"), () => h("div", {},
          filterBar(s, (q) => void dealsPager.load(q, 1), { dates: true }), dealsPager.el, dealsEl)],
        ["positions-history", t("positions_history"), () => h("div", {},
          filterBar(s, (q) => void phPager.load(q, 1), { dates: true, status: ["open", "close_requested", "closed", "merged"] }),
          phPager.el, phEl)],
        ["orders-history", t("orders_history"), () => h("div", {},
          filterBar(s, (q) => void ohPager.load(q, 1), { dates: true, status: ["PENDING_SUBMIT", "SUBMITTED", "PARTIALLY_FILLED", "FILLED", "CANCELED", "REJECTED", "EXPIRED"] }),
          ohPager.el, ohEl)],
      ]),
    );
    return () => {
      if (pending !== null) window.clearTimeout(pending);
      for (const c of cleanups) c();
      positions.destroy();
      orders.destroy();
      for (const g of [deals, ph, oh]) g.destroy();
    };
  },
});
