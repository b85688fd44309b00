"""Identity, keys, grants, strategies, audit and risk actions from the CLI, straight to the store
(the operator on the database host; audited as the CLI actor). The same use cases as `/admin/*`
and the risk endpoints (`service/identity_admin.py`, `service/risk_actions.py`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

import typer

from apps.cli import context, output
from apps.oms.clock import iso_z, utcnow
from apps.oms.domain.access import AccountFlags, Role
from apps.oms.errors import ValidationFailed
from apps.oms.exchange.ccxt.functions import FunctionClass, classify
from apps.oms.security.principal import Principal
from apps.oms.service import identity_admin, risk_actions
from apps.oms.service.identity_admin import PermissionIn, permission_out
from apps.oms.service.strategies import strategy_out
from apps.oms.store import audit, identity
from apps.oms.store import strategies as strategy_store
from apps.oms.store.audit import CLI_ACTOR
from apps.oms.store.store import Store

KeyId = Annotated[int, typer.Option("--api-key-id", help="the key's id (list-api-keys)")]
AccountId = Annotated[int, typer.Option("--account-id")]
Comment = Annotated[str, typer.Option("--comment", help="mandatory, kept in the audit log")]


def _pepper() -> str:
    return context.settings().security.api_key_pepper.get_secret_value()


def _emit(use: Any) -> None:
    output.emit(context.run(use))


def list_users_cmd() -> None:
    """List users (no secrets). Example: ccxt-oms list-users --table"""

    async def use(store: Store) -> dict[str, Any]:
        async with store.read() as conn:
            rows = await identity.list_users(conn)
        return {"items": [identity_admin.user_out(r) for r in rows]}

    _emit(use)


def update_user_cmd(
    user_id: Annotated[int, typer.Option("--user-id")],
    role: Annotated[str | None, typer.Option("--role")] = None,
    status: Annotated[str | None, typer.Option("--status", help="active or disabled")] = None,
    password: Annotated[
        str | None, typer.Option("--password", help="set a login password (prompted if '-')")
    ] = None,
) -> None:
    """Change a user's role, status or password.

    Example: ccxt-oms update-user --user-id 3 --status disabled
    """
    if password == "-":  # noqa: S105 - "-" means: prompt for it
        password = typer.prompt("new password", hide_input=True, confirmation_prompt=True)
    if status not in (None, "active", "disabled"):
        output.fail("--status must be active or disabled", 2)

    async def use(store: Store) -> dict[str, Any]:
        async with store.transaction() as conn:
            user = await identity_admin.update_user(
                conn, CLI_ACTOR, user_id, role=role, status=status,  # type: ignore[arg-type]
                password=password,
            )  # fmt: skip
        return {"ok": True, "user": user}

    _emit(use)


def list_api_keys_cmd(
    user_id: Annotated[int | None, typer.Option("--user-id")] = None,
    tokens: Annotated[bool, typer.Option("--tokens", help="include login tokens")] = False,
) -> None:
    """List API keys (prefix, status, expiry, last use; never the key).

    Example: ccxt-oms list-api-keys --user-id 2
    """

    async def use(store: Store) -> dict[str, Any]:
        async with store.read() as conn:
            rows = await identity.list_api_keys(
                conn, user_id=user_id, kind=None if tokens else "api_key"
            )
        return {"items": [identity_admin.key_out(r) for r in rows]}

    _emit(use)


def _update_key(api_key_id: int, fields: dict[str, Any]) -> None:
    pepper = _pepper()

    async def use(store: Store) -> dict[str, Any]:
        async with store.transaction() as conn:
            key = await identity_admin.update_key(
                conn, CLI_ACTOR, api_key_id, pepper=pepper, fields=fields
            )
        return {"ok": True, "api_key": key} if "api_key" not in key else {
            "ok": True, "api_key_id": key["id"], "new_api_key": key["api_key"],
            "note": "shown once; the old key stopped working"}  # fmt: skip

    _emit(use)


def disable_api_key_cmd(api_key_id: KeyId) -> None:
    """Disable a key at once (HTTP at once, open websockets within websocket.recheck_seconds).

    Example: ccxt-oms disable-api-key --api-key-id 7
    """
    _update_key(api_key_id, {"status": "disabled"})


def enable_api_key_cmd(api_key_id: KeyId) -> None:
    """Re-enable a disabled key. Example: ccxt-oms enable-api-key --api-key-id 7"""
    _update_key(api_key_id, {"status": "active"})


def expire_api_key_cmd(
    api_key_id: KeyId,
    at: Annotated[
        str | None, typer.Option("--at", help="ISO time (default: now); 'never' clears it")
    ] = None,
    in_days: Annotated[float | None, typer.Option("--in-days")] = None,
) -> None:
    """Set when a key expires.

    Example: ccxt-oms expire-api-key --api-key-id 7 --in-days 30
    """
    when: datetime | None
    if at == "never":
        when = None
    elif at is not None:
        try:
            when = datetime.fromisoformat(at.replace("Z", "+00:00"))
        except ValueError:
            output.fail(f"--at {at!r} is not an ISO time (e.g. 2026-12-31T00:00:00Z)", 2)
            return
    else:
        when = utcnow() + timedelta(days=in_days or 0)
    _update_key(api_key_id, {"expires_at": when})


def rotate_api_key_cmd(api_key_id: KeyId) -> None:
    """Give a key a new secret (printed once); grants stay, the old secret stops at once.

    Example: ccxt-oms rotate-api-key --api-key-id 7
    """
    _update_key(api_key_id, {"rotate": True})


def show_permissions_cmd(api_key_id: KeyId) -> None:
    """A key's grants per account. Example: ccxt-oms show-permissions --api-key-id 7"""

    async def use(store: Store) -> dict[str, Any]:
        async with store.read() as conn:
            return dict(await identity_admin.key_permissions(conn, api_key_id))

    _emit(use)


