"""Wire shapes (pydantic) of the API's responses: decimals as plain strings. Request models
derive from `service.request_model.RequestModel` (strict types, unknown fields refused)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, PlainSerializer

from apps.oms.domain.money import to_plain

WireDecimal = Annotated[Decimal, PlainSerializer(to_plain, return_type=str, when_used="json")]


class Health(BaseModel):
    status: Literal["ok"]
    app: str
    env: str
    db_engine: str
    version: str


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, bool]
    migration: dict[str, str | bool | None]
    workers_alive: int
    queue_depth: int
    accounts_without_live_owner: list[int] = []
    paper_prices: dict[str, Any] | None = None
    problems: list[str]


class AccountPermissions(BaseModel):
    can_read: bool
    can_trade: bool
    can_close_position: bool
    can_risk_manage: bool
    can_block_new_positions: bool
    can_block_account: bool
    restrict_to_strategies: bool
    strategy_ids: list[int]


class AccountOut(BaseModel):
    id: int
    exchange_id: str
    label: str
    position_mode: str
    environment: Literal["paper", "testnet", "live"]
    is_testnet: bool
    status: str
    allow_new_positions: bool
    out_of_sync: bool
    out_of_sync_blocks: bool
    shadow: bool
    has_credentials: bool
    credentials_updated_at: str | None
    permissions: AccountPermissions | None
    created_at: str


class AccountList(BaseModel):
    items: list[AccountOut]


class ApiKeyInfo(BaseModel):
    id: int
    label: str | None
    prefix: str
    kind: str


class Profile(BaseModel):
    user_id: int
    name: str
    role: str
    api_key: ApiKeyInfo
