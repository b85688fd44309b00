"""S1 (quality.md): every endpoint × every role × flag combinations, through the real app on
SQLite and MariaDB, against the permission table of security.md.

One table: `domain/access.py` (`ROLE_CEILING`, `ACTION_FLAGS`: what the code enforces) and
`domain/endpoint_rules.py` (which action each endpoint and command is; acceptance reads it).
`test_code_table_is_the_spec_table` pins that table to security.md's "What each action needs"
(transcribed below); the walk then checks that every route actually enforces it, and that every
route of the app is in the table."""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest

from apps.api.app import create_app
from apps.oms.clock import utcnow
from apps.oms.config import load_settings
from apps.oms.domain.access import ACTION_FLAGS, ROLE_CEILING, AccountFlags, Action, Role
from apps.oms.domain.endpoint_rules import COMMANDS, ENDPOINTS, Rule, action_for
from apps.oms.service import admin
from apps.oms.store.audit import CLI_ACTOR
from apps.oms.store.migrate import upgrade
from apps.oms.store.store import Store
from apps.oms.store.strategies import create_strategy
from apps.paper.domain.matching import Venue
from apps.paper.exchange.market_data import set_paper_price
from apps.paper.store.venue_store import PaperStore
from test.conftest import create_mysql_database, drop_mysql_database

PEPPER = "test-pepper-for-the-permission-matrix-01"
ALL = frozenset(Role)
TRADING = frozenset({Role.TRADER, Role.PORTFOLIO_MANAGER, Role.ROBOT})
# security.md → "What each action needs": roles allowed and the flags (any group suffices)
SPEC: dict[Action, tuple[frozenset[Role], tuple[tuple[str, ...], ...]]] = {
    Action.READ: (ALL, (("can_read",),)),
    Action.TRADE: (TRADING, (("can_trade",),)),
    Action.CLOSE: (TRADING | {Role.RISK}, (("can_close_position",),)),
    Action.RISK_CANCEL: (frozenset({Role.RISK}), (("can_risk_manage",),)),
    Action.REASSIGN: (frozenset({Role.PORTFOLIO_MANAGER}), (("can_trade",),)),
    Action.RECONCILE: (frozenset({Role.TRADER, Role.PORTFOLIO_MANAGER, Role.RISK}),
                       (("can_trade",), ("can_risk_manage",))),
    Action.ALLOW_NEW_POSITIONS: (frozenset({Role.RISK}),
                                 (("can_risk_manage", "can_block_new_positions"),)),
    Action.BLOCK_ACCOUNT: (frozenset({Role.RISK}), (("can_risk_manage", "can_block_account"),)),
    Action.RISK_LIMITS: (frozenset({Role.RISK}), (("can_risk_manage",),)),
    Action.ADMINISTER: (frozenset({Role.ADMIN}), ((),)),
}  # fmt: skip
FLAGS = ("can_read", "can_trade", "can_close_position", "can_risk_manage",
         "can_block_new_positions", "can_block_account")  # fmt: skip
AUTH_CODES = {"missing_api_key", "invalid_api_key", "permission_denied", "admin_required",
              "admin_read_only", "account_not_found", "strategy_permission_denied",
              "function_not_allowed"}  # fmt: skip


def test_code_table_is_the_spec_table() -> None:
    for action, (roles, groups) in SPEC.items():
        assert {r for r in Role if action in ROLE_CEILING[r]} == set(roles), action
        assert ACTION_FLAGS[action] == groups, action
    assert set(SPEC) == set(Action)


def allowed(role: Role, flags: AccountFlags | None, action: Action) -> bool:
    roles, groups = SPEC[action]
    return role in roles and flags is not None and any(
        all(getattr(flags, n) for n in group) for group in groups
    )


