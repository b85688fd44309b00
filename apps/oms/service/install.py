"""`ccxt-oms install` and the first-start demo seed of `ccxt-oms up`, as one use case."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NotRequired, TypedDict

from apps.oms.domain.access import Role
from apps.oms.errors import ValidationFailed
from apps.oms.exchange.profiles import profile
from apps.oms.service import admin
from apps.oms.store.audit import CLI_ACTOR
from apps.oms.store.store import Store


@dataclass(frozen=True)
class InstallRequest:
    admin_name: str = "admin"
    admin_api_key: str | None = None
    admin_api_key_label: str = "admin"
    with_account: bool = False
    user_name: str = "trader"
    role: str = "trader"
    exchange_id: str = "paper"
    label: str = "paper"
    position_mode: str = "hedge"
    testnet: bool = False
    live: bool = False


class InstalledKey(TypedDict):
    id: int
    plain: str
    label: str | None


class InstalledUser(TypedDict):
    id: int
    name: str
    role: str


class InstalledAdmin(TypedDict):
    user_id: int
    api_key: InstalledKey


class InstalledAccount(TypedDict):
    id: int
    exchange_id: str
    label: str
    position_mode: str
    is_testnet: bool


class Installed(TypedDict):
    """`install`'s output (cli.md → Output of `install`)."""

    ok: bool
    admin: InstalledAdmin
    user: InstalledUser
    api_key: InstalledKey
    account: NotRequired[InstalledAccount]


async def install(store: Store, pepper: str, request: InstallRequest) -> Installed:
    """Create the admin (and optionally a trading user, key and account) in one transaction.

    Returns the exact output shape of `cli.md` → Output of `install`.
    """
    role = admin.parse_role(request.role)
    if request.with_account:
        exchange_id = admin.validate_account_fields(request.exchange_id, request.position_mode)
        request = replace(request, exchange_id=exchange_id)
        if role is Role.ADMIN:
            raise ValidationFailed("the trading user of --with-account cannot be an admin")
    async with store.transaction() as conn:
        admin_id = await admin.create_user(
            conn, CLI_ACTOR, name=request.admin_name, role=Role.ADMIN
        )
        admin_key = await admin.create_api_key(
            conn,
            CLI_ACTOR,
            pepper=pepper,
            user_id=admin_id,
            label=request.admin_api_key_label,
            plain=request.admin_api_key,
        )
        admin_part: InstalledAdmin = {"user_id": admin_id, "api_key": _key(admin_key)}
        if not request.with_account:
            return {
                "ok": True,
                "admin": admin_part,
                "user": {"id": admin_id, "name": request.admin_name, "role": Role.ADMIN.value},
                "api_key": _key(admin_key),
            }
        user_id = await admin.create_user(conn, CLI_ACTOR, name=request.user_name, role=role)
        user_key = await admin.create_api_key(
            conn, CLI_ACTOR, pepper=pepper, user_id=user_id, label=request.user_name
        )
        account_id = await admin.add_account(
            conn,
            CLI_ACTOR,
            user_id=user_id,
            exchange_id=request.exchange_id,
            label=request.label,
            position_mode=request.position_mode,
            testnet=request.testnet,
            live=request.live,
        )
    is_testnet = profile(request.exchange_id).has_environments and not request.live
    return {
        "ok": True,
        "admin": admin_part,
        "user": {"id": user_id, "name": request.user_name, "role": role.value},
        "api_key": _key(user_key),
        "account": {
            "id": account_id,
            "exchange_id": request.exchange_id,
            "label": request.label,
            "position_mode": request.position_mode,
            "is_testnet": is_testnet,
        },
    }


def _key(key: admin.NewKey) -> InstalledKey:
    return {"id": key.id, "plain": key.plain, "label": key.label}
