"""The authenticated caller of a request: user, role, key and its per-account grants."""

from __future__ import annotations

from dataclasses import dataclass, field

from apps.oms.domain.access import AccessDenied, AccountFlags, Action, Role, authorize
from apps.oms.errors import NotFound, PermissionDenied


@dataclass(frozen=True)
class Principal:
    user_id: int
    user_name: str
    role: Role
    api_key_id: int
    key_kind: str
    key_label: str | None
    key_prefix: str
    grants: dict[int, AccountFlags] = field(default_factory=dict)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def flags_for(self, account_id: int) -> AccountFlags | None:
        return self.grants.get(account_id)

    def visible_account_ids(self) -> set[int] | None:
        """Accounts this key may read; None means every account (admins)."""
        if self.is_admin:
            return None
        return {aid for aid, flags in self.grants.items() if flags.can_read}

    def allows(self, action: Action, account_id: int | None = None) -> bool:
        """Whether `require(action, account_id)` would pass (no exception, for filtering)."""
        try:
            self.require(action, account_id)
        except (NotFound, PermissionDenied):
            return False
        return True

    def require(self, action: Action, account_id: int | None = None) -> None:
        """Raise the wire error for `action` on `account_id` (404 when the account is invisible)."""
        flags = None if account_id is None else self.flags_for(account_id)
        if account_id is not None and not self.is_admin and (flags is None or not flags.can_read):
            raise NotFound(f"account {account_id} not found", code="account_not_found")
        try:
            authorize(self.role, flags, action)
        except AccessDenied as exc:
            raise PermissionDenied(exc.message, code=exc.code) from exc