def expected(rule: Rule, role: Role, flags: AccountFlags | None) -> str:
    """`ok` or the wire error code the table calls for."""
    if rule in ("public", "authenticated"):
        return "ok"
    if rule == "admin":
        return "ok" if role is Role.ADMIN else "admin_required"
    if rule == "paper_prices":  # admin, or may trade (and see) the paper account
        visible = flags is not None and flags.can_read
        ok = role is Role.ADMIN or (visible and allowed(role, flags, Action.TRADE))
        return "ok" if ok else "permission_denied"
    if rule == "allocate":  # admin, or a portfolio manager who may trade on the account
        if role is Role.ADMIN:
            return "ok"
        if flags is None or not flags.can_read:
            return "account_not_found"
        return "ok" if allowed(role, flags, Action.REASSIGN) else "permission_denied"
    action = action_for(rule, role)
    assert action is not None
    if role is Role.ADMIN:
        return "ok" if action is Action.READ else "admin_read_only"
    if flags is None or not flags.can_read:
        return "account_not_found"
    return "ok" if allowed(role, flags, action) else "permission_denied"


def outcome(resp: httpx.Response) -> str:
    assert resp.status_code != 500, resp.text
    body = resp.json() if resp.content else None
    if isinstance(body, dict) and isinstance(body.get("results"), list) and body["results"]:
        first = body["results"][0]  # a batch of one: its item's error (the batch may be 207)
        if not first.get("ok") and (first.get("error") or {}).get("code") in AUTH_CODES:
            return str(first["error"]["code"])
    if resp.status_code in (401, 403, 404):
        code = resp.json()["error"]["code"]
        if code in AUTH_CODES:
            return str(code)
    return "ok"


@dataclass
class Seed:
    account: int
    strategy: int
    keys: dict[tuple[Role, AccountFlags | None], tuple[int, str]]
    store: Store
    user: int = 0  # a trader whose key trades the seed account (a user's exposure limits)

    async def key(self, role: Role, flags: AccountFlags | None) -> tuple[int, str]:
        if (role, flags) not in self.keys:
            async with self.store.transaction() as conn:
                user = await admin.create_user(conn, CLI_ACTOR, role=role,
                                               name=f"m{secrets.token_hex(5)}")  # fmt: skip
                made = await admin.create_api_key(conn, CLI_ACTOR, pepper=PEPPER, user_id=user,
                                                  label="matrix")  # fmt: skip
                if flags is not None:
                    await admin.set_permission(conn, CLI_ACTOR, api_key_id=made.id,
                                               account_id=self.account, flags=flags)  # fmt: skip
            self.keys[(role, flags)] = (made.id, made.plain)
        return self.keys[(role, flags)]


