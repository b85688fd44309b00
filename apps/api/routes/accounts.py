"""`GET /oms/accounts`: accounts visible to the key, with its flags and the risk state."""

from __future__ import annotations

from fastapi import APIRouter

from apps.api.deps import AccountIdsQuery, PrincipalDep, StoreDep
from apps.api.schemas import AccountList, AccountOut
from apps.oms.service.accounts import visible_accounts

router = APIRouter(tags=["oms"])


@router.get("/oms/accounts", response_model=AccountList)
async def list_accounts(
    principal: PrincipalDep, store: StoreDep, account_ids: AccountIdsQuery = None
) -> AccountList:
    rows = await visible_accounts(store, principal, account_ids)
    return AccountList(items=[AccountOut(**row) for row in rows])
