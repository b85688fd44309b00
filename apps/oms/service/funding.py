"""Funding times of the paper market: which accounts get a `funding` command, and with what.

The price scheduler (one at a time, by lease) calls `enqueue_due` every round it holds the
lease. At a funding time (a multiple of `paper.funding_interval_seconds` since the epoch) each
paper account with an open position on a swap gets one `funding` command carrying the time and
every swap's rate; `request_id = funding:<time ms>` is unique per account, so a repeated round,
a second scheduler or a restart enqueues it once. A funding time older than `GRACE_SECONDS`
when first seen (the market was not running then: its prices did not move either) is skipped.
The venue's markets come from the caller (the scheduler holds the paper venue): this module
books commands in the gateway's queue and knows no venue's code.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from apps.oms.config import PaperSettings
from apps.oms.domain.funding import last_funding_ms
from apps.oms.domain.markets import Markets
from apps.oms.domain.money import parse_decimal, to_plain
from apps.oms.exchange.profiles import PAPER_ID
from apps.oms.service.execution.funding import COMMAND_TYPE
from apps.oms.store import accounts as account_store
from apps.oms.store import commands as command_store
from apps.oms.store.boundary import Connection
from apps.oms.store.reconcile import has_request
from apps.oms.store.records import NewCommand

GRACE_SECONDS = 300


def swap_rates(paper: PaperSettings, venue: Markets) -> dict[str, str]:
    """Every listed swap's funding rate per interval (per-symbol setting, else the default)."""
    return {
        symbol: to_plain(parse_decimal(paper.market_funding_rate.get(symbol, paper.funding_rate)))
        for symbol, market in sorted(venue.by_symbol.items()) if market.is_swap
    }  # fmt: skip


async def accounts_with_open_swaps(conn: Connection, symbols: list[str]) -> list[int]:
    return await account_store.accounts_with_open_positions(conn, PAPER_ID, symbols)


async def enqueue_due(
    conn: Connection, paper: PaperSettings, venue: Markets, now: datetime
) -> tuple[int | None, set[int]]:
    """Enqueue the latest funding time's commands unless done; (that time, accounts queued)."""
    now_ms = int(now.timestamp() * 1000)
    funding_ms = last_funding_ms(now_ms, paper.funding_interval_seconds)
    if funding_ms is None or now_ms - funding_ms > GRACE_SECONDS * 1000:
        return funding_ms, set()
    rates = swap_rates(paper, venue)
    payload = {"funding_ms": funding_ms, "rates": rates}
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    request_id = f"funding:{funding_ms}"
    queued: set[int] = set()
    for account_id in await accounts_with_open_swaps(conn, list(rates)):
        if await has_request(conn, account_id, request_id):
            continue
        await command_store.insert_command(conn, NewCommand(
            account_id=account_id, command_type=COMMAND_TYPE, request_id=request_id,
            client_order_id=None, content_hash=digest, payload=payload, api_key_id=None,
            user_id=None, created_at=now,
        ))  # fmt: skip
        queued.add(account_id)
    return funding_ms, queued
