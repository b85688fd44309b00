"""Operator commands for reconciliation, reassignment and the paper market price."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from apps.cli.http_client import Api
from apps.cli.operate import (
    AccountIds,
    ApiKey,
    BaseUrl,
    EndDate,
    Page,
    PageSize,
    Profile,
    StartDate,
    csv_ints,
    date_params,
    progress,
    run,
    show,
)

OneAccount = Annotated[int | None, typer.Option("--account-id", min=1, help="one account")]


def reconcile(
    account_id: OneAccount = None,
    account_ids: AccountIds = None,
    scope: Annotated[str, typer.Option("--scope", help="short, hourly, long or period")] = "short",
    symbols_hint: Annotated[
        str | None, typer.Option("--symbols-hint", help="CSV of symbols to look at first")
    ] = None,
    start_date: StartDate = None,
    end_date: EndDate = None,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    profile: Profile = None,
) -> None:
    """Reconcile the books with the exchange now (POST /oms/reconcile).

    Example: ccxt-oms reconcile --account-id 1 --scope short --symbols-hint BTC/USDT
    """
    body: dict[str, Any] = {
        "account_id": account_id, "account_ids": csv_ints(account_ids, "--account-ids"),
        "scope": scope,
        "symbols_hint": [s.strip() for s in symbols_hint.split(",")] if symbols_hint else None,
        **date_params(None, start_date, end_date),
    }  # fmt: skip
    body = {k: v for k, v in body.items() if v is not None}
    with progress("reconciling"):
        answer = run(base_url, api_key, profile, lambda api: api.post("/oms/reconcile", body))
    show(answer)


def reconcile_status(
    account_id: OneAccount = None,
    status: Annotated[str | None, typer.Option("--status", help="fresh, stale or never")] = None,
    stale_after_seconds: Annotated[int, typer.Option("--stale-after-seconds", min=1)] = 120,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    profile: Profile = None,
) -> None:
    """Reconciliation freshness per account (GET /oms/reconcile/status).

    Example: ccxt-oms reconcile-status --account-id 1 --table
    """
    params = {"stale_after_seconds": stale_after_seconds, "status": status}
    path = f"/oms/reconcile/{account_id}/status" if account_id else "/oms/reconcile/status"
    show(run(base_url, api_key, profile, lambda api: api.get(path, params)))


def reassign_position(
    order_ids: Annotated[str, typer.Option("--order-ids", help="CSV of order ids to move")],
    account_id: OneAccount = None,
    account_ids: AccountIds = None,
    target_strategy_id: Annotated[int | None, typer.Option("--target-strategy-id", min=0)] = None,
    target_position_id: Annotated[int | None, typer.Option("--target-position-id", min=0)] = None,
    order_statuses: Annotated[str | None, typer.Option("--order-statuses", help="CSV")] = None,
    preview: Annotated[bool, typer.Option("--preview/--apply", help="show what would move")] = True,
    override: Annotated[bool, typer.Option("--override")] = False,
    start_date: StartDate = None,
    end_date: EndDate = None,
    page: Page = 1,
    page_size: PageSize = 100,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    profile: Profile = None,
) -> None:
    """Move orders and their deals to another strategy/position (POST /oms/reassign).

    Example: ccxt-oms reassign-position --account-id 1 --order-ids 41,42 --target-strategy-id 3 --apply
    """
    body: dict[str, Any] = {
        "account_id": account_id, "account_ids": csv_ints(account_ids, "--account-ids"),
        "order_ids": csv_ints(order_ids, "--order-ids"),
        "target_strategy_id": target_strategy_id, "target_position_id": target_position_id,
        "order_statuses": order_statuses.split(",") if order_statuses else None,
        "preview": preview, "override": override or None, "page": page, "page_size": page_size,
        **date_params(None, start_date, end_date),
    }  # fmt: skip
    body = {k: v for k, v in body.items() if v is not None}
    with progress("previewing" if preview else "reassigning"):
        answer = run(base_url, api_key, profile, lambda api: api.post("/oms/reassign", body))
    show(answer)


def paper_price(
    symbol: Annotated[str, typer.Option("--symbol", help="paper symbol, e.g. BTC/USDT")],
    price: Annotated[str, typer.Option("--price", help="last price")],
    bid: Annotated[str | None, typer.Option("--bid")] = None,
    ask: Annotated[str | None, typer.Option("--ask")] = None,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    profile: Profile = None,
) -> None:
    """Set the paper market's price of a symbol (POST /paper/prices).

    Example: ccxt-oms paper-price --symbol BTC/USDT --price 60000
    """
    body = {
        k: v for k, v in {"symbol": symbol, "price": price, "bid": bid, "ask": ask}.items() if v
    }

    def action(api: Api) -> Any:
        return api.post("/paper/prices", body)

    show(run(base_url, api_key, profile, action))


def paper_external(
    account_id: Annotated[int, typer.Option("--account-id", min=1, help="a paper account")],
    action: Annotated[
        str, typer.Option("--action", help="create_order, cancel_order or adjust_position")
    ],
    symbol: Annotated[str | None, typer.Option("--symbol")] = None,
    side: Annotated[str | None, typer.Option("--side", help="buy or sell")] = None,
    order_type: Annotated[str, typer.Option("--type", help="market or limit")] = "market",
    amount: Annotated[str | None, typer.Option("--amount", help="order qty")] = None,
    price: Annotated[str | None, typer.Option("--price")] = None,
    order_id: Annotated[str | None, typer.Option("--id", help="venue order id (cancel)")] = None,
    qty: Annotated[
        str | None, typer.Option("--qty", help="adjust_position: signed contracts, 0 = flat")
    ] = None,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    profile: Profile = None,
) -> None:
    """Act on a paper account's venue directly, bypassing the OMS (admin only): what a person
    on the exchange's web page would do. Reconciliation then finds it.

    Example: ccxt-oms paper-external --account-id 1 --action adjust_position --symbol BTC/USDT:USDT --qty 0
    """
    fields = {"symbol": symbol, "side": side, "amount": amount, "price": price, "id": order_id,
              "qty": qty, "type": order_type if action == "create_order" else None}
    body = {k: v for k, v in fields.items() if v is not None}
    path = f"/paper/{account_id}/external/{action}"
    show(run(base_url, api_key, profile, lambda api: api.post(path, body)))


COMMANDS: dict[str, Callable[..., None]] = {
    "reconcile": reconcile,
    "reconcile-status": reconcile_status,
    "reassign-position": reassign_position,
    "paper-price": paper_price,
    "paper-external": paper_external,
}


def register(app: typer.Typer) -> None:
    for name, function in COMMANDS.items():
        app.command(name, rich_help_panel="Operate: books")(function)
