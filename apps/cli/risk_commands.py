"""`ccxt-oms risk …`: the kill switch over the HTTP API, with a key of the risk role
(`--api-key` or `OMS_API_KEY`); docs/identity-and-risk.md → Kill switch."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from apps.cli.operate import ApiKey, BaseUrl, Profile, progress, run, show

risk_app = typer.Typer(
    help="Risk officer: the kill switch.\n\n"
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
