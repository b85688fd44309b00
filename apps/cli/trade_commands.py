"""Operator commands that change the books, as `POST /oms/commands` (one command each)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

import typer

from apps.cli.operate import (
    AccountId,
    ApiKey,
    BaseUrl,
    Profile,
    csv_ints,
    progress,
    run,
    show,
)
from apps.cli.output import fail

Wait = Annotated[
    bool,
    typer.Option(
        "--wait/--no-wait", help="wait for execution (wait=completed) or return once queued"
    ),
]
Qty = Annotated[str | None, typer.Option("--qty", help="quantity (decimal string)")]
Price = Annotated[str | None, typer.Option("--price", help="limit price (decimal string)")]
RequestId = Annotated[
    str | None,
    typer.Option("--request-id", help="idempotency key: a repeat returns the first result"),
]
StrategyOpt = Annotated[int | None, typer.Option("--strategy-id", min=0, help="strategy id")]
PositionId = Annotated[int, typer.Option("--position-id", min=1, help="position id")]
StopLoss = Annotated[str | None, typer.Option("--stop-loss", help="OMS-enforced stop-loss price")]
StopGain = Annotated[str | None, typer.Option("--stop-gain", help="OMS-enforced take-profit price")]


def bracket_exit(text: str | None, flag: str) -> dict[str, str] | None:
    """`PRICE` or `PRICE:LIMIT` as a bracket exit (`{trigger_price, price?}`): a market exit at
    the trigger, or a limit exit at LIMIT once the trigger is crossed."""
    if text is None:
        return None
    trigger, _, limit = text.partition(":")
    if not trigger.strip() or (":" in text and not limit.strip()):
        fail(f"{flag} takes PRICE or PRICE:LIMIT, e.g. {flag} 95 or {flag} 95:94.5", 2)
    exit_ = {"trigger_price": trigger.strip()}
    if limit.strip():
        exit_["price"] = limit.strip()
    return exit_


def order_spec(text: str, flag: str) -> dict[str, Any]:
    """One `--oco-leg` / `--oto-order`: `key=value` pairs separated by commas
    (`type=limit,price=101,stop_price=100`) or a JSON object. Values stay strings (decimals are
    parsed exactly by the API, which also says what a field is missing or wrong)."""
    text = text.strip()
    if text.startswith("{"):
        try:
            parsed = json.loads(text, parse_float=str)
        except json.JSONDecodeError as exc:
            fail(f"{flag}: not a JSON object ({exc.msg} at {exc.pos})", 2)
        if not isinstance(parsed, dict):
            fail(f"{flag}: not a JSON object", 2)
        return parsed
    spec: dict[str, Any] = {}
    for part in (p.strip() for p in text.split(",")):
        key, eq, value = part.partition("=")
        if not part or not eq or not key.strip() or not value.strip():
            fail(f"{flag} takes key=value pairs separated by commas, e.g. "
                 f"{flag} 'type=limit,price=101,stop_price=100' (or a JSON object)", 2)
        spec[key.strip()] = value.strip()
    return spec


def submit(
    conn: tuple[str | None, str | None, str | None],
    account_id: int,
    command: str,
    payload: dict[str, Any],
    wait: bool,
    request_id: str | None = None,
) -> None:
    """Send one command and print the API's `{"results": [...]}`."""
    envelope: dict[str, Any] = {
        "account_id": account_id,
        "command": command,
        "payload": {k: v for k, v in payload.items() if v is not None},
    }
    if request_id:
        envelope["request_id"] = request_id
    params = {"wait": "completed" if wait else "accepted"}
    label = f"{command} on account {account_id}: " + ("executing" if wait else "queueing")
    with progress(label):
        body = run(*conn, lambda api: api.post("/oms/commands", envelope, params, ok_207=True))
    show(body, "results")


