"""Operator commands that read: books, statistics, accounts, strategies, health."""

from collections.abc import Callable
from typing import Annotated, Any

import typer

from apps.cli.http_client import Api
from apps.cli.operate import (
    AccountIds,
    ApiKey,
    BaseUrl,
    DaysBack,
    EndDate,
    Limit,
    Page,
    PageSize,
    Profile,
    StartDate,
    StrategyId,
    Symbol,
    account_ids_param,
    csv_ints,
    date_params,
    progress,
    run,
    show,
)

AllPages = Annotated[bool, typer.Option("--all", help="fetch every page (progress on stderr)")]


def _open(kind: str, path: str):  # type: ignore[no-untyped-def]
    def command(
        account_ids: AccountIds = None,
        strategy_id: StrategyId = None,
        symbol: Symbol = None,
        limit: Limit = 500,
        base_url: BaseUrl = None,
        api_key: ApiKey = None,
        profile: Profile = None,
    ) -> None:
        def action(api: Api) -> Any:
            params = {"account_ids": account_ids_param(api, account_ids), "limit": limit,
                      "strategy_id": strategy_id, "symbol": symbol}  # fmt: skip
            return api.get(path, params)

        show(run(base_url, api_key, profile, action), kind)

    command.__doc__ = f"Open {kind} (GET {path}).\n\nExample: ccxt-oms {kind}-open --table"
    return command


def _history(kind: str, path: str, extra: dict[str, str]):  # type: ignore[no-untyped-def]
    def command(
        account_ids: AccountIds = None,
        strategy_id: StrategyId = None,
        symbol: Symbol = None,
        status: Annotated[
            str | None, typer.Option(extra["flag"], help=extra["status"])
        ] = None,
        days_back: DaysBack = None,
        start_date: StartDate = None,
        end_date: EndDate = None,
        page: Page = 1,
        page_size: PageSize = 100,
        all_pages: AllPages = False,
        base_url: BaseUrl = None,
        api_key: ApiKey = None,
        profile: Profile = None,
    ) -> None:
        filters = {"strategy_id": strategy_id, "symbol": symbol, extra["flag"][2:]: status}
        paging = (page, page_size, all_pages)
        dates = date_params(days_back, start_date, end_date)
        body = run(base_url, api_key, profile,
                   lambda api: _listing(api, kind, path, account_ids, filters | dates, paging))  # fmt: skip
        show(body, kind)

    command.__doc__ = (
        f"{extra['title']} (GET {path}), newest first, paged.\n\nExample: {extra['example']}"
    )
    return command


def deals(
    account_ids: AccountIds = None,
    strategy_id: StrategyId = None,
    symbol: Symbol = None,
    order_id: Annotated[int | None, typer.Option("--order-id", min=1, help="of this order")] = None,
    position_id: Annotated[
        int | None, typer.Option("--position-id", min=1, help="of this position")
    ] = None,
    days_back: DaysBack = None,
    start_date: StartDate = None,
    end_date: EndDate = None,
    page: Page = 1,
    page_size: PageSize = 100,
    all_pages: AllPages = False,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    profile: Profile = None,
) -> None:
    """Deals (executions) (GET /oms/deals), newest first, paged.

    Example: ccxt-oms deals --account-ids 1 --symbol BTC/USDT --all
    """
    filters = {"strategy_id": strategy_id, "symbol": symbol, "order_id": order_id,
               "position_id": position_id, **date_params(days_back, start_date, end_date)}  # fmt: skip
    paging = (page, page_size, all_pages)
    body = run(base_url, api_key, profile,
               lambda api: _listing(api, "deals", "/oms/deals", account_ids, filters, paging))  # fmt: skip
    show(body, "deals")


def _listing(
    api: Api,
    kind: str,
    path: str,
    account_ids: str | None,
    filters: dict[str, Any],
    paging: tuple[int, int, bool],
) -> Any:
    page, page_size, all_pages = paging
    params = {"account_ids": account_ids_param(api, account_ids), **filters,
              "page": page, "page_size": page_size}  # fmt: skip
    return _every_page(api, path, params, kind) if all_pages else api.get(path, params)


def _every_page(api: Api, path: str, params: dict[str, Any], kind: str) -> dict[str, Any]:
    """Walk the pages from `page` on, showing progress; returns one combined page."""
    items: list[Any] = []
    page = int(params["page"])
    with progress(f"reading {kind}"):
        while True:
            body = api.get(path, {**params, "page": page})
            items += body["items"]
            if not body["items"] or len(items) >= int(body["total"]):
                break
            page += 1
    return {"items": items, "total": len(items), "page": params["page"], "page_size": len(items)}


