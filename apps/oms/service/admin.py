"""Administration use cases shared by the installer CLI and the admin API.

Every mutation writes its audit row in the same transaction; plain API keys are returned once
and only their keyed hash is stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from apps.oms.clock import utcnow
from apps.oms.domain.access import FULL_TRADING_FLAGS, AccountFlags, Role
from apps.oms.errors import Conflict, NotFound, ValidationFailed
from apps.oms.exchange.ccxt.ids import canonical_exchange_id
from apps.oms.exchange.profiles import profile
from apps.oms.security.credentials import CredentialCipher
from apps.oms.security.keys import (
    display_prefix,
    generate_api_key,
    hash_api_key,
    is_acceptable_custom_key,
)
from apps.oms.service.accounts import grant_flags
from apps.oms.store import accounts as account_store
from apps.oms.store import audit, identity
from apps.oms.store import signals as signal_store
from apps.oms.store.audit import Actor
from apps.oms.store.boundary import Connection
from apps.oms.store.records import AccountRecord, VenueConfig
from apps.oms.store.store import Store

POSITION_MODES = ("hedge", "netting", "strategy_netting")
EXCHANGE_ID = re.compile(r"^(paper|(ccxt|ccxtpro)\.[a-z0-9_]+)$")
USER_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,100}$")


@dataclass(frozen=True)
class NewKey:
    id: int
    plain: str
    label: str | None


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError as exc:
        roles = ", ".join(r.value for r in Role)
        raise ValidationFailed(f"unknown role {value!r}; use one of {roles}") from exc


def validate_account_fields(exchange_id: str, position_mode: str) -> str:
    """Check an account's fields; returns the canonical exchange id (`binance` → `ccxt.binance`;
    an id CCXT does not have is refused)."""
    canonical = canonical_exchange_id(exchange_id)
    if not EXCHANGE_ID.match(canonical):
        raise ValidationFailed(
            f"exchange_id {exchange_id!r} must be 'paper', 'ccxt.<id>' or 'ccxtpro.<id>'"
        )
    if position_mode not in POSITION_MODES:
        raise ValidationFailed(f"position_mode must be one of {', '.join(POSITION_MODES)}")
    return canonical


def validate_ccxt_config(config: Any, is_paper: bool) -> None:
    """`{"urls": {...}, "options": {...}}`: objects, URLs as strings (nested for `ws`)."""
    if is_paper:
        raise ValidationFailed("a ccxt config (urls, options) applies to CCXT accounts only")
    if not isinstance(config, dict) or set(config) - {"urls", "options"}:
        raise ValidationFailed('the ccxt config is an object with "urls" and/or "options"')
    for name in ("urls", "options"):
        if not isinstance(config.get(name, {}), dict):
            raise ValidationFailed(f"ccxt config {name!r} must be an object")
    if not _all_strings(config.get("urls", {})):
        raise ValidationFailed("ccxt config urls must be strings (objects for nested entries)")


def _all_strings(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_all_strings(v) for v in value.values())
    return isinstance(value, str)


async def create_user(conn: Connection, actor: Actor, *, name: str, role: Role) -> int:
    if not USER_NAME.match(name):
        raise ValidationFailed("user name must be 1-100 characters of letters, digits and _.@-")
    if await identity.find_user_by_name(conn, name) is not None:
        raise Conflict(f"user {name!r} already exists")
    user_id = await identity.insert_user(conn, name=name, role=role)
    await audit.record(
        conn,
        actor,
        action="create_user",
        target_type="user",
        target_id=user_id,
        after={"name": name, "role": role.value},
    )
    return user_id


async def create_api_key(
    conn: Connection,
    actor: Actor,
    *,
    pepper: str,
    user_id: int,
    label: str | None,
    plain: str | None = None,
) -> NewKey:
    if await identity.get_user(conn, user_id) is None:
        raise NotFound(f"user {user_id} not found")
    if plain is not None and not is_acceptable_custom_key(plain):
        raise ValidationFailed("a chosen API key needs at least 32 printable characters, no spaces")
    plain = plain or generate_api_key()
    key_hash = hash_api_key(plain, pepper)
    if await identity.find_key_by_hash(conn, key_hash) is not None:
        raise Conflict("this API key already exists")
    key_id = await identity.insert_api_key(
        conn, user_id=user_id, key_hash=key_hash, key_prefix=display_prefix(plain), label=label
    )
    await audit.record(
        conn,
        actor,
        action="create_api_key",
        target_type="api_key",
        target_id=key_id,
        after={"user_id": user_id, "label": label},
    )
    return NewKey(id=key_id, plain=plain, label=label)


async def set_permission(
    conn: Connection, actor: Actor, *, api_key_id: int, account_id: int, flags: AccountFlags
) -> None:
    if await identity.get_api_key_info(conn, api_key_id) is None:
        raise NotFound(f"API key {api_key_id} not found")
    await require_account(conn, account_id)
    before = (await identity.permissions_of_key(conn, api_key_id)).get(account_id)
    await identity.upsert_permission(
        conn, api_key_id=api_key_id, account_id=account_id, flags=flags
    )
    await audit.record(
        conn,
        actor,
        action="set_permission",
        target_type="api_key",
        target_id=api_key_id,
        before=grant_flags(before),
        after={"account_id": account_id, **(grant_flags(flags) or {})},
    )


async def add_account(
    conn: Connection,
    actor: Actor,
    *,
    user_id: int | None,
    exchange_id: str,
    label: str,
    position_mode: str,
    testnet: bool,
    live: bool,
    flags: AccountFlags = FULL_TRADING_FLAGS,
    ccxt_config: VenueConfig | None = None,
) -> int:
    """Create an account; with `user_id`, grant `flags` on it to every API key of that user.
    `ccxt_config` (`{"urls": {...}, "options": {...}}`, CCXT accounts only) is stored as the
    account's `config.ccxt`: the exchange class's URLs and options for it (a local venue)."""
    exchange_id = validate_account_fields(exchange_id, position_mode)
    if testnet and live:
        raise ValidationFailed("an account is either --testnet or --live, not both")
    is_paper = not profile(exchange_id).has_environments
    if ccxt_config is not None:
        validate_ccxt_config(ccxt_config, is_paper)
    if user_id is not None and await identity.get_user(conn, user_id) is None:
        raise NotFound(f"user {user_id} not found")
    account_id = await account_store.insert_account(
        conn,
        exchange_id=exchange_id,
        label=label,
        position_mode=position_mode,
        is_testnet=not is_paper and not live,
        is_live=not is_paper and live,
        config={"ccxt": ccxt_config} if ccxt_config else None,
    )
    await audit.record(
        conn,
        actor,
        action="add_account",
        target_type="account",
        target_id=account_id,
        after={
            "exchange_id": exchange_id,
            "label": label,
            "position_mode": position_mode,
            "live": live,
        },
    )
    if user_id is not None:
        for key_id in await identity.key_ids_of_user(conn, user_id):
            await set_permission(conn, actor, api_key_id=key_id, account_id=account_id, flags=flags)
    return account_id


async def upsert_credentials(
    conn: Connection,
    actor: Actor,
    cipher: CredentialCipher,
    *,
    account_id: int,
    values: dict[str, str | None],
    encrypt_input: bool,
    require_encrypted: bool,
) -> None:
    await require_account(conn, account_id)
    prepared = {
        name: None
        if value is None
        else cipher.prepare_for_storage(
            value, encrypt_input=encrypt_input, require_encrypted=require_encrypted
        )
        for name, value in values.items()
    }
    await account_store.upsert_credentials(conn, account_id, **prepared)
    await audit.record(
        conn,
        actor,
        action="upsert_account_credentials",
        target_type="account",
        target_id=account_id,
        after={"fields": sorted(k for k, v in values.items() if v is not None)},
    )


async def set_account_testnet(
    conn: Connection, actor: Actor, *, account_id: int, enabled: bool
) -> None:
    account = await require_account(conn, account_id)
    if not profile(account.exchange_id).has_environments:
        raise ValidationFailed("paper accounts are neither testnet nor live")
    await account_store.set_testnet(conn, account_id, enabled)
    await audit.record(
        conn,
        actor,
        action="set_account_testnet",
        target_type="account",
        target_id=account_id,
        before={"is_testnet": account.is_testnet},
        after={"is_testnet": enabled},
    )


async def rotate_master_key(store: Store, cipher: CredentialCipher) -> int:
    """Re-encrypt every stored credential under the current master key; returns rows rewritten."""
    async with store.transaction() as conn:
        rows = await account_store.all_credentials(conn)
        for row in rows:
            await account_store.upsert_credentials(
                conn, row.account_id, api_key=_rotated(cipher, row.api_key),
                secret=_rotated(cipher, row.secret), passphrase=_rotated(cipher, row.passphrase),
            )  # fmt: skip
        signing = await signal_store.all_secrets(conn)
        for secret in signing:  # signal signing secrets are stored the same way
            await signal_store.put_secret(conn, int(secret["account_id"]),
                                          cipher.rotate(secret["secret"]), utcnow())  # fmt: skip
        await audit.record(
            conn,
            audit.CLI_ACTOR,
            action="rotate_master_key",
            target_type="credentials",
            target_id=None,
            after={"accounts": len(rows), "signal_secrets": len(signing)},
        )
    return len(rows)


def _rotated(cipher: CredentialCipher, value: str | None) -> str | None:
    return None if value is None else cipher.rotate(value)


async def require_account(conn: Connection, account_id: int) -> AccountRecord:
    account = await account_store.get_account(conn, account_id)
    if account is None:
        raise NotFound(f"account {account_id} not found", code="account_not_found")
    return account



