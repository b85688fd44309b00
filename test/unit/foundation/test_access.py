"""Role ceilings intersected with per-account flags (security.md table)."""

import pytest

from apps.oms.domain.access import (
    AccessDenied,
    AccountFlags,
    Action,
    Role,
    authorize,
    authorize_strategy,
)

ALL_FLAGS = AccountFlags(
    can_read=True,
    can_trade=True,
    can_close_position=True,
    can_risk_manage=True,
    can_block_new_positions=True,
    can_block_account=True,
)

# role -> actions allowed when the key has every flag
EXPECTED = {
    Role.TRADER: {Action.READ, Action.TRADE, Action.CLOSE, Action.RECONCILE},
    Role.PORTFOLIO_MANAGER: {
        Action.READ,
        Action.TRADE,
        Action.CLOSE,
        Action.REASSIGN,
        Action.RECONCILE,
    },
    Role.ROBOT: {Action.READ, Action.TRADE, Action.CLOSE},
    Role.RISK: {
        Action.READ,
        Action.CLOSE,
        Action.RISK_CANCEL,
        Action.RECONCILE,
        Action.ALLOW_NEW_POSITIONS,
        Action.BLOCK_ACCOUNT,
        Action.RISK_LIMITS,
    },
    Role.READONLY: {Action.READ},
}


@pytest.mark.parametrize("role", list(EXPECTED))
@pytest.mark.parametrize("action", [a for a in Action if a is not Action.ADMINISTER])
def test_role_ceiling_with_all_flags(role: Role, action: Action) -> None:
    if action in EXPECTED[role]:
        authorize(role, ALL_FLAGS, action)
    else:
        with pytest.raises(AccessDenied) as info:
            authorize(role, ALL_FLAGS, action)
        assert info.value.code == "permission_denied"


@pytest.mark.parametrize(
    ("action", "flags", "allowed"),
    [
        (Action.TRADE, AccountFlags(can_trade=False), False),
        (Action.TRADE, AccountFlags(can_trade=True), True),
        (Action.CLOSE, AccountFlags(can_trade=True), False),
        (Action.CLOSE, AccountFlags(can_close_position=True), True),
        (Action.READ, AccountFlags(can_read=False), False),
        (Action.RECONCILE, AccountFlags(can_trade=True), True),
        (Action.RECONCILE, AccountFlags(can_risk_manage=True), True),
        (Action.RECONCILE, AccountFlags(), False),
    ],
)
def test_flags_limit_a_trader(action: Action, flags: AccountFlags, allowed: bool) -> None:
    if allowed:
        authorize(Role.TRADER, flags, action)
    else:
        with pytest.raises(AccessDenied):
            authorize(Role.TRADER, flags, action)


def test_risk_block_actions_need_both_flags() -> None:
    only_manage = AccountFlags(can_risk_manage=True)
    with pytest.raises(AccessDenied):
        authorize(Role.RISK, only_manage, Action.ALLOW_NEW_POSITIONS)
    with pytest.raises(AccessDenied):
        authorize(Role.RISK, only_manage, Action.BLOCK_ACCOUNT)
    authorize(
        Role.RISK, AccountFlags(can_risk_manage=True, can_block_account=True), Action.BLOCK_ACCOUNT
    )


def test_admin_reads_everything_never_trades() -> None:
    authorize(Role.ADMIN, None, Action.READ)
    authorize(Role.ADMIN, None, Action.ADMINISTER)
    for action in (Action.TRADE, Action.CLOSE, Action.RISK_LIMITS):
        with pytest.raises(AccessDenied) as info:
            authorize(Role.ADMIN, ALL_FLAGS, action)
        assert info.value.code == "admin_read_only"


def test_non_admin_cannot_administer_and_no_grant_is_denied() -> None:
    with pytest.raises(AccessDenied) as info:
        authorize(Role.TRADER, ALL_FLAGS, Action.ADMINISTER)
    assert info.value.code == "admin_required"
    with pytest.raises(AccessDenied):
        authorize(Role.TRADER, None, Action.READ)


def test_strategy_restriction() -> None:
    restricted = AccountFlags(restrict_to_strategies=True, strategy_ids=frozenset({7}))
    authorize_strategy(restricted, 7)
    authorize_strategy(AccountFlags(), 99)
    authorize_strategy(None, 99)
    with pytest.raises(AccessDenied) as info:
        authorize_strategy(restricted, 8)
    assert info.value.code == "strategy_permission_denied"
