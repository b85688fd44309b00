"""`GET /user/profile`: who the key belongs to."""

from __future__ import annotations

from fastapi import APIRouter

from apps.api.deps import PrincipalDep
from apps.api.schemas import ApiKeyInfo, Profile

router = APIRouter(tags=["user"])


@router.get("/user/profile", response_model=Profile)
async def profile(principal: PrincipalDep) -> Profile:
    return Profile(
        user_id=principal.user_id,
        name=principal.user_name,
        role=principal.role.value,
        api_key=ApiKeyInfo(
            id=principal.api_key_id,
            label=principal.key_label,
            prefix=principal.key_prefix,
            kind=principal.key_kind,
        ),
    )