def send_order(
    account_id: AccountId,
    symbol: Annotated[str, typer.Option("--symbol", help="unified symbol, e.g. BTC/USDT")],
    side: Annotated[str, typer.Option("--side", help="buy or sell")],
    qty: Annotated[str, typer.Option("--qty", help="quantity (decimal string)")],
    order_type: Annotated[str, typer.Option("--order-type", help="market, limit, ...")] = "market",
    price: Price = None,
    strategy_id: StrategyOpt = None,
    position_id: Annotated[
        int | None, typer.Option("--position-id", min=0, help="0: the account's mode decides")
    ] = None,
    client_order_id: Annotated[str | None, typer.Option("--client-order-id")] = None,
    stop_loss: StopLoss = None,
    stop_gain: StopGain = None,
    reduce_only: Annotated[bool, typer.Option("--reduce-only")] = False,
    post_only: Annotated[bool, typer.Option("--post-only")] = False,
    time_in_force: Annotated[
        str | None, typer.Option("--time-in-force", help="GTC, IOC, FOK, PO, GTD")
    ] = None,
    comment: Annotated[str | None, typer.Option("--comment")] = None,
    stop_price: Annotated[str | None, typer.Option(
        "--stop-price", help="a stop: buy at or above, sell at or below (docs/orders.md)")] = None,
    take_profit_price: Annotated[str | None, typer.Option(
        "--take-profit-price", help="if-touched: buy at or below, sell at or above")] = None,
    trailing_amount: Annotated[str | None, typer.Option(
        "--trailing-amount", help="a trailing stop's distance in price")] = None,
    trailing_percent: Annotated[str | None, typer.Option(
        "--trailing-percent", help="a trailing stop's distance in percent of the price")] = None,
    trailing_trigger_price: Annotated[str | None, typer.Option(
        "--trailing-trigger-price", help="a trailing stop's activation price")] = None,
    trigger_price_type: Annotated[str | None, typer.Option(
        "--trigger-price-type", help="last (default) or mark")] = None,
    expire_at: Annotated[str | None, typer.Option(
        "--expire-at", help="with --time-in-force GTD: ISO 8601 with a zone")] = None,
    emulation: Annotated[str | None, typer.Option(
        "--emulation", help="venue or gateway (default: the venue where it can)")] = None,
    bracket_stop_loss: Annotated[str | None, typer.Option(
        "--bracket-stop-loss", metavar="PRICE[:LIMIT]",
        help="a bracket's stop-loss exit, created at the entry's fills: its trigger, and a "
             "limit price after a colon (none: a market exit)")] = None,
    bracket_take_profit: Annotated[str | None, typer.Option(
        "--bracket-take-profit", metavar="PRICE[:LIMIT]",
        help="a bracket's take-profit exit (as --bracket-stop-loss)")] = None,
    bracket_time_limit: Annotated[int | None, typer.Option(
        "--bracket-time-limit", metavar="SECONDS",
        help="a bracket's time limit: a market exit closes what the entry filled this many "
             "seconds after its first fill, unless another exit fired first")] = None,
    oco_legs: Annotated[list[str] | None, typer.Option(
        "--oco-leg", metavar="SPEC",
        help="another leg of an OCO with this order (repeat for up to 4): "
             "'type=market,stop_price=95' or 'type=limit,price=110,take_profit_price=109' "
             "or a JSON object; the order itself needs a trigger")] = None,
    oto_orders: Annotated[list[str] | None, typer.Option(
        "--oto-order", metavar="SPEC",
        help="an order sent once this one is done filling, sized to its fills (repeat for up "
             "to 4): 'side=sell,type=limit,price=110' (side: the other side by default; "
             "stop_price or take_profit_price makes it a held order) or a JSON object")] = None,
    request_id: RequestId = None,
    wait: Wait = True,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    profile: Profile = None,
) -> None:
    """Place an order (send_order), plain or conditional (docs/orders.md).

    Example: ccxt-oms send-order --account-id 1 --symbol BTC/USDT --side buy --qty 0.01
    --order-type limit --price 60000

    A trailing stop the gateway holds where the venue lacks it: ccxt-oms send-order
    --account-id 1 --symbol BTC/USDT --side sell --qty 0.01 --trailing-percent 1 --reduce-only

    A bracket (entry, stop-loss, limit take-profit): ccxt-oms send-order --account-id 1
    --symbol BTC/USDT --side buy --qty 0.01 --bracket-stop-loss 58000
    --bracket-take-profit 63000:62900

    A position closed after an hour unless its stop-loss fires first: ccxt-oms send-order
    --account-id 1 --symbol BTC/USDT --side buy --qty 0.01 --bracket-stop-loss 58000
    --bracket-time-limit 3600

    An OCO (a stop and a take-profit on a position): ccxt-oms send-order --account-id 1
    --symbol BTC/USDT --side sell --qty 0.01 --reduce-only --stop-price 58000
    --oco-leg 'type=market,take_profit_price=63000'
    """
    payload = {
        "symbol": symbol, "side": side, "order_type": order_type, "qty": qty, "price": price,
        "strategy_id": strategy_id, "position_id": position_id, "client_order_id": client_order_id,
        "oms_stop_loss": stop_loss, "oms_stop_gain": stop_gain, "time_in_force": time_in_force,
        "comment": comment, "reduce_only": reduce_only or None, "post_only": post_only or None,
        "stop_price": stop_price, "take_profit_price": take_profit_price,
        "trailing_amount": trailing_amount, "trailing_percent": trailing_percent,
        "trailing_trigger_price": trailing_trigger_price,
        "trigger_price_type": trigger_price_type, "expire_at": expire_at, "emulation": emulation,
        "bracket_stop_loss": bracket_exit(bracket_stop_loss, "--bracket-stop-loss"),
        "bracket_take_profit": bracket_exit(bracket_take_profit, "--bracket-take-profit"),
        "bracket_time_limit": bracket_time_limit,
        "oco_orders": [order_spec(x, "--oco-leg") for x in oco_legs] if oco_legs else None,
        "oto_orders": [order_spec(x, "--oto-order") for x in oto_orders] if oto_orders else None,
    }  # fmt: skip
    conn = (base_url, api_key, profile)
    submit(conn, account_id, "send_order", payload, wait, request_id)