def _set_function(api_key_id: int, account_id: int, function: str, grant: bool) -> None:
    spec = classify(function)
    if spec.klass is not FunctionClass.RESTRICTED:
        output.fail(f"{function} is a {spec.klass.value} function; only restricted functions "
                    "(withdraw, transfer, set_leverage, private_*...) are granted", 2)  # fmt: skip

    async def use(store: Store) -> dict[str, Any]:
        async with store.transaction() as conn:
            current = (await identity.permissions_of_key(conn, api_key_id)).get(account_id)
            if current is None:
                raise ValidationFailed(
                    f"key {api_key_id} has no grant on account {account_id}; set-permission first"
                )
            names = set(current.allowed_functions)
            names = names | {spec.name} if grant else names - {spec.name}
            item = PermissionIn.model_validate(
                permission_out(account_id, current) | {"allowed_functions": sorted(names)}
            )
            others = [
                PermissionIn.model_validate(permission_out(a, f))
                for a, f in (await identity.permissions_of_key(conn, api_key_id)).items()
                if a != account_id
            ]
            return dict(await identity_admin.replace_permissions(
                conn, CLI_ACTOR, api_key_id, [*others, item]
            ))

    _emit(use)


def grant_function_cmd(
    api_key_id: KeyId,
    account_id: AccountId,
    function: Annotated[str, typer.Option("--function", help="e.g. withdraw, set_leverage")],
) -> None:
    """Allow a restricted CCXT function for one key on one account (needs a trader or
    portfolio_manager key with can_trade to be usable).

    Example: ccxt-oms grant-function --api-key-id 7 --account-id 2 --function set_leverage
    """
    _set_function(api_key_id, account_id, function, True)


def revoke_function_cmd(
    api_key_id: KeyId,
    account_id: AccountId,
    function: Annotated[str, typer.Option("--function")],
) -> None:
    """Withdraw a restricted-function grant.

    Example: ccxt-oms revoke-function --api-key-id 7 --account-id 2 --function set_leverage
    """
    _set_function(api_key_id, account_id, function, False)


def create_strategy_cmd(
    name: Annotated[str, typer.Option("--name")],
    account_ids: Annotated[str, typer.Option("--account-ids", help="CSV")],
    client_strategy_id: Annotated[int | None, typer.Option("--client-strategy-id", min=1)] = None,
) -> None:
    """Create a strategy linked to accounts.

    Example: ccxt-oms admin-create-strategy --name grid --account-ids 1,2 --client-strategy-id 7
    """
    try:
        ids = [int(p) for p in account_ids.split(",") if p.strip()]
    except ValueError:
        output.fail("--account-ids must be comma-separated integers", 2)
        return

    async def use(store: Store) -> dict[str, Any]:
        async with store.transaction() as conn:
            sid = await identity_admin.admin_create_strategy(
                conn, CLI_ACTOR, name=name, account_ids=ids, client_strategy_id=client_strategy_id
            )
        return {"ok": True, "strategy_id": sid}

    _emit(use)


