"""Installer and administration commands, straight to the store (audited as the CLI actor)."""

import json
from typing import Annotated, Any

import typer

from apps.cli import context, output
from apps.oms.domain.access import AccountFlags
from apps.oms.errors import ValidationFailed
from apps.oms.service import admin
from apps.oms.service.install import InstallRequest, install
from apps.oms.store.audit import CLI_ACTOR
from apps.oms.store.migrate import upgrade
from apps.oms.store.store import Store

Flag = Annotated[bool, typer.Option()]


def _ids(csv: str | None) -> list[int]:
    if not csv:
        return []
    try:
        return [int(part) for part in csv.split(",") if part.strip()]
    except ValueError as exc:
        raise ValidationFailed(f"expected comma-separated integers, got {csv!r}") from exc


def _flags(
    can_read: bool,
    can_trade: bool,
    can_close_position: bool,
    can_risk_manage: bool,
    can_block_new_positions: bool,
    can_block_account: bool,
    strategy_ids: str | None,
) -> AccountFlags:
    """Key flags from the CLI options; `--strategy-ids` restricts the key to those strategies."""
    return AccountFlags(
        can_read=can_read,
        can_trade=can_trade,
        can_close_position=can_close_position,
        can_risk_manage=can_risk_manage,
        can_block_new_positions=can_block_new_positions,
        can_block_account=can_block_account,
        restrict_to_strategies=bool(strategy_ids),
        strategy_ids=frozenset(_ids(strategy_ids)),
    )


def _pepper() -> str:
    return context.settings().security.api_key_pepper.get_secret_value()


def install_cmd(
    skip_schema: Annotated[bool, typer.Option("--skip-schema", help="do not migrate")] = False,
    admin_name: Annotated[str, typer.Option("--admin-name")] = "admin",
    api_key: Annotated[str | None, typer.Option("--api-key", help="choose the admin key")] = None,
    api_key_label: Annotated[str, typer.Option("--api-key-label")] = "admin",
    with_account: Annotated[
        bool, typer.Option("--with-account", help="also a trader + account")
    ] = False,
    user_name: Annotated[str, typer.Option("--user-name", help="trading user name")] = "trader",
    exchange_id: Annotated[str, typer.Option("--exchange-id", help="paper or ccxt.<id>")] = "paper",
    label: Annotated[str, typer.Option("--label")] = "paper",
    position_mode: Annotated[str, typer.Option("--position-mode")] = "hedge",
    role: Annotated[str, typer.Option("--role", help="role of the trading user")] = "trader",
    testnet: Annotated[bool, typer.Option("--testnet")] = False,
    live: Annotated[bool, typer.Option("--live")] = False,
) -> None:
    """Migrate the schema and create the admin (and with --with-account a trader and an account).

    Example: ccxt-oms install --with-account --exchange-id paper --position-mode netting
    """
    settings = context.settings()
    if not skip_schema:
        context.run_sync(lambda: upgrade(settings.database.url), settings)
    request = InstallRequest(
        admin_name=admin_name,
        admin_api_key=api_key,
        admin_api_key_label=api_key_label,
        with_account=with_account,
        user_name=user_name,
        role=role,
        exchange_id=exchange_id,
        label=label,
        position_mode=position_mode,
        testnet=testnet,
        live=live,
    )
    pepper = settings.security.api_key_pepper.get_secret_value()
    output.emit(context.run(lambda store: install(store, pepper, request), settings))


def create_user_cmd(
    name: Annotated[str, typer.Option("--name")],
    role: Annotated[str, typer.Option("--role", help="role of the user (default trader)")] = "trader",
) -> None:
    """Create a user (role `trader` unless --role says otherwise).

    Example: ccxt-oms create-user --name alice --role trader
    """

    async def use(store: Store) -> dict[str, Any]:
        async with store.transaction() as conn:
            user_id = await admin.create_user(
                conn, CLI_ACTOR, name=name, role=admin.parse_role(role)
            )
        return {"ok": True, "user_id": user_id, "name": name, "role": role}

    output.emit(context.run(use))