def change_order(
    account_id: AccountId,
    order_id: Annotated[int, typer.Option("--order-id", min=1, help="order to change")],
    new_price: Annotated[str | None, typer.Option("--new-price")] = None,
    new_qty: Annotated[str | None, typer.Option("--new-qty")] = None,
    request_id: RequestId = None,
    wait: Wait = True,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    profile: Profile = None,
) -> None:
    """Change an open order's price and/or quantity (change_order).

    Example: ccxt-oms change-order --account-id 1 --order-id 42 --new-price 61000
    """
    payload = {"order_id": order_id, "new_price": new_price, "new_qty": new_qty}
    submit(
        (base_url, api_key, profile), account_id, "change_order", payload, wait, request_id
    )


def cancel_order(
    account_id: AccountId,
    order_id: Annotated[
        int | None, typer.Option("--order-id", min=1, help="order to cancel")
    ] = None,
    order_ids: Annotated[str | None, typer.Option("--order-ids", help="CSV of order ids")] = None,
    request_id: RequestId = None,
    wait: Wait = True,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    profile: Profile = None,
) -> None:
    """Cancel one order or several (cancel_order).

    Example: ccxt-oms cancel-order --account-id 1 --order-id 42
    """
    payload = {"order_id": order_id, "order_ids": csv_ints(order_ids, "--order-ids")}
    submit(
        (base_url, api_key, profile), account_id, "cancel_order", payload, wait, request_id
    )


def cancel_all_orders(
    account_id: AccountId,
    symbol: Annotated[str | None, typer.Option("--symbol", help="only this symbol")] = None,
    strategy_ids: Annotated[
        str | None, typer.Option("--strategy-ids", help="CSV of strategies")
    ] = None,
    request_id: RequestId = None,
    wait: Wait = True,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    profile: Profile = None,
) -> None:
    """Cancel every open order of an account (cancel_all_orders).

    Example: ccxt-oms cancel-all-orders --account-id 1 --symbol BTC/USDT
    """
    payload = {"symbol": symbol, "strategy_ids_csv": strategy_ids}
    conn = (base_url, api_key, profile)
    submit(conn, account_id, "cancel_all_orders", payload, wait, request_id)