@pytest.fixture(scope="module", params=["sqlite", "mysql"])
def matrix_url(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:  # fmt: skip
    """A database of its own: the walk queues hundreds of commands that no worker runs, which
    must not land in the session's shared store (workers of later tests would inherit them)."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('matrix') / 'oms.sqlite3'}"
        upgrade(url)
        yield url
        return
    name, url = create_mysql_database("oms_matrix")
    try:
        upgrade(url)
        yield url
    finally:
        drop_mysql_database(name)


@pytest.fixture(scope="module")
async def matrix(matrix_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, Seed, Any]]:
    settings = load_settings(database={"url": matrix_url}, api={"request_timeout_seconds": 0.2},
                             security={"api_key_pepper": PEPPER, "auth_failure_limit": 10_000})
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        store: Store = app.state.store
        async with store.transaction() as conn:
            account = await admin.add_account(
                conn, CLI_ACTOR, user_id=None, exchange_id="paper", label="matrix",
                position_mode="hedge", testnet=False, live=False,
            )  # fmt: skip
            strategy = await create_strategy(conn, name="m", client_strategy_id=None,
                                             account_ids=[account], user_id=None, now=utcnow())
            user = await admin.create_user(conn, CLI_ACTOR, role=Role.TRADER, name="mtrader")
            traded = await admin.create_api_key(conn, CLI_ACTOR, pepper=PEPPER, user_id=user,
                                                label="matrix")  # fmt: skip
            await admin.set_permission(conn, CLI_ACTOR, api_key_id=traded.id, account_id=account,
                                       flags=AccountFlags(can_trade=True))  # fmt: skip
        await set_paper_price(PaperStore(store.engine), Venue(), "BTC/USDT", Decimal("50000"))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://m") as client:
            yield client, Seed(account, strategy, {}, store, user), app


Request = tuple[str, str, Any]  # method, path, JSON body (None: no body)
Builder = Callable[[Seed, int], Request]


def cmd(command: str, **payload: Any) -> Builder:
    return lambda s, _k: ("POST", "/oms/commands",
                          {"account_id": s.account, "command": command, "payload": payload})


SEND = {"symbol": "BTC/USDT", "side": "buy", "order_type": "market", "qty": "0.001"}
# account-scoped endpoints: (table key, rule key, request builder)
SCOPED: list[tuple[str, Rule, Builder]] = [
    (k, ENDPOINTS[k], b) for k, b in {
        "GET /oms/accounts": lambda s, _k: ("GET", f"/oms/accounts?account_ids={s.account}", None),
        "GET /oms/orders/open": lambda s, _k: ("GET", f"/oms/orders/open?account_ids={s.account}",
                                               None),
        "GET /oms/orders/history": lambda s, _k: (
            "GET", f"/oms/orders/history?account_ids={s.account}", None),
        "GET /oms/orders/{ids}": lambda s, _k: ("GET", f"/oms/orders/1?account_ids={s.account}",
                                                None),
        "GET /oms/deals": lambda s, _k: ("GET", f"/oms/deals?account_ids={s.account}", None),
        "GET /oms/deals/{ids}": lambda s, _k: ("GET", f"/oms/deals/1?account_ids={s.account}",
                                               None),
        "GET /oms/positions/open": lambda s, _k: (
            "GET", f"/oms/positions/open?account_ids={s.account}", None),
        "GET /oms/positions/history": lambda s, _k: (
            "GET", f"/oms/positions/history?account_ids={s.account}", None),
        "GET /oms/positions/{ids}": lambda s, _k: (
            "GET", f"/oms/positions/1?account_ids={s.account}", None),
        "GET /oms/commands/{ids}": lambda s, _k: (
            "GET", f"/oms/commands/1?account_ids={s.account}", None),
        "GET /oms/stats": lambda s, _k: ("GET", f"/oms/stats?account_ids={s.account}", None),
        "GET /oms/portfolio": lambda s, _k: ("GET", f"/oms/portfolio?account_ids={s.account}",
                                             None),
        "POST /strategies": lambda s, _k: ("POST", "/strategies",
                                           {"name": "x", "account_ids": [s.account]}),
        "GET /oms/risk/{account_id}/limits": lambda s, _k: (
            "GET", f"/oms/risk/{s.account}/limits", None),
        "PUT /oms/risk/{account_id}/limits": lambda s, _k: (
            "PUT", f"/oms/risk/{s.account}/limits", {"comment": "m", "max_order_qty": "1000"}),
        "GET /oms/risk/{account_id}/strategies": lambda s, _k: (
            "GET", f"/oms/risk/{s.account}/strategies", None),
        "GET /oms/risk/{account_id}/allocations": lambda s, _k: (
            "GET", f"/oms/risk/{s.account}/allocations", None),
        "PUT /oms/risk/{account_id}/allocations": lambda s, _k: (
            "PUT", f"/oms/risk/{s.account}/allocations",
            {"strategy_id": s.strategy, "currency": "USDT", "amount": "1000000", "comment": "m"}),
        "POST /oms/risk/{account_id}/allocations/clear": lambda s, _k: (
            "POST", f"/oms/risk/{s.account}/allocations/clear",
            {"strategy_id": s.strategy, "comment": "m"}),
        "POST /oms/risk/{account_id}/allow_new_positions": lambda s, _k: (
            "POST", f"/oms/risk/{s.account}/allow_new_positions",
            {"allow_new_positions": True, "comment": "m"}),
        "POST /oms/risk/{account_id}/strategies/allow_new_positions": lambda s, _k: (
            "POST", f"/oms/risk/{s.account}/strategies/allow_new_positions",
            {"strategy_id": s.strategy, "allow_new_positions": True, "comment": "m"}),
        "POST /oms/risk/{account_id}/status": lambda s, _k: (
            "POST", f"/oms/risk/{s.account}/status", {"status": "active", "comment": "m"}),
        "POST /oms/risk/{account_id}/shadow": lambda s, _k: (
            "POST", f"/oms/risk/{s.account}/shadow", {"shadow": False, "comment": "m"}),
        "POST /oms/risk/{account_id}/strategies/shadow": lambda s, _k: (
            "POST", f"/oms/risk/{s.account}/strategies/shadow",
            {"strategy_id": s.strategy, "shadow": False, "comment": "m"}),
        "POST /signals/{account_id}": lambda s, _k: (
            "POST", f"/signals/{s.account}", {"symbol": "BTC/USDT", "side": "buy", "qty": "0.001"}),
        "GET /signals/{account_id}": lambda s, _k: ("GET", f"/signals/{s.account}", None),
        "GET /ccxt/orders/raw": lambda s, _k: ("GET", f"/ccxt/orders/raw?account_ids={s.account}",
                                               None),
        "POST /oms/reconcile": lambda s, _k: ("POST", "/oms/reconcile",
                                              {"account_id": s.account, "scope": "short"}),
        "GET /oms/reconcile/{account_id}/status": lambda s, _k: (
            "GET", f"/oms/reconcile/{s.account}/status", None),
        "POST /oms/reassign": lambda s, _k: ("POST", "/oms/reassign", {
            "account_id": s.account, "order_ids": [1], "target_strategy_id": 0}),
        "GET /ccxt/trades/raw": lambda s, _k: ("GET", f"/ccxt/trades/raw?account_ids={s.account}",
                                               None),
        "GET /ccxt/{account_id}/has": lambda s, _k: ("GET", f"/ccxt/{s.account}/has", None),
        "POST /paper/prices": lambda _s, _k: ("POST", "/paper/prices",
                                              {"symbol": "BTC/USDT", "price": "50000"}),
        "PUT /paper/price-source": lambda _s, _k: ("PUT", "/paper/price-source",
                                                   {"source": None}),
        "PUT /paper/accounts/{account_id}/book": lambda s, _k: (
            "PUT", f"/paper/accounts/{s.account}/book", {"spread_bps": "0"}),
        "GET /oms/risk/{account_id}/breakers": lambda s, _k: (
            "GET", f"/oms/risk/{s.account}/breakers", None),
        "POST /oms/risk/{account_id}/breakers/lift": lambda s, _k: (
            "POST", f"/oms/risk/{s.account}/breakers/lift", {"comment": "m"}),
        # a user's exposure limits: the action on every account the user's keys trade
        "GET /oms/risk/users/{user_id}/exposure": lambda s, _k: (
            "GET", f"/oms/risk/users/{s.user}/exposure", None),
        "PUT /oms/risk/users/{user_id}/exposure": lambda s, _k: (
            "PUT", f"/oms/risk/users/{s.user}/exposure", {"comment": "m"}),
        # the kill switch of the seed account: the action on every account of the scope
        "POST /oms/risk/kill": lambda s, _k: (
            "POST", "/oms/risk/kill", {"scope": "account", "id": s.account, "comment": "m"}),
        "POST /oms/risk/kill/lift": lambda s, _k: (
            "POST", "/oms/risk/kill/lift", {"scope": "account", "id": s.account, "comment": "m"}),
    }.items()
] + [
    ("POST /oms/commands", COMMANDS["send_order"], cmd("send_order", **SEND)),
    ("POST /oms/commands", COMMANDS["send_order reduce_only"],
     cmd("send_order", **SEND, reduce_only=True)),
    ("POST /oms/commands", COMMANDS["change_order"], cmd("change_order", order_id=1,
                                                         new_price="1")),
    ("POST /oms/commands", COMMANDS["cancel_order"], cmd("cancel_order", order_id=1)),
    ("POST /oms/commands", COMMANDS["cancel_all_orders"], cmd("cancel_all_orders")),
    ("POST /oms/commands", COMMANDS["close_position"], cmd("close_position", position_id=1)),
    ("POST /oms/commands", COMMANDS["close_by"], cmd("close_by", position_id_a=1,
                                                     position_id_b=2)),
    ("POST /oms/commands", COMMANDS["merge_positions"], cmd(
        "merge_positions", source_position_id=1, target_position_id=2)),
    ("POST /oms/commands", COMMANDS["position_change"], cmd("position_change", position_id=1,
                                                            comment="x")),
    ("POST /ccxt/{account_id}/{func}", Action.READ, lambda s, _k: (
        "POST", f"/ccxt/{s.account}/fetch_ticker", {"args": ["BTC/USDT"]})),
    ("POST /ccxt/{account_id}/{func}", Action.TRADE, lambda s, _k: (
        "POST", f"/ccxt/{s.account}/create_order",
        {"args": ["BTC/USDT", "market", "buy", "0.001"]})),
    ("POST /ccxt/core/{account_id}/{func}", Action.READ, lambda s, _k: (
        "POST", f"/ccxt/core/{s.account}/fetch_balance", {})),
    ("POST /ccxt/commands", Action.READ, lambda s, _k: (
        "POST", "/ccxt/commands",
        [{"account_id": s.account, "func": "fetch_ticker", "args": ["BTC/USDT"]}])),
]  # fmt: skip


def combos(rule: Rule) -> list[AccountFlags | None]:
    """Every subset of the flags the rule's action(s) name, with the other flags all off and
    all on (they must not matter), and no grant at all."""
    actions = {action_for(rule, r) for r in Role} - {None}
    if rule in ("paper_prices", "allocate"):
        actions = {Action.TRADE}
    relevant = {"can_read"} | {n for a in actions for g in ACTION_FLAGS[a] for n in g}
    others = [n for n in FLAGS if n not in relevant]
    out: list[AccountFlags | None] = [None]
    for bits in itertools.product((False, True), repeat=len(relevant)):
        base = dict(zip(sorted(relevant), bits, strict=True))
        for fill in (False, True):
            out.append(AccountFlags(**base, **dict.fromkeys(others, fill)))
    return list(dict.fromkeys(out))


async def _walk(client: httpx.AsyncClient, seed: Seed, key_name: str, rule: Rule,
                build: Builder) -> list[str]:  # fmt: skip
    limit = asyncio.Semaphore(8)
    failures: list[str] = []

    async def one(role: Role, flags: AccountFlags | None) -> None:
        key_id, plain = await seed.key(role, flags)
        method, path, body = build(seed, key_id)
        async with limit:
            resp = await client.request(method, path, json=body, headers={"x-api-key": plain})
        want, got = expected(rule, role, flags), outcome(resp)
        if want != got:
            failures.append(f"{key_name} [{path}] {role.value} {flags}: want {want}, got {got}"
                            f" ({resp.status_code} {resp.text[:160]})")

    for role in Role:  # keys first (sequential inserts), then the requests concurrently
        for flags in combos(rule):
            await seed.key(role, flags)
    await asyncio.gather(*(one(r, f) for r in Role for f in combos(rule)))
    return failures


@pytest.mark.parametrize(("key_name", "rule", "build"), SCOPED,
                         ids=[f"{k}:{getattr(r, 'value', r)}:{i}"
                              for i, (k, r, _b) in enumerate(SCOPED)])  # fmt: skip
async def test_account_scoped_endpoint(matrix: tuple[httpx.AsyncClient, Seed, Any],
                                       key_name: str, rule: Rule, build: Builder) -> None:
    client, seed, _app = matrix
    failures = await _walk(client, seed, key_name, rule, build)
    assert not failures, "\n".join(failures[:20])
    method, path, body = build(seed, 0)
    for headers in ({}, {"x-api-key": "oms_" + secrets.token_urlsafe(32)}):
        resp = await client.request(method, path, json=body, headers=headers)
        assert resp.status_code == 401, (key_name, resp.text)


ACCOUNTLESS: dict[str, Builder] = {
    "POST /auth/logout": lambda _s, _k: ("POST", "/auth/logout", None),
    "GET /user/profile": lambda _s, _k: ("GET", "/user/profile", None),
    "PATCH /user/profile": lambda _s, _k: ("PATCH", "/user/profile", {"name": "!"}),
    "POST /user/password": lambda _s, _k: ("POST", "/user/password", {"new_password": "x"}),
    "GET /user/api-keys": lambda _s, _k: ("GET", "/user/api-keys", None),
    "POST /user/api-keys": lambda _s, _k: ("POST", "/user/api-keys", {"label": "own"}),
    "PATCH /user/api-keys/{api_key_id}": lambda _s, k: ("PATCH", f"/user/api-keys/{k}",
                                                        {"label": "renamed"}),
    "GET /user/api-keys/permissions": lambda _s, _k: ("GET", "/user/api-keys/permissions", None),
    "GET /user/api-keys/{api_key_id}/permissions": lambda _s, k: (
        "GET", f"/user/api-keys/{k}/permissions", None),
    "GET /paper/prices": lambda _s, _k: ("GET", "/paper/prices", None),
    "GET /strategies": lambda _s, _k: ("GET", "/strategies", None),
    "GET /admin/accounts": lambda _s, _k: ("GET", "/admin/accounts", None),
    "POST /admin/accounts": lambda _s, _k: ("POST", "/admin/accounts", {"label": "a"}),
    "PATCH /admin/accounts/{account_id}": lambda s, _k: ("PATCH", f"/admin/accounts/{s.account}",
                                                         {"label": "matrix"}),
    "GET /admin/users": lambda _s, _k: ("GET", "/admin/users", None),
    "POST /admin/users": lambda _s, _k: ("POST", "/admin/users",
                                         {"name": f"n{secrets.token_hex(4)}", "role": "readonly"}),
    "PATCH /admin/users/{user_id}": lambda _s, _k: ("PATCH", "/admin/users/1",
                                                    {"status": "active"}),
    "POST /admin/users-with-api-key": lambda _s, _k: (
        "POST", "/admin/users-with-api-key", {"name": f"n{secrets.token_hex(4)}",
                                              "role": "readonly"}),
    "GET /admin/users-api-keys": lambda _s, _k: ("GET", "/admin/users-api-keys", None),
    "POST /admin/api-keys": lambda _s, _k: ("POST", "/admin/api-keys", {"user_id": 1}),
    "PATCH /admin/api-keys/{api_key_id}": lambda _s, k: ("PATCH", f"/admin/api-keys/{k}",
                                                         {"label": "renamed"}),
    "GET /admin/api-keys/{api_key_id}/permissions": lambda _s, k: (
        "GET", f"/admin/api-keys/{k}/permissions", None),
    "PUT /admin/api-keys/{api_key_id}/permissions": lambda s, k: (
        "PUT", f"/admin/api-keys/{k}/permissions", {"permissions": []}),
    "GET /admin/strategies": lambda _s, _k: ("GET", "/admin/strategies", None),
    "POST /admin/strategies": lambda s, _k: ("POST", "/admin/strategies",
                                             {"name": "a", "account_ids": [s.account]}),
    "PATCH /admin/strategies/{strategy_id}": lambda s, _k: (
        "PATCH", f"/admin/strategies/{s.strategy}", {"name": "m"}),
    "GET /admin/oms/{view}": lambda _s, _k: ("GET", "/admin/oms/orders", None),
    "GET /admin/audit": lambda _s, _k: ("GET", "/admin/audit", None),
    "GET /dispatcher/status": lambda _s, _k: ("GET", "/dispatcher/status", None),
    "GET /oms/reconcile/status": lambda _s, _k: ("GET", "/oms/reconcile/status", None),
    "GET /oms/risk/kill": lambda _s, _k: ("GET", "/oms/risk/kill", None),
    "PUT /oms/risk/kill/webhook-secret": lambda _s, _k: (
        "PUT", "/oms/risk/kill/webhook-secret", {"secret": None}),
    "POST /paper/{account_id}/external/{action}": lambda s, _k: (
        "POST", f"/paper/{s.account}/external/cancel_order", {"id": "no-such-order"}),
    "PUT /admin/accounts/{account_id}/signal-secret": lambda s, _k: (
        "PUT", f"/admin/accounts/{s.account}/signal-secret", {"secret": None}),
}  # fmt: skip
PUBLIC: dict[str, Builder] = {
    "GET /healthz": lambda _s, _k: ("GET", "/healthz", None),
    "GET /readyz": lambda _s, _k: ("GET", "/readyz", None),
    "GET /metrics": lambda _s, _k: ("GET", "/metrics", None),
    # no key: a signature (here none: 401 invalid_signature, not an API key's refusal)
    "POST /oms/risk/kill/webhook/{api_key_id}": lambda _s, k: (
        "POST", f"/oms/risk/kill/webhook/{k or 1}", {"scope": "all", "comment": "m"}),
    "POST /auth/login-password": lambda _s, _k: (
        "POST", "/auth/login-password", {"user_name": "nobody", "password": "x"}),
}  # fmt: skip


@pytest.mark.parametrize("key_name", sorted(ACCOUNTLESS))
async def test_accountless_endpoint(matrix: tuple[httpx.AsyncClient, Seed, Any],
                                    key_name: str) -> None:  # fmt: skip
    client, seed, _app = matrix
    build = ACCOUNTLESS[key_name]
    rule = ENDPOINTS[key_name]
    everything = AccountFlags(**dict.fromkeys(FLAGS, True))
    for role in Role:
        for flags in (None, everything):
            key_id, plain = await seed.key(role, flags)
            method, path, body = build(seed, key_id)
            resp = await client.request(method, path, json=body, headers={"x-api-key": plain})
            assert outcome(resp) == expected(rule, role, flags), (key_name, role, resp.text)
    method, path, body = build(seed, 1)
    assert (await client.request(method, path, json=body)).status_code == 401


@pytest.mark.parametrize("key_name", sorted(PUBLIC))
async def test_public_endpoint(matrix: tuple[httpx.AsyncClient, Seed, Any], key_name: str) -> None:
    client, seed, _app = matrix
    method, path, body = PUBLIC[key_name](seed, 0)
    resp = await client.request(method, path, json=body)
    assert resp.status_code != 500
    assert resp.status_code != 401 or resp.json()["error"]["code"] != "missing_api_key"


async def test_every_route_is_in_the_table_and_walked(
    matrix: tuple[httpx.AsyncClient, Seed, Any],
) -> None:
    _client, _seed, app = matrix
    routes = {f"{method.upper()} {path}" for path, ops in app.openapi()["paths"].items()
              for method in ops}  # fmt: skip
    assert routes == set(ENDPOINTS), (
        f"not in domain/endpoint_rules.ENDPOINTS: {sorted(routes - set(ENDPOINTS))}; "
        f"stale entries: {sorted(set(ENDPOINTS) - routes)}")
    walked = {k for k, _r, _b in SCOPED} | set(ACCOUNTLESS) | set(PUBLIC)
    assert walked == set(ENDPOINTS), sorted(set(ENDPOINTS) - walked)
    assert {r for _k, r, _b in SCOPED if _k == "POST /oms/commands"} == set(COMMANDS.values())