def create_api_key_cmd(
    user_id: Annotated[int, typer.Option("--user-id")],
    api_key: Annotated[
        str | None, typer.Option("--api-key", help="choose the key (≥32 chars)")
    ] = None,
    label: Annotated[str | None, typer.Option("--label")] = None,
    account_ids: Annotated[
        str | None, typer.Option("--account-ids", help="CSV of accounts")
    ] = None,
    can_read: Annotated[bool, typer.Option("--can-read/--no-can-read")] = True,
    can_trade: Flag = False,
    can_close_position: Flag = False,
    can_risk_manage: Flag = False,
    can_block_new_positions: Flag = False,
    can_block_account: Flag = False,
    strategy_ids: Annotated[
        str | None, typer.Option("--strategy-ids", help="restrict to these")
    ] = None,
) -> None:
    """Create an API key (printed once) with flags on the given accounts.

    Example: ccxt-oms create-api-key --user-id 2 --account-ids 1 --can-trade --can-close-position
    """
    flags = _flags(
        can_read,
        can_trade,
        can_close_position,
        can_risk_manage,
        can_block_new_positions,
        can_block_account,
        strategy_ids,
    )
    pepper = _pepper()

    async def use(store: Store) -> dict[str, Any]:
        async with store.transaction() as conn:
            key = await admin.create_api_key(
                conn, CLI_ACTOR, pepper=pepper, user_id=user_id, label=label, plain=api_key
            )
            for account_id in _ids(account_ids):
                await admin.set_permission(
                    conn, CLI_ACTOR, api_key_id=key.id, account_id=account_id, flags=flags
                )
        return {
            "ok": True,
            "user_id": user_id,
            "api_key_id": key.id,
            "api_key": key.plain,
            "label": label,
        }

    output.emit(context.run(use))


def add_account_cmd(
    user_id: Annotated[int | None, typer.Option("--user-id", help="grant this user's keys")] = None,
    exchange_id: Annotated[str, typer.Option("--exchange-id")] = "paper",
    label: Annotated[str, typer.Option("--label")] = "paper",
    position_mode: Annotated[str, typer.Option("--position-mode")] = "hedge",
    testnet: Annotated[bool, typer.Option("--testnet")] = False,
    live: Annotated[bool, typer.Option("--live")] = False,
    read_only: Annotated[bool, typer.Option("--read-only", help="grant read only")] = False,
    can_risk_manage: Flag = False,
    ccxt_config: Annotated[str | None, typer.Option(
        "--ccxt-config", help='JSON {"urls": {...}, "options": {...}} for the exchange class, '
        "e.g. a local venue's URLs (docs/testnet.md)")] = None,
) -> None:  # fmt: skip
    """Add an account (paper, testnet unless --live) and grant the user's keys on it.

    Example: ccxt-oms add-account --user-id 2 --exchange-id ccxt.binance --label main --testnet
    """
    try:
        parsed_config = None if ccxt_config is None else json.loads(ccxt_config)
    except json.JSONDecodeError as exc:
        output.fail(f"--ccxt-config is not JSON: {exc}")
    flags = AccountFlags(
        can_read=True,
        can_trade=not read_only,
        can_close_position=not read_only,
        can_risk_manage=can_risk_manage,
    )

    async def use(store: Store) -> dict[str, Any]:
        canonical = admin.validate_account_fields(exchange_id, position_mode)  # binance: ccxt.binance
        async with store.transaction() as conn:
            account_id = await admin.add_account(
                conn,
                CLI_ACTOR,
                user_id=user_id,
                exchange_id=canonical,
                label=label,
                position_mode=position_mode,
                testnet=testnet,
                live=live,
                flags=flags,
                ccxt_config=parsed_config,
            )
        return {
            "ok": True,
            "account_id": account_id,
            "user_id": user_id,
            "exchange_id": canonical,
            "label": label,
            "position_mode": position_mode,
        }

    output.emit(context.run(use))


