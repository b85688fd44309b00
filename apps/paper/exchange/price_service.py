"""Service functions behind `POST /paper/prices` and `GET /paper/prices`.

Setting a price is allowed for admins and for keys with `can_trade` on at least one paper
account; it stores the shared price only (matching runs in the workers, see `PaperVenue.match`).
"""

from __future__ import annotations

from decimal import Decimal

from apps.oms.domain.access import Action
from apps.oms.errors import PermissionDenied, ValidationFailed
from apps.oms.exchange.ccxt_errors import errors as ccxt
from apps.oms.security.principal import Principal
from apps.paper.domain.book import Quote
from apps.paper.domain.matching import Venue
from apps.paper.exchange.market_data import get_paper_prices, set_paper_price
from apps.paper.store.venue_store import PaperStore, paper_account_ids


async def may_set_prices(principal: Principal, store: PaperStore) -> None:
    """PermissionDenied unless admin or allowed to trade (role ceiling ∩ the key's flags, the
    same rule as every other endpoint) on at least one paper account."""
    if principal.is_admin:
        return
    trading = [aid for aid in principal.grants if principal.allows(Action.TRADE, aid)]
    if not await paper_account_ids(store.engine, trading):
        raise PermissionDenied(
            "setting paper prices needs can_trade on a paper account", code="permission_denied"
        )


async def set_price(
    principal: Principal,
    store: PaperStore,
    venue: Venue,
    symbol: str,
    price: Decimal,
    bid: Decimal | None = None,
    ask: Decimal | None = None,
) -> Quote:
    await may_set_prices(principal, store)
    try:
        return await set_paper_price(store, venue, symbol, price, bid, ask)
    except ccxt.BadSymbol as exc:
        raise ValidationFailed(str(exc), code="unsupported_market") from exc
    except ccxt.InvalidOrder as exc:
        raise ValidationFailed(str(exc)) from exc


async def read_prices(
    store: PaperStore, venue: Venue, symbols: list[str] | None
) -> dict[str, Quote]:
    try:
        return await get_paper_prices(store, venue, symbols)
    except ccxt.BadSymbol as exc:
        raise ValidationFailed(str(exc), code="unsupported_market") from exc
