"""Admin endpoints available so far: users and the audit log (role `admin`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from apps.api.deps import PrincipalDep, StoreDep
from apps.api.schemas import AuditEntry, AuditList, UserCreate, UserList, UserOut
from apps.oms.clock import iso_z
from apps.oms.domain.access import Action
from apps.oms.service import admin
from apps.oms.store import audit, identity
from apps.oms.store.audit import Actor

router = APIRouter(prefix="/admin", tags=["admin"])


@router.post("/users", response_model=UserOut, status_code=201)
async def create_user(
    body: UserCreate, principal: PrincipalDep, store: StoreDep, request: Request
) -> UserOut:
    principal.require(Action.ADMINISTER)
    actor = Actor(
        principal.user_id, principal.api_key_id, request.client.host if request.client else None
    )
    async with store.transaction() as conn:
        user_id = await admin.create_user(
            conn, actor, name=body.name, role=admin.parse_role(body.role)
        )
        row = await identity.get_user(conn, user_id)
    assert row is not None  # noqa: S101 - just inserted in this transaction
    return UserOut(
        id=user_id,
        name=row["name"],
        role=row["role"],
        status=row["status"],
        created_at=iso_z(row["created_at"]) or "",
    )


@router.get("/users", response_model=UserList)
async def list_users(principal: PrincipalDep, store: StoreDep) -> UserList:
    principal.require(Action.ADMINISTER)
    async with store.read() as conn:
        rows = await identity.list_users(conn)
    return UserList(
        items=[
            UserOut(
                id=r["id"],
                name=r["name"],
                role=r["role"],
                status=r["status"],
                created_at=iso_z(r["created_at"]) or "",
            )
            for r in rows
        ]
    )


@router.get("/audit", response_model=AuditList)
async def list_audit(
    principal: PrincipalDep, store: StoreDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> AuditList:
    principal.require(Action.ADMINISTER)
    async with store.read() as conn:
        rows = await audit.list_entries(conn, limit=limit)
    return AuditList(
        items=[AuditEntry(**{**r, "created_at": iso_z(r["created_at"]) or ""}) for r in rows]
    )
