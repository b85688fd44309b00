"""Operator commands for the shared paper market: its price source and an account's book."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from apps.cli.http_client import Api
from apps.cli.operate import ApiKey, BaseUrl, Profile, run, show


def paper_source(
    source: Annotated[str | None, typer.Argument(
        help="manual | random_walk | replay:<csv path> | live:<ccxt id>; omit to show it")] = None,
    speed: Annotated[str | None, typer.Option("--speed", help="replay: times faster")] = None,
    at_end: Annotated[str | None, typer.Option("--at-end", help="replay: loop or stop")] = None,
    configured: Annotated[bool, typer.Option(
        "--configured", help="go back to the configured paper.price_source")] = False,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    profile: Profile = None,
) -> None:  # fmt: skip
    """Show or switch what moves the paper market (admin key to switch; no restart needed).

    Examples: ccxt-oms paper-source;  ccxt-oms paper-source live:binance;
    ccxt-oms paper-source replay:data/btc.csv --speed 60 --at-end stop
    """

    def action(api: Api) -> Any:
        if source is None and not configured:
            return api.get("/paper/prices", {"symbols": "BTC/USDT"})["source"]
        body = {"source": None if configured else source, "speed": speed, "at_end": at_end}
        return api.request("PUT", "/paper/price-source", json=body)

    show(run(base_url, api_key, profile, action))


def paper_book(
    account_id: Annotated[int, typer.Option("--account-id", min=1)],
    spread_bps: Annotated[str | None, typer.Option("--spread-bps")] = None,
    levels: Annotated[int | None, typer.Option("--levels", min=1)] = None,
    level_step_bps: Annotated[str | None, typer.Option("--level-step-bps")] = None,
    level_notional: Annotated[str | None, typer.Option(
        "--level-notional", help="quote currency per level")] = None,
    level_volume: Annotated[str | None, typer.Option(
        "--level-volume", help="qty per level (wins over --level-notional)")] = None,
    resting_volume: Annotated[str | None, typer.Option(
        "--resting-volume", help="qty a resting limit may fill per price change")] = None,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    profile: Profile = None,
) -> None:  # fmt: skip
    """Set a paper account's synthetic book (admin key); options left out take the market's
    defaults. Example: ccxt-oms paper-book --account-id 1 --spread-bps 5 --level-notional 20000
    """
    book = {"spread_bps": spread_bps, "levels": levels, "level_step_bps": level_step_bps,
            "level_notional": level_notional, "level_volume": level_volume,
            "resting_volume": resting_volume}  # fmt: skip
    body = {k: v for k, v in book.items() if v is not None}

    def action(api: Api) -> Any:
        return api.request("PUT", f"/paper/accounts/{account_id}/book", json=body)

    show(run(base_url, api_key, profile, action))


COMMANDS: dict[str, Callable[..., None]] = {
    "paper-source": paper_source,
    "paper-book": paper_book,
}


def register(app: typer.Typer) -> None:
    for name, function in COMMANDS.items():
        app.command(name, rich_help_panel="Operate: paper market")(function)
