"""`ccxt-oms risk …`: the kill switch, the loss breakers and users' exposure limits over the
HTTP API, with a key of the risk role (`--api-key` or `OMS_API_KEY`); docs/identity-and-risk.md
→ Kill switch, Loss breakers, Exposure across a user's accounts."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from apps.cli.operate import ApiKey, BaseUrl, Profile, progress, run, show

risk_app = typer.Typer(
    help="Risk officer: the kill switch, loss breakers and users' exposure limits.\n\n"
    'Example: ccxt-oms risk kill --scope account --id 1 --reason "runaway robot"',
    no_args_is_help=True,
)
Scope = Annotated[str, typer.Option("--scope", help="key, strategy, account, user or all")]
ScopeId = Annotated[int | None, typer.Option("--id", min=1, help="the scope's id (not for all)")]
Reason = Annotated[str, typer.Option("--reason", help="mandatory, kept in the audit log")]


def _body(scope: str, scope_id: int | None, reason: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"scope": scope, "comment": reason, **extra}
    if scope_id is not None:
        body["id"] = scope_id
    return body


@risk_app.command("kill")
def kill_cmd(
    scope: Scope, reason: Reason, scope_id: ScopeId = None,
    flatten: Annotated[bool, typer.Option("--flatten", help="also close the scope's positions")]
    = False,
    base_url: BaseUrl = None, api_key: ApiKey = None, profile: Profile = None,
) -> None:  # fmt: skip
    """Halt a scope: refuse its new commands, cancel its working orders, flatten if asked.

    Example: ccxt-oms risk kill --scope key --id 12 --reason "key leaked"
    """
    with progress(f"halting {scope} {scope_id or ''}".strip()):
        body = run(base_url, api_key, profile, lambda api: api.post(
            "/oms/risk/kill", _body(scope, scope_id, reason, flatten=flatten)))
    show(body)


@risk_app.command("lift")
def lift_cmd(
    scope: Scope, reason: Reason, scope_id: ScopeId = None,
    base_url: BaseUrl = None, api_key: ApiKey = None, profile: Profile = None,
) -> None:  # fmt: skip
    """Lift the scope's active halts.

    Example: ccxt-oms risk lift --scope account --id 1 --reason "robot fixed"
    """
    body = run(base_url, api_key, profile, lambda api: api.post(
        "/oms/risk/kill/lift", _body(scope, scope_id, reason)))
    show(body)


@risk_app.command("halts")
def halts_cmd(base_url: BaseUrl = None, api_key: ApiKey = None, profile: Profile = None) -> None:
    """The active halts. Example: ccxt-oms risk halts --table"""
    show(run(base_url, api_key, profile, lambda api: api.get("/oms/risk/kill")), "items")


AccountId = Annotated[int, typer.Option("--account-id", min=1, help="the account")]


@risk_app.command("breakers")
def breakers_cmd(
    account_id: AccountId, base_url: BaseUrl = None, api_key: ApiKey = None,
    profile: Profile = None,
) -> None:  # fmt: skip
    """The account's loss breakers (state, rule, limit, value, the day's peak equity).

    Example: ccxt-oms risk breakers --account-id 1 --table
    """
    show(run(base_url, api_key, profile,
             lambda api: api.get(f"/oms/risk/{account_id}/breakers")), "items")  # fmt: skip


@risk_app.command("lift-breaker")
def lift_breaker_cmd(
    account_id: AccountId, reason: Reason,
    strategy_id: Annotated[int, typer.Option("--strategy-id", min=0,
                                             help="0: the account's own breaker")] = 0,
    base_url: BaseUrl = None, api_key: ApiKey = None, profile: Profile = None,
) -> None:  # fmt: skip
    """Re-arm a tripped loss breaker of the account or one of its strategies.

    Example: ccxt-oms risk lift-breaker --account-id 1 --reason "reviewed with the desk"
    """
    show(run(base_url, api_key, profile, lambda api: api.post(
        f"/oms/risk/{account_id}/breakers/lift",
        {"strategy_id": strategy_id, "comment": reason})))


@risk_app.command("exposure")
def exposure_cmd(
    user_id: Annotated[int, typer.Option("--user-id", min=1, help="the user")],
    reason: Annotated[str | None, typer.Option(
        "--reason", help="mandatory to set limits, kept in the audit log")] = None,
    gross: Annotated[str | None, typer.Option("--gross", help="max gross exposure")] = None,
    net: Annotated[str | None, typer.Option("--net", help="max net exposure per symbol")] = None,
    base_url: BaseUrl = None, api_key: ApiKey = None, profile: Profile = None,
) -> None:  # fmt: skip
    """Show a user's exposure limits, or with --reason replace them (omitted = no limit).

    Example: ccxt-oms risk exposure --user-id 5 --gross 2000000 --net 500000 --reason "line"
    """
    path = f"/oms/risk/users/{user_id}/exposure"
    if reason is None:
        show(run(base_url, api_key, profile, lambda api: api.get(path)))
        return
    body = {"max_gross_exposure": gross, "max_net_exposure": net, "comment": reason}
    show(run(base_url, api_key, profile,
             lambda api: api.request("PUT", path, json=body)))  # fmt: skip