HISTORIES = {
    "orders-history": _history("orders", "/oms/orders/history", {
        "flag": "--status", "status": "order status, e.g. FILLED", "title": "Order history",
        "example": "ccxt-oms orders-history --account-ids 1 --days-back 7 --table"}),
    "deals": deals,
    "positions-history": _history("positions", "/oms/positions/history", {
        "flag": "--state", "status": "open, close_requested, closed or merged",
        "title": "Position history",
        "example": "ccxt-oms positions-history --account-ids 1 --state closed --table"}),
}  # fmt: skip


def stats(
    account_ids: AccountIds = None,
    strategy_id: StrategyId = None,
    symbol: Symbol = None,
    days_back: DaysBack = None,
    start_date: StartDate = None,
    end_date: EndDate = None,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    profile: Profile = None,
) -> None:
    """Trading statistics per account (GET /oms/stats).

    Example: ccxt-oms stats --account-ids 1 --days-back 30 --table
    """

    def action(api: Api) -> Any:
        params = {"account_ids": account_ids_param(api, account_ids), "strategy_id": strategy_id,
                  "symbol": symbol, **date_params(days_back, start_date, end_date)}  # fmt: skip
        return api.get("/oms/stats", params)

    show(run(base_url, api_key, profile, action), "stats")


def portfolio(
    account_ids: AccountIds = None,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    profile: Profile = None,
) -> None:
    """Open positions with mark price and unrealised PnL, and balances (GET /oms/portfolio).

    Example: ccxt-oms portfolio --table
    """

    def action(api: Api) -> Any:
        return api.get("/oms/portfolio", {"account_ids": account_ids_param(api, account_ids)})

    show(run(base_url, api_key, profile, action), "portfolio")


def list_accounts(
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    profile: Profile = None,
) -> None:
    """Accounts this key sees, with its flags and the risk state (GET /oms/accounts).

    Example: ccxt-oms list-accounts --table
    """
    show(run(base_url, api_key, profile, lambda api: api.get("/oms/accounts")), "accounts")


def list_strategies(
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    profile: Profile = None,
) -> None:
    """Strategies this key sees (GET /strategies).

    Example: ccxt-oms list-strategies --table
    """
    show(run(base_url, api_key, profile, lambda api: api.get("/strategies")), "strategies")


def create_strategy(
    name: Annotated[str, typer.Option("--name", help="strategy name")],
    account_ids: Annotated[str, typer.Option("--account-ids", help="CSV of account ids")],
    client_strategy_id: Annotated[str | None, typer.Option("--client-strategy-id")] = None,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    profile: Profile = None,
) -> None:
    """Create a strategy on accounts where the key may trade (POST /strategies).

    Example: ccxt-oms create-strategy --name grid-1 --account-ids 1
    """
    body = {"name": name, "account_ids": csv_ints(account_ids, "--account-ids"),
            "client_strategy_id": client_strategy_id}  # fmt: skip
    body = {k: v for k, v in body.items() if v is not None}
    show(run(base_url, api_key, profile, lambda api: api.post("/strategies", body)))


def healthz(
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    profile: Profile = None,
) -> None:
    """Is the API alive? (GET /healthz, no key needed).

    Example: ccxt-oms healthz --base-url http://127.0.0.1:8000
    """
    show(run(base_url, api_key, profile, lambda api: api.get("/healthz")))


def dispatcher_status(
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    profile: Profile = None,
) -> None:
    """Worker fleet status; admin key (GET /dispatcher/status).

    Example: ccxt-oms dispatcher-status --api-key $ADMIN_KEY
    """
    show(run(base_url, api_key, profile, lambda api: api.get("/dispatcher/status")))


COMMANDS: dict[str, Callable[..., None]] = {
    "orders-open": _open("orders", "/oms/orders/open"),
    "positions-open": _open("positions", "/oms/positions/open"),
    **HISTORIES,
    "stats": stats,
    "portfolio": portfolio,
    "list-accounts": list_accounts,
    "list-strategies": list_strategies,
    "create-strategy": create_strategy,
    "healthz": healthz,
    "dispatcher-status": dispatcher_status,
}


def register(app: typer.Typer) -> None:
    for name, function in COMMANDS.items():
        app.command(name, rich_help_panel="Operate: reads")(function)
