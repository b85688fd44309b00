"""The order lists of a served Binance spot venue's accounts: in memory for the handlers, and
kept in the venue's own store with the account, next to its API key
(`accounts.config["wire"]["order_lists"]`), as the engine keeps the legs themselves: a restart
of the venue process knows its lists."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from apps.oms.store import accounts as account_store
from apps.oms.store.boundary import Engine
from apps.paper.store.wire_accounts import load_wire_accounts
from apps.paper.wire.binance_lists import OrderList


class OrderLists:
    """Per account: its lists by id, the list of each leg, and the lists known to be done."""

    def __init__(self, engine: Engine | None = None) -> None:
        self.engine = engine  # None: memory only (a venue without a store of its own)
        self._lists: dict[int, dict[int, OrderList]] = {}
        self._by_order: dict[int, dict[str, int]] = {}
        self._next: dict[int, int] = {}
        self._done: set[tuple[int, int]] = set()
        self._writing = asyncio.Lock()  # one rewrite of an account's config at a time

    async def load(self) -> None:
        """The lists of every account as an earlier run of the venue kept them."""
        if self.engine is None:
            return
        for account_id, config in await load_wire_accounts(self.engine):
            wire = config.get("wire") or {}
            for raw in wire.get("order_lists") or ():
                self._put(account_id, OrderList.from_json(raw))

    def _put(self, account_id: int, order_list: OrderList) -> None:
        self._lists.setdefault(account_id, {})[order_list.list_id] = order_list
        by_order = self._by_order.setdefault(account_id, {})
        for leg in order_list.legs:
            by_order[leg] = order_list.list_id
        self._next[account_id] = max(self._next.get(account_id, 1), order_list.list_id + 1)

    def new_id(self, account_id: int) -> int:
        """The account's next list id (positive, increasing; never given twice)."""
        list_id = self._next.get(account_id, 1)
        self._next[account_id] = list_id + 1
        return list_id

    def all(self, account_id: int) -> list[OrderList]:
        """The account's lists, oldest first."""
        return sorted(self._lists.get(account_id, {}).values(), key=lambda x: x.list_id)

    def of_order(self, account_id: int, order_id: str) -> OrderList | None:
        list_id = self._by_order.get(account_id, {}).get(order_id)
        return None if list_id is None else self._lists[account_id][list_id]

    def list_id_of(self, account_id: int, order_id: str) -> int:
        """The list id of an order (Binance's `orderListId`), -1 for a plain order."""
        return self._by_order.get(account_id, {}).get(order_id, -1)

    def find(self, account_id: int, list_id: int | None, client_id: str | None
             ) -> OrderList | None:  # fmt: skip
        """By list id, else by the client's list id."""
        for order_list in self.all(account_id):
            if list_id is not None and order_list.list_id == list_id:
                return order_list
            if list_id is None and order_list.client_id == client_id:
                return order_list
        return None

    def unsettled(self, account_id: int) -> list[OrderList]:
        """The lists not yet seen done (both legs ended)."""
        return [x for x in self.all(account_id) if (account_id, x.list_id) not in self._done]

    def settled(self, account_id: int, list_id: int) -> None:
        self._done.add((account_id, list_id))

    async def add(self, account_id: int, order_list: OrderList) -> None:
        self._put(account_id, order_list)
        await self._persist(account_id)

    async def expired(self, account_id: int, order_list: OrderList, order_id: str) -> OrderList:
        """Record the leg the venue expired for its sibling (shown EXPIRED from then on)."""
        changed = replace(order_list, expired=order_id)
        self._put(account_id, changed)
        await self._persist(account_id)
        return changed

    async def _persist(self, account_id: int) -> None:
        """Rewrite the account's lists in its config, the rest of the config as stored."""
        if self.engine is None:
            return
        rows = [x.to_json() for x in self.all(account_id)]
        async with self._writing, self.engine.begin() as conn:
            account = await account_store.get_venue_config(conn, account_id)
            if account is None:
                return
            config = dict(account.config)
            config["wire"] = {**(config.get("wire") or {}), "order_lists": rows}
            await account_store.update_account(conn, account_id, config=config)