def list_strategies_cmd() -> None:
    """List strategies with their accounts. Example: ccxt-oms admin-list-strategies"""

    async def use(store: Store) -> dict[str, Any]:
        async with store.read() as conn:
            rows = await strategy_store.list_for_accounts(conn, None)
        return {"items": [strategy_out(r) for r in rows]}

    _emit(use)


def audit_cmd(
    action: Annotated[str | None, typer.Option("--action")] = None,
    target_type: Annotated[str | None, typer.Option("--target-type")] = None,
    target_id: Annotated[str | None, typer.Option("--target-id")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
) -> None:
    """Read the audit log, newest first.

    Example: ccxt-oms audit --action risk_account_status --limit 20
    """

    async def use(store: Store) -> dict[str, Any]:
        async with store.read() as conn:
            rows, total = await audit.search_entries(
                conn, limit=limit, action=action, target_type=target_type, target_id=target_id
            )
        return {"total": total,
                "items": [r | {"created_at": iso_z(r["created_at"])} for r in rows]}  # fmt: skip

    _emit(use)


def _operator(account_id: int) -> Principal:
    """The CLI operator acting as risk officer on one account (the audit actor is the CLI)."""
    flags = AccountFlags(can_risk_manage=True, can_block_new_positions=True,
                         can_block_account=True)  # fmt: skip
    return Principal(0, "cli", Role.RISK, 0, "cli", "cli", "cli", {account_id: flags})


def allow_new_positions_cmd(
    account_id: AccountId,
    comment: Comment,
    allow: Annotated[bool, typer.Option("--allow/--deny")] = True,
    strategy_id: Annotated[int | None, typer.Option("--strategy-id")] = None,
) -> None:
    """Stop (--deny) or allow new positions on an account or one of its strategies.

    Example: ccxt-oms allow-new-positions --account-id 1 --deny --comment "daily loss hit"
    """

    async def use(store: Store) -> dict[str, Any]:
        who = _operator(account_id)
        if strategy_id is None:
            return dict(await risk_actions.set_account_allow_new(
                store, who, CLI_ACTOR, account_id, allow, comment
            ))
        return dict(await risk_actions.set_strategy_allow_new(
            store, who, CLI_ACTOR, account_id, strategy_id, allow, comment
        ))

    _emit(use)


def set_account_status_cmd(
    account_id: AccountId,
    status: Annotated[str, typer.Option("--status", help="active or blocked")],
    comment: Comment,
) -> None:
    """Block or unblock an account (blocked: reads, cancels and reduce-only closes only).

    Example: ccxt-oms set-account-status --account-id 1 --status blocked --comment "margin call"
    """
    if status not in ("active", "blocked"):
        output.fail("--status must be active or blocked", 2)

    async def use(store: Store) -> dict[str, Any]:
        return dict(await risk_actions.set_account_status(
            store, _operator(account_id), CLI_ACTOR, account_id, status,  # type: ignore[arg-type]
            comment,
        ))  # fmt: skip

    _emit(use)


def register(app: typer.Typer) -> None:
    for name, command in (
        ("list-users", list_users_cmd),
        ("update-user", update_user_cmd),
        ("list-api-keys", list_api_keys_cmd),
        ("disable-api-key", disable_api_key_cmd),
        ("enable-api-key", enable_api_key_cmd),
        ("expire-api-key", expire_api_key_cmd),
        ("rotate-api-key", rotate_api_key_cmd),
        ("show-permissions", show_permissions_cmd),
        ("grant-function", grant_function_cmd),
        ("revoke-function", revoke_function_cmd),
        # on the database host; `create-strategy` / `list-strategies` are the HTTP operator
        # commands of the spec (apps/cli/read_commands.py)
        ("admin-create-strategy", create_strategy_cmd),
        ("admin-list-strategies", list_strategies_cmd),
        ("audit", audit_cmd),
        ("allow-new-positions", allow_new_positions_cmd),
        ("set-account-status", set_account_status_cmd),
    ):
        app.command(name)(command)
