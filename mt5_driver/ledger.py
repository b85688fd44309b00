"""Reads of the account's books through the gateway, with what MetaTrader's view needs on top:
position tickets (the opening order's ticket, memoised: deals are immutable), magic numbers
(strategies), and the positions a ticket names (a netting chain of reversals)."""

from __future__ import annotations

from typing import Any

from mt5_driver import constants as c
from mt5_driver.books import Lookup
from mt5_driver.errors import Failure
from mt5_driver.session import Session
from mt5_driver.wire import GatewayError

PAGE_SIZE = 500


def pages(s: Session, path: str, **query: Any) -> list[dict[str, Any]]:
    """Every row of a paged gateway list (`page`, `page_size` 500)."""
    rows: list[dict[str, Any]] = []
    page = 1
    while True:
        body = s.gateway.get(path, account_ids=s.login, page=page, page_size=PAGE_SIZE, **query)
        items = list(body["items"])
        rows += items
        if len(items) < PAGE_SIZE or len(rows) >= int(body.get("total") or 0):
            return rows
        page += 1


def deals(s: Session, **query: Any) -> list[dict[str, Any]]:
    return pages(s, "/oms/deals", **query)


def ticket(s: Session, position_id: int | None) -> int:
    """The MetaTrader ticket of a gateway position (0 for none)."""
    if not position_id:
        return 0
    pid = int(position_id)
    if pid not in s.tickets:
        own = sorted(deals(s, position_id=pid), key=lambda d: int(d["id"]))
        if not own:
            return pid  # not booked yet: not memoised
        s.tickets[pid] = _opener(s, own[0], pid)
    return s.tickets[pid]


def _opener(s: Session, first: dict[str, Any], pid: int) -> int:
    order_id = first.get("order_id")
    if not order_id:
        return pid  # a position no order opened (booked by the venue alone): its own id
    if not s.hedging and int(first.get("leg") or 0) == 1:
        mate = _other_leg(s, first, leg=0)
        if mate is not None:
            return ticket(s, mate.get("position_id"))  # a reversal keeps the ticket
    return int(order_id)


def _other_leg(s: Session, deal: dict[str, Any], leg: int) -> dict[str, Any] | None:
    for other in deals(s, order_id=deal["order_id"]):
        if (other.get("exchange_trade_id") == deal.get("exchange_trade_id")
                and int(other.get("leg") or 0) == leg):  # fmt: skip
            return other
    return None


def positions_of_ticket(s: Session, ticket_id: int) -> list[int]:
    """The gateway positions that carry `ticket_id`: the one its order opened and, on a
    netting account, those that reversals of it opened."""
    found: list[int] = []
    for deal in deals(s, order_id=ticket_id):
        pid = int(deal.get("position_id") or 0)
        if deal.get("entry") == "in" and pid and ticket(s, pid) == ticket_id and pid not in found:
            found.append(pid)
    if not found and ticket(s, ticket_id) == ticket_id and _exists(s, ticket_id):
        found.append(ticket_id)  # a position no order opened
    queue = list(found)
    while queue and not s.hedging:
        for deal in deals(s, position_id=queue.pop()):
            if deal.get("entry") == "out" and deal.get("exchange_trade_id"):
                mate = _other_leg(s, deal, leg=1)
                pid = int(mate["position_id"]) if mate else 0
                if pid and pid not in found:
                    found.append(pid)
                    queue.append(pid)
    return found


def _exists(s: Session, position_id: int) -> bool:
    try:
        return bool(s.gateway.get(f"/oms/positions/{position_id}", account_ids=s.login)["items"])
    except GatewayError as exc:
        if exc.status == 404:
            return False
        raise


def open_positions(s: Session) -> list[dict[str, Any]]:
    """Open positions with mark price and unrealised PnL (`GET /oms/portfolio`)."""
    items = s.gateway.get("/oms/portfolio", account_ids=s.login)["items"]
    return [p for item in items for p in item["positions"]]


def open_position(s: Session, ticket_id: int) -> dict[str, Any]:
    """The open position with this ticket; Failure (`RES_E_NOT_FOUND`) when none is open."""
    for position in open_positions(s):
        if ticket(s, int(position["id"])) == ticket_id:
            return position
    raise Failure(c.RES_E_NOT_FOUND, f"no open position with ticket {ticket_id}")


def strategies(s: Session, *, refresh: bool = False) -> list[dict[str, Any]]:
    if refresh or not s.strategies:
        s.strategies = list(s.gateway.get("/strategies")["items"])
    return s.strategies


def magic(s: Session, strategy_id: int | None) -> int:
    """A strategy's magic number: its numeric label (`client_strategy_id`), else its id."""
    if not strategy_id:
        return 0
    for refresh in (False, True):
        for st in strategies(s, refresh=refresh):
            if int(st["strategy_id"]) == int(strategy_id):
                return int(st.get("client_strategy_id") or st["strategy_id"])
    return int(strategy_id)


def strategy_for(s: Session, magic_number: int) -> int:
    """The strategy of this account a magic number names: the one labelled with it, else an
    unlabelled one with that id; created (labelled, linked to the account) when none is."""
    if magic_number == 0:
        return 0
    for refresh in (False, True):
        mine = [st for st in strategies(s, refresh=refresh)
                if any(int(a["account_id"]) == s.login for a in st.get("accounts") or [])]
        for st in mine:
            if st.get("client_strategy_id") == magic_number:
                return int(st["strategy_id"])
        for st in mine:
            if st.get("client_strategy_id") is None and int(st["strategy_id"]) == magic_number:
                return magic_number
    created = s.gateway.post("/strategies", {"name": f"mt5 magic {magic_number} account {s.login}",
                                             "account_ids": [s.login],
                                             "client_strategy_id": magic_number})  # fmt: skip
    strategies(s, refresh=True)
    return int(created["strategy_id"])


def lookup(s: Session) -> Lookup:
    return Lookup(ticket=lambda pid: ticket(s, pid), magic=lambda sid: magic(s, sid),
                  name=s.name_of)  # fmt: skip
