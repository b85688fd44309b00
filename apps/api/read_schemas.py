"""Documented response shapes of the reads and commands (OpenAPI only).

The read routes answer with `WireJSONResponse` (already wire-ready dicts, no re-validation):
these models are declared with `responses={200: {"model": ...}}` so the OpenAPI document tells
clients the real shape while the hot path stays as fast as before. Decimals are strings (plain
notation), times ISO 8601 UTC with `Z`. Objects may gain fields (additive changes), so the
schemas do not forbid unknown properties. `test/e2e/live_up/test_openapi_conformance.py` checks real
answers against them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Dec = str  # a decimal as a plain string
OptDec = str | None


class ErrorInfo(BaseModel):
    code: str
    message: str
    details: Any = None
    trace_id: str | None = None


class ErrorBody(BaseModel):
    """Every non-2xx answer."""

    error: ErrorInfo


class OrderOut(BaseModel):
    id: int
    order_id: int
    account_id: int
    command_id: int | None
    client_order_id: str | None
    exchange_order_id: str | None
    symbol: str
    side: str
    order_type: str
    qty: Dec
    price: OptDec
    trigger_price: OptDec
    stop_price: OptDec
    take_profit_price: OptDec
    trailing_amount: OptDec
    trailing_percent: OptDec
    trailing_trigger_price: OptDec = None
    trigger_price_type: str | None = None
    expire_at: str | None = None
    fire_at: str | None = Field(default=None, description="a bracket's time-limit exit: when "
                                "the clock fires it (its entry's first fill + the limit)")
    emulation: str = Field(default="venue", description="venue | gateway: who executes the "
                           "order's conditional part (docs/orders.md)")
    parent_order_id: int | None = None
    group_id: int | None = Field(default=None, description="the contingent group (OCO, OTO, "
                                 "bracket) it belongs to: `order_group_changed` events")
    group_kind: str | None = Field(
        default=None, description="its group's kind: oco | oto | bracket (None outside a group)")
    group_role: str | None = Field(
        default=None, description="its role in its group: leg0..legN (OCO), entry, child1.. "
        "(OTO), entry, stop_loss, take_profit, time_limit (bracket)")
    time_in_force: str | None
    post_only: bool
    reduce_only: bool
    status: str = Field(description="PENDING_SUBMIT, SUBMITTED, PARTIALLY_FILLED, FILLED, ...")
    filled_qty: OptDec
    avg_fill_price: OptDec
    fee: OptDec
    fee_currency: str | None
    strategy_id: int
    position_id: int | None
    previous_position_id: int | None
    reason: str | None
    comment: str | None
    stop_loss: OptDec
    stop_gain: OptDec
    outcome_unknown: bool
    reconciled: bool
    params: Any
    edit_replace_state: str | None
    edit_replace_at: str | None
    edit_replace_orphan_order_id: int | None
    edit_replace_origin_order_id: int | None
    error_code: str | None
    error_message: str | None
    created_at: str
    updated_at: str | None
    submitted_at: str | None
    closed_at: str | None


class DealOut(BaseModel):
    id: int
    deal_id: int
    account_id: int
    order_id: int | None
    position_id: int | None
    previous_position_id: int | None
    symbol: str
    side: str
    qty: Dec
    price: Dec
    fee: OptDec
    fee_currency: str | None
    pnl: OptDec
    entry: str | None
    leg: int | None
    contract_size: OptDec
    strategy_id: int
    reason: str | None
    comment: str | None
    reconciled: bool
    exchange_trade_id: str | None
    taker_or_maker: str | None
    executed_at: str
    created_at: str | None


class PositionOut(BaseModel):
    id: int
    position_id: int
    account_id: int
    symbol: str
    strategy_id: int
    side: str
    qty: Dec
    avg_price: OptDec
    realized_pnl: OptDec
    fee: OptDec
    contract_size: OptDec
    pending_close_qty: OptDec
    stop_loss: OptDec
    stop_gain: OptDec
    state: str = Field(description="open, close_requested, closed or merged")
    reason: str | None
    comment: str | None
    opened_at: str
    updated_at: str | None
    closed_at: str | None


class CommandOut(BaseModel):
    id: int
    command_id: int
    account_id: int
    command_type: str
    request_id: str | None
    client_order_id: str | None
    status: str = Field(description="queued, running, completed, failed or canceled")
    error_code: str | None
    error_message: str | None
    result: Any
    order_id: int | None
    payload: Any
    attempts: int | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    updated_at: str | None


class _Page(BaseModel):
    total: int
    page: int
    page_size: int


class OrderList(BaseModel):
    items: list[OrderOut]


class OrderPage(_Page):
    items: list[OrderOut]


class DealList(BaseModel):
    items: list[DealOut]


class DealPage(_Page):
    items: list[DealOut]


class PositionList(BaseModel):
    items: list[PositionOut]


class PositionPage(_Page):
    items: list[PositionOut]


class CommandList(BaseModel):
    items: list[CommandOut]


class StatsOut(BaseModel):
    account_id: int
    total_positions: int
    open_positions: int
    closed_positions: int
    winning_trades: int
    losing_trades: int
    win_rate: OptDec = Field(description="0..1; null without trades")
    total_pnl: Dec
    average_pnl: OptDec
    average_win: OptDec
    average_loss: OptDec
    fees: Dec
    stop_loss_count: int
    take_profit_count: int


class StatsList(BaseModel):
    items: list[StatsOut]


class MarkedPosition(PositionOut):
    mark_price: OptDec
    unrealized_pnl: OptDec
    notional: OptDec
    leverage: OptDec = Field(description="spot 1; paper: the account's leverage of the symbol; "
                             "CCXT venues: the venue's (null before the first reconciliation)")
    margin_mode: Literal["cross", "isolated"] | None
    collateral: OptDec = Field(description="cross: the settle currency's wallet; isolated: the "
                               "position's margin (spot: its cost)")


class Balance(BaseModel):
    currency: str
    total: Dec


class PortfolioItem(BaseModel):
    account_id: int
    exchange_id: str
    positions: list[MarkedPosition]
    balances: list[Balance] = Field(
        description="paper accounts; CCXT: POST /ccxt/{id}/fetch_balance"
    )


class Portfolio(BaseModel):
    items: list[PortfolioItem]


class StrategyAccount(BaseModel):
    account_id: int
    allow_new_positions: bool


class StrategyOut(BaseModel):
    strategy_id: int
    name: str
    client_strategy_id: str | None
    status: str
    created_at: str
    accounts: list[StrategyAccount]


class StrategyList(BaseModel):
    items: list[StrategyOut]


class StrategyCreated(BaseModel):
    ok: bool
    strategy_id: int


class RiskLimits(BaseModel):
    account_id: int
    account: dict[str, Any] = Field(description="the account's limits (strategy 0)")
    strategies: dict[str, dict[str, Any]] = Field(description="per strategy id")
    keys: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per API key id: the key's own limits on the account")


class CommandResult(BaseModel):
    index: int
    ok: bool
    command_id: int | None = None
    order_id: int | None = None
    status: str | None = None
    error: ErrorInfo | None = None


class CommandResults(BaseModel):
    results: list[CommandResult]


class CcxtResult(BaseModel):
    ok: bool
    result: Any = Field(description="the CCXT unified result, numbers as exact strings")


class CcxtBatchItem(BaseModel):
    index: int
    ok: bool
    result: Any = None
    error: ErrorInfo | None = None


class CcxtBatch(BaseModel):
    results: list[CcxtBatchItem]


class RawPayload(BaseModel):
    id: int
    account_id: int
    kind: str
    exchange_id: str | None
    exchange_object_id: str | None
    payload: Any
    created_at: str


class RawPage(_Page):
    items: list[RawPayload]


class Capabilities(BaseModel):
    account_id: int
    venue: str | None
    has: dict[str, bool | str | None]
    timeframes: dict[str, str] = Field(
        description="CCXT's `timeframes`: candle periods `fetch_ohlcv` serves (name → venue's)")


class FleetWorker(BaseModel):
    worker_id: str
    hostname: str
    pid: int
    status: str
    alive: bool = Field(description="running with a heartbeat within the takeover time")
    heartbeat_age_seconds: float | None
    leases_held: int
    started_at: str | None


class QueuedAccount(BaseModel):
    account_id: int
    queued: int
    running: int
    oldest_age_seconds: float
    lease_owner: str | None


class Percentiles(BaseModel):
    p50: float | None
    p90: float | None
    p99: float | None


class FleetLatency(BaseModel):
    sample: int = Field(description="newest finished commands the percentiles are taken over")
    queue_wait_seconds: Percentiles
    total_seconds: Percentiles


class DispatcherStatus(BaseModel):
    workers: list[FleetWorker]
    workers_alive: int
    queue_depth: dict[str, int]
    accounts: list[QueuedAccount]
    latency: FleetLatency


def ok(model: type[BaseModel], description: str = "OK") -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route whose 200 body has this shape."""
    return {200: {"model": model, "description": description}}


# documented on every operation: the error body (FastAPI's own 422 shape is never sent)
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in (
        (400, "bad request"),
        (401, "missing or invalid API key"),
        (403, "not permitted"),
        (404, "not found (also objects the key may not see)"),
        (405, "method not allowed"),
        (409, "conflict"),
        (413, "body too large"),
        (415, "unsupported media type"),
        (422, "validation error"),
        (429, "rate limited"),
        (500, "internal error (a bug: report the trace id)"),
        (502, "venue error"),
        (503, "venue or engine unavailable"),
        (504, "venue timeout"),
    )
}
