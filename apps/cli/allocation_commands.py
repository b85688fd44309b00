"""Strategy allocations on the database host (audited as the CLI): `set-allocation` (or
`--clear`) and `list-allocations`; docs/identity-and-risk.md → Strategy allocations."""

from typing import Annotated, Any

import typer

from apps.cli import context, output
from apps.oms.domain.access import Role
from apps.oms.domain.money import DecimalFormatError, parse_decimal
from apps.oms.security.principal import Principal
from apps.oms.service import allocations
from apps.oms.store.audit import CLI_ACTOR
from apps.oms.store.store import Store

AccountId = Annotated[int, typer.Option("--account-id")]
# the operator at the CLI acts as an admin (allocations are set by admins or portfolio managers)
OPERATOR = Principal(0, "cli", Role.ADMIN, 0, "cli", "cli", "cli", {})


def set_allocation_cmd(
    account_id: AccountId,
    strategy_id: Annotated[int, typer.Option("--strategy-id")],
    comment: Annotated[str, typer.Option("--comment", help="mandatory, kept in the audit log")],
    amount: Annotated[str | None, typer.Option("--amount", help="decimal, e.g. 1000")] = None,
    currency: Annotated[str, typer.Option("--currency", help="quote/settle currency")] = "USDT",
    clear: Annotated[bool, typer.Option("--clear", help="remove the allocation")] = False,
) -> None:
    """Give a strategy a budget on an account (its bot's balance), or remove it with --clear.

    Example: ccxt-oms set-allocation --account-id 1 --strategy-id 3 --amount 1000 --currency USDT --comment "bot A"
    """
    if clear == (amount is not None):
        output.fail("give --amount or --clear", 2)
    value = None
    if amount is not None:
        try:
            value = parse_decimal(amount)
        except DecimalFormatError as exc:
            output.fail(f"--amount: {exc}", 2)

    async def use(store: Store) -> dict[str, Any]:
        if value is None:
            return dict(await allocations.clear_allocation(
                store, OPERATOR, CLI_ACTOR, account_id, strategy_id, comment
            ))
        return dict(await allocations.set_allocation(
            store, OPERATOR, CLI_ACTOR, account_id, strategy_id, currency, value, comment
        ))

    output.emit(context.run(use))


def list_allocations_cmd(account_id: AccountId) -> None:
    """The account's strategy allocations. Example: ccxt-oms list-allocations --account-id 1"""

    async def use(store: Store) -> dict[str, Any]:
        return dict(await allocations.list_allocations(store, OPERATOR, account_id))

    output.emit(context.run(use))


def register(app: typer.Typer) -> None:
    app.command("set-allocation")(set_allocation_cmd)
    app.command("list-allocations")(list_allocations_cmd)
