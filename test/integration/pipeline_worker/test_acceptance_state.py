"""What acceptance reads of an account, in one statement: the fields its checks use and the
account's risk limits per strategy (0 = the account's own), on both stores."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, event, update

from apps.oms.clock import utcnow
from apps.oms.domain.risk import RiskLimits
from apps.oms.store import accounts as account_store
from apps.oms.store import halts
from apps.oms.store import risk as risk_store
from apps.oms.store.allocations import put_allocation
from apps.oms.store.records import AccountRecord, AccountState
from apps.oms.store.risk import AcceptanceState
from apps.oms.store.strategies import create_strategy
from apps.oms.store.tables import account_risk_state, accounts

from .conftest import Harness


def state_of(full: AccountRecord | None) -> AccountState:
    """The acceptance fields of the full account read."""
    assert full is not None
    return AccountState(**{f.name: getattr(full, f.name) for f in fields(AccountState)})


async def two_scopes_of_limits(h: Harness, account_id: int) -> None:
    """Limits of the account itself (0) and of strategy 7."""
    async with h.store.transaction() as conn:
        await risk_store.put_limits(conn, account_id, 0, RiskLimits(max_open_positions=2), utcnow())
        await risk_store.put_limits(conn, account_id, 7, RiskLimits(daily_loss_limit=Decimal(40)),
                                    utcnow())  # fmt: skip


async def test_account_and_limits_in_one_read(harness: Callable[..., Harness]) -> None:
    h = harness()
    acct, bare = await h.account("netting"), await h.account("hedge")
    await two_scopes_of_limits(h, acct)
    async with h.store.read() as conn:
        state = await risk_store.acceptance_state(conn, acct)
        account, limits = state.account, state.limits
        full = await account_store.get_account(conn, acct)
        assert limits == await risk_store.get_limits(conn, acct)
        assert await risk_store.acceptance_state(conn, bare) == AcceptanceState(
            state_of(await account_store.get_account(conn, bare)), {})
        assert await risk_store.acceptance_state(conn, 10**9) == AcceptanceState(None, {})
    assert full is not None
    assert account == state_of(full)
    assert set(limits) == {0, 7}
    assert limits[0].max_open_positions == 2
    assert limits[7].daily_loss_limit == Decimal(40)


async def test_recheck_states_of_several_accounts_in_one_read(
    harness: Callable[..., Harness],
) -> None:
    """The worker's re-check reads block, risk state and limits of a group's accounts in one
    statement: each account gets its own (a blocked account with two scopes of limits, one
    restricted without limits, one plain, one without a risk-state row: its status alone
    decides) and an id that is not there is neither blocked nor limited."""
    h = harness()
    limited, restricted, plain, bare = (await h.account("netting"), await h.account("hedge"),
                                        await h.account("netting"), await h.account("hedge"))  # fmt: skip
    async with h.store.transaction() as conn:
        await risk_store.put_limits(conn, limited, 0, RiskLimits(max_open_positions=2), utcnow())
        await risk_store.put_limits(conn, limited, 7, RiskLimits(daily_loss_limit=Decimal(40)),
                                    utcnow())  # fmt: skip
        await conn.execute(update(accounts).where(accounts.c.id == limited)
                           .values(status="blocked"))  # fmt: skip
        await conn.execute(update(account_risk_state)
                           .where(account_risk_state.c.account_id == restricted)
                           .values(allow_new_positions=False, out_of_sync_blocks=True))  # fmt: skip
        await conn.execute(delete(account_risk_state)
                           .where(account_risk_state.c.account_id == bare))  # fmt: skip
        await conn.execute(update(accounts).where(accounts.c.id == bare).values(status="blocked"))
    async with h.store.read() as conn:
        got = await risk_store.recheck_states(conn, [plain, 10**9, restricted, limited, bare])
        limits = await risk_store.get_limits(conn, limited)
    assert set(limits) == {0, 7}
    assert got == {
        limited: risk_store.RecheckState(True, True, False, limits),
        restricted: risk_store.RecheckState(False, False, True, {}),
        plain: risk_store.RecheckState(False, True, False, {}),
        bare: risk_store.RecheckState(True, True, False, {}),
        10**9: risk_store.UNKNOWN_ACCOUNT,
    }


async def test_acceptance_states_of_a_batch_s_accounts_in_one_read(
    harness: Callable[..., Harness],
) -> None:
    """A batch accept reads every account it names at once: each answer equals the account's
    own read (limits of two scopes, none, an unknown id), repeated ids read once."""
    h = harness()
    limited, plain = await h.account("netting"), await h.account("hedge")
    await two_scopes_of_limits(h, limited)
    async with h.store.read() as conn:
        together = await risk_store.acceptance_states(conn, [plain, 10**9, limited, plain])
        alone = {a: await risk_store.acceptance_state(conn, a) for a in (limited, plain, 10**9)}
    assert together == alone
    assert set(together[limited].limits) == {0, 7}
    assert together[10**9] == AcceptanceState(None, {})


async def test_the_keys_own_limits_and_the_halts_covering_it_come_in_the_same_read(
    harness: Callable[..., Harness],
) -> None:
    """Issue 53: the accepting key's own limits (not another key's) and the active halts that
    may cover its commands (its key, its user, the account, everything, any strategy; not
    another account's, another key's, or a lifted one) join the one statement."""
    h = harness()
    acct, other = await h.account("netting"), await h.account("hedge")
    await two_scopes_of_limits(h, acct)
    now = utcnow()
    async with h.store.transaction() as conn:
        await risk_store.put_limits(conn, acct, 0, RiskLimits(max_order_qty=Decimal(1)), now, 41)
        await risk_store.put_limits(conn, acct, 0, RiskLimits(max_order_qty=Decimal(2)), now, 42)
        made = {(scope, target): await halts.insert_halt(conn, scope, target, False, "r", None,
                                                          None, now)
                for scope, target in (("key", 41), ("key", 42), ("user", 5), ("account", acct),
                                      ("account", other), ("strategy", 7))}  # fmt: skip
        lifted = await halts.insert_halt(conn, "account", acct, False, "old", None, None, now)
        await halts.lift(conn, [lifted], "done", None, None, now)
    async with h.store.read() as conn:
        state = await risk_store.acceptance_state(conn, acct, 41, 5)
        bare = await risk_store.acceptance_state(conn, other, 43, 6)
    assert set(state.limits) == {0, 7}
    assert state.key_limits is not None
    assert state.key_limits.max_order_qty == Decimal(1)
    assert sorted(x.halt_id for x in state.halts) == sorted(
        made[k] for k in (("key", 41), ("user", 5), ("account", acct), ("strategy", 7)))
    assert bare.key_limits is None
    assert sorted(x.halt_id for x in bare.halts) == sorted(
        made[k] for k in (("account", other), ("strategy", 7)))
    async with h.store.transaction() as conn:  # later tests share the store: lift them all
        await halts.lift(conn, list(made.values()), "test over", None, None, now)


async def test_a_send_of_no_strategy_reads_no_allocation(harness: Callable[..., Harness]) -> None:
    """The strategies' allocations bound only their own orders: a send of no strategy reads
    none of them (one round trip less per acceptance), a send of a strategy with one reads
    and locks its row."""
    h = harness()
    acct = await h.account("netting")
    await h.price("BTC/USDT:USDT", "100")
    async with h.store.transaction() as conn:
        strategy = await create_strategy(conn, name=f"alloc{acct}", client_strategy_id=None,
                                         account_ids=[acct], user_id=None, now=utcnow())
        await put_allocation(conn, account_id=acct, strategy_id=strategy, currency="USDT",
                             amount=Decimal(1000), comment="", user_id=None, now=utcnow())
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    def allocation_reads() -> int:
        return sum("strategy_allocations" in s for s in seen)

    engine = h.store.engine.sync_engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        plain = await h.send(acct, "send_order", symbol="BTC/USDT:USDT", side="buy",
                             order_type="market", qty="0.01")
        assert plain["ok"] is True, plain
        assert allocation_reads() == 0
        of_strategy = await h.send(acct, "send_order", symbol="BTC/USDT:USDT", side="buy",
                                   order_type="market", qty="0.01", strategy_id=strategy)
        assert of_strategy["ok"] is True, of_strategy
        assert allocation_reads() == 2  # the account's allocations, then its row locked
    finally:
        event.remove(engine, "before_cursor_execute", note)