def close_position(
    account_id: AccountId,
    position_id: PositionId,
    qty: Qty = None,
    order_type: Annotated[str, typer.Option("--order-type", help="market or limit")] = "market",
    price: Price = None,
    strategy_id: StrategyOpt = None,
    request_id: RequestId = None,
    wait: Wait = True,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    profile: Profile = None,
) -> None:
    """Close a position, fully or `--qty` of it (close_position).

    Example: ccxt-oms close-position --account-id 1 --position-id 7
    """
    payload = {
        "position_id": position_id, "qty": qty, "order_type": order_type, "price": price,
        "strategy_id": strategy_id,
    }  # fmt: skip
    conn = (base_url, api_key, profile)
    submit(conn, account_id, "close_position", payload, wait, request_id)


def close_by(
    account_id: AccountId,
    position_id_a: Annotated[int, typer.Option("--position-id-a", min=1)],
    position_id_b: Annotated[int, typer.Option("--position-id-b", min=1)],
    qty: Qty = None,
    request_id: RequestId = None,
    wait: Wait = True,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    profile: Profile = None,
) -> None:
    """Close two opposite positions against each other, without the exchange (close_by).

    Example: ccxt-oms close-by --account-id 1 --position-id-a 7 --position-id-b 8
    """
    payload = {"position_id_a": position_id_a, "position_id_b": position_id_b, "qty": qty}
    submit((base_url, api_key, profile), account_id, "close_by", payload, wait, request_id)


def merge_positions(
    account_id: AccountId,
    source_position_id: Annotated[
        int, typer.Option("--source-position-id", "--position-id-a", min=1, help="merged away")
    ],
    target_position_id: Annotated[
        int, typer.Option("--target-position-id", "--position-id-b", min=1, help="kept")
    ],
    stop_mode: Annotated[str, typer.Option("--stop-mode", help="keep, clear or set")] = "keep",
    stop_loss: StopLoss = None,
    stop_gain: StopGain = None,
    request_id: RequestId = None,
    wait: Wait = True,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    profile: Profile = None,
) -> None:
    """Merge one same-side position into another (merge_positions).

    Example: ccxt-oms merge-positions --account-id 1 --source-position-id 7 --target-position-id 8
    """
    payload = {
        "source_position_id": source_position_id, "target_position_id": target_position_id,
        "stop_mode": stop_mode, "oms_stop_loss": stop_loss, "oms_stop_gain": stop_gain,
    }  # fmt: skip
    conn = (base_url, api_key, profile)
    submit(conn, account_id, "merge_positions", payload, wait, request_id)


def set_targets(
    account_id: AccountId,
    position_id: PositionId,
    stop_loss: StopLoss = None,
    stop_gain: StopGain = None,
    request_id: RequestId = None,
    wait: Wait = True,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    profile: Profile = None,
) -> None:
    """Set a position's OMS stop-loss / take-profit (position_change).

    Example: ccxt-oms set-targets --account-id 1 --position-id 7 --stop-loss 55000
    """
    payload = {"position_id": position_id, "oms_stop_loss": stop_loss, "oms_stop_gain": stop_gain}
    conn = (base_url, api_key, profile)
    submit(conn, account_id, "position_change", payload, wait, request_id)


COMMANDS: dict[str, Callable[..., None]] = {
    "send-order": send_order,
    "change-order": change_order,
    "cancel-order": cancel_order,
    "cancel-all-orders": cancel_all_orders,
    "close-position": close_position,
    "close-by": close_by,
    "merge-positions": merge_positions,
    "set-targets": set_targets,
}


def register(app: typer.Typer) -> None:
    for name, function in COMMANDS.items():
        app.command(name, rich_help_panel="Operate: trading")(function)
