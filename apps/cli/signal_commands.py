"""Signal intake and shadow mode from the CLI, straight to the store (the operator on the
database host, audited as the CLI): the account's signing secret (write-only) and shadow mode
on an account or one of its strategies. Same use cases as the API (`service/signal_secrets.py`,
`service/risk_actions.py`)."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

import typer

from apps.cli import context, output
from apps.oms.domain.access import AccountFlags, Role
from apps.oms.security.principal import Principal
from apps.oms.service import risk_actions, signal_secrets
from apps.oms.store.audit import CLI_ACTOR
from apps.oms.store.store import Store

AccountId = Annotated[int, typer.Option("--account-id")]


def set_signal_secret_cmd(
    account_id: AccountId,
    secret: Annotated[str | None, typer.Option(
        "--secret", help="the secret ('-' prompts for it); at least 32 characters")] = None,
    generate: Annotated[bool, typer.Option(
        "--generate", help="make a random secret and print it once")] = False,
    remove: Annotated[bool, typer.Option("--remove", help="remove the secret")] = False,
) -> None:  # fmt: skip
    """Set the account's signal signing secret (stored encrypted, never shown again).

    Example: ccxt-oms set-signal-secret --account-id 1 --generate
    """
    if sum((secret is not None, generate, remove)) != 1:
        output.fail("give exactly one of --secret, --generate or --remove", 2)
    if secret == "-":  # noqa: S105 - "-" means: prompt for it
        secret = typer.prompt("signing secret", hide_input=True, confirmation_prompt=True)
    if generate:
        secret = secrets.token_urlsafe(32)
    settings = context.settings()
    cipher = context.cipher(settings)

    async def use(store: Store) -> dict[str, Any]:
        return dict(await signal_secrets.set_secret(
            store, CLI_ACTOR, cipher, account_id, None if remove else secret,
            require_encrypted=settings.credentials_must_be_encrypted,
        ))  # fmt: skip

    result = context.run(use, settings)
    if generate:  # shown this once: the store keeps it encrypted and never returns it
        result["signal_secret"] = secret
    output.emit(result)


def set_shadow_cmd(
    account_id: AccountId,
    comment: Annotated[str, typer.Option("--comment", help="mandatory, kept in the audit log")],
    on: Annotated[bool, typer.Option("--on/--off", help="shadow mode on or off")] = True,
    strategy_id: Annotated[int | None, typer.Option("--strategy-id")] = None,
) -> None:
    """Shadow mode on an account or one strategy: orders validated and recorded, never sent.

    Example: ccxt-oms set-shadow --account-id 1 --strategy-id 3 --on --comment "dry run"
    """
    flags = AccountFlags(can_risk_manage=True, can_block_new_positions=True)
    operator = Principal(0, "cli", Role.RISK, 0, "cli", "cli", "cli", {account_id: flags})

    async def use(store: Store) -> dict[str, Any]:
        if strategy_id is None:
            return dict(await risk_actions.set_account_shadow(
                store, operator, CLI_ACTOR, account_id, on, comment
            ))
        return dict(await risk_actions.set_strategy_shadow(
            store, operator, CLI_ACTOR, account_id, strategy_id, on, comment
        ))

    output.emit(context.run(use))


def register(app: typer.Typer) -> None:
    app.command("set-signal-secret")(set_signal_secret_cmd)
    app.command("set-shadow")(set_shadow_cmd)
