"""The real app (create_app) over a real store, driven through httpx's ASGI transport."""

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from apps.api.app import create_app
from apps.oms.config import load_settings
from apps.oms.domain.access import AccountFlags, Role
from apps.oms.service import admin
from apps.oms.service.install import InstallRequest, install
from apps.oms.store.audit import CLI_ACTOR
from apps.oms.store.store import Store

PEPPER = "test-pepper-for-api-tests-0123456789"


@dataclass
class World:
    """Users, keys and accounts created for one backend, for the auth matrix."""

    admin_key: str
    trader_key: str
    account_id: int
    other_account_id: int
    readonly_key: str
    disabled_key: str
    restricted_key: str
    store: Store


@pytest.fixture(scope="session")
async def api(store_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, World]]:
    settings = load_settings(database={"url": store_url}, security={"api_key_pepper": PEPPER})
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        store: Store = app.state.store
        world = await _seed(store)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client, world


async def _seed(store: Store) -> World:
    tag = secrets.token_hex(3)
    installed = await install(
        store,
        PEPPER,
        InstallRequest(admin_name=f"admin{tag}", with_account=True, user_name=f"trader{tag}"),
    )
    account_id = installed["account"]["id"]
    async with store.transaction() as conn:
        other = await admin.add_account(
            conn,
            CLI_ACTOR,
            user_id=None,
            exchange_id="ccxt.binance",
            label="other",
            position_mode="netting",
            testnet=True,
            live=False,
        )
        keys = {}
        for role, flags, label in (
            (Role.READONLY, AccountFlags(), "ro"),
            (Role.TRADER, AccountFlags(can_trade=True), "disabled"),
            (
                Role.ROBOT,
                AccountFlags(
                    can_trade=True, restrict_to_strategies=True, strategy_ids=frozenset({7})
                ),
                "restricted",
            ),
        ):
            user_id = await admin.create_user(conn, CLI_ACTOR, name=f"{label}{tag}", role=role)
            key = await admin.create_api_key(
                conn, CLI_ACTOR, pepper=PEPPER, user_id=user_id, label=label
            )
            await admin.set_permission(
                conn, CLI_ACTOR, api_key_id=key.id, account_id=account_id, flags=flags
            )
            keys[label] = key
        from apps.oms.store.identity import set_key_status

        await set_key_status(conn, keys["disabled"].id, "disabled")
    return World(
        admin_key=installed["admin"]["api_key"]["plain"],
        trader_key=installed["api_key"]["plain"],
        account_id=account_id,
        other_account_id=other,
        readonly_key=keys["ro"].plain,
        disabled_key=keys["disabled"].plain,
        restricted_key=keys["restricted"].plain,
        store=store,
    )
