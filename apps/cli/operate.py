"""Shared pieces of the operator commands: connection flags, output and progress."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.console import Console

from apps.cli import output
from apps.cli.http_client import Api, call, resolve
from apps.cli.output import fail

BaseUrl = Annotated[
    str | None,
    typer.Option("--base-url", help="API URL [env OMS_BASE_URL, profile, http://127.0.0.1:8000]"),
]
ApiKey = Annotated[
    str | None,
    typer.Option("--api-key", help="API key [env OMS_API_KEY, profile]", show_default=False),
]
Profile = Annotated[
    str | None,
    typer.Option("--profile", help="profile in ~/.config/ccxt-oms/profiles.toml [env OMS_PROFILE]"),
]
AccountId = Annotated[int, typer.Option("--account-id", min=1, help="account id")]
AccountIds = Annotated[
    str | None,
    typer.Option("--account-ids", help="CSV of account ids [every account the key sees]"),
]
StrategyId = Annotated[int | None, typer.Option("--strategy-id", min=0, help="strategy id filter")]
Symbol = Annotated[str | None, typer.Option("--symbol", help="unified symbol, e.g. BTC/USDT")]
DaysBack = Annotated[
    int | None, typer.Option("--days-back", min=0, help="from N days ago to today (UTC)")
]
StartDate = Annotated[str | None, typer.Option("--start-date", help="YYYY-MM-DD (with --end-date)")]
EndDate = Annotated[str | None, typer.Option("--end-date", help="YYYY-MM-DD, inclusive")]
Page = Annotated[int, typer.Option("--page", min=1, help="page number")]
PageSize = Annotated[int, typer.Option("--page-size", min=1, help="rows per page (server max 500)")]
Limit = Annotated[int, typer.Option("--limit", min=1, help="at most this many rows")]


def progress_console() -> Console:
    return Console(stderr=True)


@contextmanager
def progress(message: str) -> Iterator[None]:
    """A spinner on stderr while a long operation runs (stdout stays clean JSON)."""
    with progress_console().status(message):
        yield


def show(payload: Any, kind: str | None = None) -> None:
    output.emit(payload, kind)


def run(
    base_url: str | None, api_key: str | None, profile: str | None, action: Callable[[Api], Any]
) -> Any:
    return call(resolve(base_url, api_key, profile), action)


def csv_ints(text: str | None, flag: str) -> list[int] | None:
    if text is None:
        return None
    try:
        ids = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        fail(f"{flag} must be comma-separated integers, e.g. {flag} 1,2", 2)
    if not ids or any(i <= 0 for i in ids):
        fail(f"{flag} must list positive integers, e.g. {flag} 1,2", 2)
    return ids


def account_ids_param(api: Api, text: str | None) -> str:
    """`--account-ids` as given, or every account the key sees (one `GET /oms/accounts`)."""
    ids = csv_ints(text, "--account-ids")
    if ids is None:
        ids = [int(a["id"]) for a in api.get("/oms/accounts").get("items", [])]
        if not ids:
            fail("this key sees no account: ask an admin for a grant (ccxt-oms set-permission)", 2)
    return ",".join(str(i) for i in ids)


def date_params(
    days_back: int | None, start_date: str | None, end_date: str | None
) -> dict[str, str | None]:
    """`--days-back N` or `--start-date/--end-date` (both or neither) as the API's query."""
    if days_back is not None:
        if start_date or end_date:
            fail("give --days-back or --start-date/--end-date, not both", 2)
        today = datetime.now(UTC).date()
        return {"start_date": str(today - timedelta(days=days_back)), "end_date": str(today)}
    if (start_date is None) != (end_date is None):
        fail("give both --start-date and --end-date (YYYY-MM-DD), or neither", 2)
    for flag, value in (("--start-date", start_date), ("--end-date", end_date)):
        if value is not None:
            try:
                date.fromisoformat(value)
            except ValueError:
                fail(f"{flag} must be YYYY-MM-DD, e.g. {flag} 2026-01-31", 2)
    return {"start_date": start_date, "end_date": end_date}
