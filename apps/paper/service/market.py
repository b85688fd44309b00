"""Operating the shared paper market: the price source's status and choice (`GET /paper/prices`,
`PUT /paper/price-source`, `/readyz`) and a paper account's synthetic book
(`PUT /paper/accounts/{id}/book`). Both changes apply without restarting any process: the
scheduler reads the chosen source every round, paper venues follow their account's book."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from apps.oms.clock import iso_z, utcnow
from apps.oms.config import Settings
from apps.oms.domain.money import to_plain
from apps.oms.errors import NotFound, ValidationFailed
from apps.oms.exchange.profiles import profile
from apps.oms.store import accounts as account_store
from apps.oms.store import audit
from apps.oms.store.audit import Actor
from apps.oms.store.boundary import OperationalError
from apps.oms.store.store import Store, is_deadlock
from apps.paper.domain.prices import parse_replay
from apps.paper.store import feed as paper_feed

DEADLOCK_ATTEMPTS = 3  # a deadlock victim is rolled back whole: run it again (twice at most)
SOURCE_KINDS = ("manual", "random_walk", "replay", "live")


async def feed_status(store: Store, settings: Settings) -> dict[str, Any]:
    """What drives the paper market: the source wanted (chosen through the API or configured),
    what the scheduler runs, its state (`running`, `ended`, `unreachable`, `manual`, `error`, or
    `no_scheduler` when no live worker holds the scheduler lease), the last update."""
    async with store.read() as conn:
        row = await paper_feed.read(conn)
    configured = settings.paper.price_source
    if row is None:
        return {"source": configured, "chosen_by": "config", "active_source": None,
                "state": "no_scheduler", "message": "no worker has started the price scheduler",
                "speed": settings.paper.replay_speed, "at_end": settings.paper.replay_at_end,
                "ticks": 0, "position": 0, "last_update_at": None, "scheduler": None}  # fmt: skip
    held = row.owner is not None and row.expires_at is not None and row.expires_at >= utcnow()
    state, message = row.state, row.message
    if not held:
        state, message = "no_scheduler", "no live worker holds the price scheduler lease"
    return {
        "source": row.source or configured,
        "chosen_by": "api" if row.source else "config",
        "active_source": row.active_source,
        "state": state,
        "message": message,
        "speed": to_plain(row.speed) if row.speed is not None else settings.paper.replay_speed,
        "at_end": row.at_end or settings.paper.replay_at_end,
        "ticks": row.ticks,
        "position": row.position,
        "last_update_at": iso_z(row.last_update_at) if row.last_update_at else None,
        "scheduler": row.owner if held else None,
    }


def check_source(source: str) -> None:
    """ValidationFailed (`invalid_price_source`) unless the source can run here: a known kind,
    a readable replay CSV with a header, a CCXT exchange id."""
    kind, _, argument = source.partition(":")
    problem = None
    if kind not in SOURCE_KINDS or (kind in ("manual", "random_walk") and argument):
        problem = "use manual, random_walk, replay:<csv path> or live:<ccxt id>"
    elif kind == "replay" and argument:
        try:
            if not parse_replay(Path(argument).read_text(encoding="utf-8"), "BTC/USDT"):
                problem = f"replay file {argument} has no rows"
        except (OSError, KeyError, ValueError, ArithmeticError, UnicodeDecodeError) as exc:
            problem = f"replay file {argument} is not usable: {exc}"
    elif kind == "live":
        import ccxt  # lazy: the API process loads CCXT only when it needs it (P6)

        if argument not in ccxt.exchanges:
            problem = f"live:{argument}: CCXT has no exchange {argument!r}"
    if problem is not None:
        raise ValidationFailed(
            problem, code="invalid_price_source", details={"source": source}
        )


async def choose_source(
    store: Store, settings: Settings, actor: Actor, source: str | None, speed: Decimal | None,
    at_end: str | None,
) -> dict[str, Any]:  # fmt: skip
    """Switch the paper market's source (None: back to the configured one), audited; the
    scheduler adopts it at its next round."""
    if source is not None:
        check_source(source)
    for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
        try:
            async with store.transaction() as conn:
                before = await paper_feed.read(conn)
                await paper_feed.choose(conn, source=source, speed=speed, at_end=at_end,
                                        now=utcnow())  # fmt: skip
                await audit.record(
                    conn, actor, action="set_paper_price_source", target_type="paper_market",
                    target_id=None, before={"source": before.source if before else None},
                    after={"source": source, "speed": None if speed is None else str(speed),
                           "at_end": at_end},
                )  # fmt: skip
            break
        except OperationalError as exc:
            # the feed row is also locked by the scheduler's every step: MariaDB has picked
            # this transaction as a deadlock victim under load (rolled back, nothing written)
            if attempt == DEADLOCK_ATTEMPTS or not is_deadlock(exc):
                raise
    return await feed_status(store, settings)


async def set_account_book(
    store: Store, actor: Actor, account_id: int, book: dict[str, Any]
) -> dict[str, Any]:
    """Replace a paper account's synthetic book (`accounts.config["paper"]["book"]`; {} = the
    market's defaults), audited. Its venue adopts it at its next call."""
    async with store.transaction() as conn:
        account = await account_store.get_venue_config(conn, account_id)
        if account is None:
            raise NotFound(f"account {account_id} not found", code="account_not_found")
        if not profile(account.exchange_id).simulated:
            raise ValidationFailed(
                f"account {account_id} is not a paper account", code="not_a_paper_account"
            )
        config = dict(account.config)
        paper = dict(config.get("paper") or {})
        before = paper.get("book")
        paper["book"] = book
        config["paper"] = paper
        await account_store.update_account(conn, account_id, config=config)
        await audit.record(conn, actor, action="set_paper_book", target_type="account",
                           target_id=account_id, before={"book": before},
                           after={"book": book})  # fmt: skip
    return {"account_id": account_id, "book": book}