def upsert_credentials_cmd(
    account_id: Annotated[int, typer.Option("--account-id")],
    api_key: Annotated[str | None, typer.Option("--api-key")] = None,
    secret: Annotated[str | None, typer.Option("--secret")] = None,
    passphrase: Annotated[str | None, typer.Option("--passphrase")] = None,
    encrypt_input: Annotated[
        bool, typer.Option("--encrypt-input", help="encrypt plain input")
    ] = False,
) -> None:
    """Store an account's exchange credentials (encrypted; never printed).

    Example: ccxt-oms upsert-account-credentials --account-id 1 --api-key K --secret S --encrypt-input
    """
    settings = context.settings()
    cipher = context.cipher(settings)
    values = {"api_key": api_key, "secret": secret, "passphrase": passphrase}

    async def use(store: Store) -> dict[str, Any]:
        async with store.transaction() as conn:
            await admin.upsert_credentials(
                conn,
                CLI_ACTOR,
                cipher,
                account_id=account_id,
                values=values,
                encrypt_input=encrypt_input,
                require_encrypted=settings.credentials_must_be_encrypted,
            )
        return {
            "ok": True,
            "account_id": account_id,
            "fields": sorted(k for k, v in values.items() if v is not None),
        }

    output.emit(context.run(use, settings))


def set_account_testnet_cmd(
    account_id: Annotated[int, typer.Option("--account-id")],
    enabled: Annotated[bool, typer.Option("--enabled/--disabled")] = True,
) -> None:
    """Switch an account between testnet and live. Example: ccxt-oms set-account-testnet --account-id 1 --disabled"""

    async def use(store: Store) -> dict[str, Any]:
        async with store.transaction() as conn:
            await admin.set_account_testnet(conn, CLI_ACTOR, account_id=account_id, enabled=enabled)
        return {"ok": True, "account_id": account_id, "is_testnet": enabled}

    output.emit(context.run(use))


def set_permission_cmd(
    api_key_id: Annotated[int, typer.Option("--api-key-id")],
    account_id: Annotated[int, typer.Option("--account-id")],
    can_read: Annotated[bool, typer.Option("--can-read/--no-can-read")] = True,
    can_trade: Flag = False,
    can_close_position: Flag = False,
    can_risk_manage: Flag = False,
    can_block_new_positions: Flag = False,
    can_block_account: Flag = False,
    strategy_ids: Annotated[str | None, typer.Option("--strategy-ids")] = None,
) -> None:
    """Set a key's flags on an account. Example: ccxt-oms set-permission --api-key-id 3 --account-id 1 --can-trade"""
    flags = _flags(
        can_read,
        can_trade,
        can_close_position,
        can_risk_manage,
        can_block_new_positions,
        can_block_account,
        strategy_ids,
    )

    async def use(store: Store) -> dict[str, Any]:
        async with store.transaction() as conn:
            await admin.set_permission(
                conn, CLI_ACTOR, api_key_id=api_key_id, account_id=account_id, flags=flags
            )
        return {"ok": True, "api_key_id": api_key_id, "account_id": account_id}

    output.emit(context.run(use))


def rotate_master_key_cmd() -> None:
    """Re-encrypt all credentials with ENCRYPTION_MASTER_KEY (old keys in security.previous_master_keys).

    Example: ENCRYPTION_MASTER_KEY=new OMS_SECURITY__PREVIOUS_MASTER_KEYS='["old"]' ccxt-oms rotate-master-key
    """
    settings = context.settings()
    cipher = context.cipher(settings)
    count = context.run(lambda store: admin.rotate_master_key(store, cipher), settings)
    output.emit({"ok": True, "accounts_rewritten": count})


def register(app: typer.Typer) -> None:
    app.command("install")(install_cmd)
    app.command("create-user")(create_user_cmd)
    app.command("create-api-key")(create_api_key_cmd)
    app.command("add-account")(add_account_cmd)
    app.command("upsert-account-credentials")(upsert_credentials_cmd)
    app.command("set-account-testnet")(set_account_testnet_cmd)
    app.command("set-permission")(set_permission_cmd)
    app.command("rotate-master-key")(rotate_master_key_cmd)
