"""The audit log and a task's history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from taskstream.api.deps import Ctx, CurrentUser
from taskstream.api.errors import responses
from taskstream.features.audit.schemas import AuditOut

router = APIRouter(tags=["audit"], responses=responses(401, 422, 503))


@router.get(
    "/audit",
)
async def audit_log(
    ctx: Ctx,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> list[AuditOut]:
    """The caller's history of task events, newest first; page with before_id."""
    entries = await ctx.audit.log(user.id, limit=limit, before_id=before_id)
    return [AuditOut.model_validate(e, from_attributes=True) for e in entries]


@router.get("/tasks/{task_id}/history", tags=["tasks"], responses=responses(404))
async def task_history(task_id: str, ctx: Ctx, user: CurrentUser) -> list[AuditOut]:
    """The task's audit entries, newest first (kept after the task is deleted)."""
    entries = await ctx.audit.task_history(user.id, task_id)
    return [AuditOut.model_validate(e, from_attributes=True) for e in entries]
