"""The worker's housekeeping round for one account, between commands: what the venue did to
its orders (sync), the stop-loss and take-profit targets that fired, the orders the gateway
holds, first the contingent groups they form (`order_groups.py`: a bracket's exits follow
its entry's fills) then their triggers and their children's fates (`held.py`), the
good-till-date orders on the venue whose date passed (`expiry.py`), the loss
breakers on the books and marks of now, and the opening orders a tripped breaker takes off the
venue, in that order (each step sees what the one before it booked)."""

from __future__ import annotations

from apps.oms.service import breakers
from apps.oms.service.execution.breaker_orders import cancel_behind_breakers
from apps.oms.service.execution.expiry import expire_due
from apps.oms.service.execution.held import check_held
from apps.oms.service.execution.order_groups import check_groups
from apps.oms.service.execution.order_stream import OrderStream
from apps.oms.service.execution.runtime import AccountRuntime
from apps.oms.service.execution.sync import sync_orders
from apps.oms.service.execution.triggers import check_triggers


async def housekeeping_round(rt: AccountRuntime, stream: OrderStream | None = None) -> int:
    """One round; returns how many things happened (0: nothing to do). `stream`: the account's
    private order stream, if its venue has one (`sync.sync_orders`)."""
    done = await sync_orders(rt, stream)
    done += await check_triggers(rt)
    done += await check_groups(rt)  # before the triggers: an exit fires at its entry's size
    done += await check_held(rt)
    done += await expire_due(rt)
    done += await breakers.watch(rt.store, rt.account_id, rt.account.exchange_id)
    done += await cancel_behind_breakers(rt)
    return done
