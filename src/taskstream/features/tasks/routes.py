"""Task routes: create, list (search, filters, sort, cursor), read, patch, delete, complete, reopen; tags,
the recurrence preview and quick-add parsing."""

from __future__ import annotations

import base64
import json
from datetime import date, datetime, time
from typing import Annotated, Any, cast

from fastapi import APIRouter, Header, Query, Response
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import to_json

from taskstream.api.deps import Ctx, CurrentUser
from taskstream.api.errors import responses
from taskstream.domain import nlparse, recurrence
from taskstream.domain.durations import Offset
from taskstream.domain.errors import ValidationError
from taskstream.domain.quickadd_grammar import DateOrder
from taskstream.domain.task import TaskChanges
from taskstream.domain.tasks import (
    Priority,
    PriorityLabel,
    ReminderSpec,
    Sort,
    check_text,
    check_year,
    tag_form,
    zone,
)
from taskstream.features.tasks.query import TaskQuery
from taskstream.features.tasks.schemas import (
    BOUND_PATTERN,
    CountFilters,
    CountsIn,
    CountsOut,
    ParseIn,
    RecurrencePreviewIn,
    RecurrencePreviewOut,
    ReminderIn,
    TagOut,
    TaskIn,
    TaskOut,
    TaskPage,
    TaskPatch,
)
from taskstream.features.tasks.search import MAX_SEARCH_TERMS, search_terms

# Every operation needs a signed-in caller and the database, and has parameters; other errors per route.
router = APIRouter(tags=["tasks"], responses=responses(401, 422, 503))
WITH_BODY = responses(413)
# If-Match: the version a change is for, e.g. "3" (or *). A bound of a due filter: YYYY-MM-DD (00:00 in the
# caller's zone) or an RFC 3339 instant with its offset, in the years 1900-2999. Null is no value for either
# (left out of their schemas: a header or query value is text).
IF_MATCH = r'^\s*(\*|(W/)?"?\d{1,18}"?)\s*$'
IfMatch = Annotated[
    str | SkipJsonSchema[None], Header(pattern=IF_MATCH, description='the version changed, e.g. "3", or *')
]
Bound = Annotated[
    str | SkipJsonSchema[None],
    Query(pattern=BOUND_PATTERN, description="YYYY-MM-DD or an RFC 3339 date-time"),
]


def _specs(items: list[ReminderIn]) -> list[ReminderSpec]:
    return [
        ReminderSpec(
            before=Offset.parse(r.before, field=f"reminders.{i}.before") if r.before is not None else None,
            at=r.at,
        )
        for i, r in enumerate(items)
    ]


def _fields(body: TaskIn | TaskPatch, *, only_set: bool) -> TaskChanges:
    names = body.model_fields_set if only_set else set(type(body).model_fields)
    values = {name: getattr(body, name) for name in names}
    if "reminders" in values and values["reminders"] is not None:
        values["reminders"] = _specs(values["reminders"])
    for required in ("title", "priority", "tags", "repeat_from", "keep_missed", "reminders"):
        if only_set and required in values and values[required] is None:
            raise ValidationError(f"{required} cannot be null", field=required)
    return TaskChanges(**values)


@router.post("/tasks", status_code=201, responses=WITH_BODY)
async def create_task(body: TaskIn, ctx: Ctx, user: CurrentUser) -> TaskOut:
    """Create a task for the caller."""
    fields = _fields(body, only_set=False)
    return await ctx.tasks.create(user.id, fields, default_tz=user.timezone, all_day_at=user.all_day_at)


def _bound(value: str, field: str, tz: str) -> tuple[datetime, date]:
    """(instant, date) of a bound: a YYYY-MM-DD means 00:00 of that day in the caller's zone; an RFC 3339
    instant is compared as is with timed tasks and by its date in the caller's zone with all-day tasks."""
    zone_info = zone(tz)
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime.combine(day, time(0), zone_info), day
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"{field} must be an RFC 3339 date-time or YYYY-MM-DD", field=field) from None
    if parsed.tzinfo is None:
        raise ValidationError(f"{field} needs a UTC offset", field=field)
    try:
        return parsed, parsed.astimezone(zone_info).date()
    except OverflowError:
        raise ValidationError(f"{field} is outside the years 1900–2999", field=field) from None


def _now_and_today(now: datetime, tz: str) -> tuple[datetime, date]:
    return now, now.astimezone(zone(tz)).date()


def _encode_cursor(sort: str, value: object, task_id: str) -> str:
    raw = value.isoformat() if isinstance(value, datetime) else value
    return base64.urlsafe_b64encode(json.dumps([sort, raw, task_id]).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: str) -> tuple[object, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        cursor_sort, raw, task_id = json.loads(base64.urlsafe_b64decode(padded))
        if cursor_sort != sort or not isinstance(task_id, str):
            raise ValueError
        value: object
        if sort in ("due", "-due", "created", "-created"):
            value = instant = datetime.fromisoformat(raw)
            if instant.tzinfo is None:
                raise ValueError
        elif sort in ("priority", "-priority"):
            if type(raw) is not int or not 0 <= raw <= 4:
                raise ValueError
            value = raw
        else:
            if not isinstance(raw, str):
                raise ValueError
            value = raw
        return value, task_id
    except (ValueError, TypeError, UnicodeDecodeError):
        raise ValidationError(
            "cursor is not valid for this sort; start again without it", field="cursor"
        ) from None


def _json(content: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON response of already shaped content, encoded once (pydantic-core: the encoding of the response
    models, which the routes still declare for the OpenAPI document) with nothing validated again."""
    return Response(to_json(content), media_type="application/json", headers=headers)


@router.get("/tasks", response_model=TaskPage)
async def list_tasks(
    ctx: Ctx,
    user: CurrentUser,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            description="full-text over title and description: each of its words (at most 10 different) "
            "must begin a word of the task",
        ),
    ] = None,
    completed: bool | None = None,
    priority: Annotated[list[PriorityLabel] | None, Query()] = None,
    tag: Annotated[list[str] | None, Query(description="all must match")] = None,
    due_before: Bound = None,
    due_after: Bound = None,
    overdue: bool | None = None,
    sort: Annotated[
        Sort,
        Query(description="a field ascending; `-` before it: descending (`-priority`: most pressing first)"),
    ] = "due",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> Response:
    """The caller's tasks; a filter on a field a task lacks never matches it; no due date sorts last."""
    filters = CountFilters.model_construct(  # validated as query parameters already
        q=q, completed=completed, priority=priority or [], tag=tag or [], due_before=due_before,
        due_after=due_after, overdue=overdue,
    )  # fmt: skip
    query = _query(filters, user.id, user.timezone, ctx.clock.now(), field_prefix="")
    query.sort, query.limit = sort, limit
    query.after = _decode_cursor(cursor, sort) if cursor else None
    page = await ctx.tasks.find(query)
    next_cursor = _encode_cursor(sort, *page.next_cursor) if page.next_cursor else None
    return _json({"items": page.items, "next_cursor": next_cursor})


COUNT_CAP = 10_000


@router.post("/counts", responses=WITH_BODY)
async def count_tasks(body: CountsIn, ctx: Ctx, user: CurrentUser) -> CountsOut:
    """How many of the caller's tasks each named view holds (the filters of `GET /tasks`, counted up to
    `cap`), and the caller's tags with their counts: what a client's navigation shows, in one request."""
    now = ctx.clock.now()
    queries = {
        name: _query(filters, user.id, user.timezone, now, field_prefix=f"views.{name}.")
        for name, filters in body.views.items()
    }
    counts = await ctx.tasks.counts(queries, cap=COUNT_CAP)
    tags = [TagOut(name=n, open_count=o, total_count=a) for n, o, a in await ctx.tasks.tags(user.id)]
    return CountsOut(counts=counts, cap=COUNT_CAP, tags=tags)


def _query(filters: CountFilters, user_id: str, tz: str, now: datetime, *, field_prefix: str) -> TaskQuery:
    """The TaskQuery of list filters (sorted by due, one page); errors name `field_prefix` + the field."""
    q, tags = filters.q, filters.tag
    if q and len(search_terms(q)) > MAX_SEARCH_TERMS:
        raise ValidationError(
            f"{field_prefix}q: at most {MAX_SEARCH_TERMS} different words", field=f"{field_prefix}q"
        )
    for value, name in ((q or "", "q"), *((t, "tag") for t in tags)):
        check_text(value, field=field_prefix + name)  # a NUL or lone surrogate would reach the database
    before, after = filters.due_before, filters.due_after
    return TaskQuery(
        user_id=user_id,
        q=(q or "").strip() or None,  # blank: no search, as an absent q
        completed=filters.completed,
        priorities=[int(Priority.parse(p)) for p in filters.priority],
        tags=[tag_form(t) for t in tags if t.strip()],
        due_before=_bound(before, f"{field_prefix}due_before", tz) if before else None,
        due_after=_bound(after, f"{field_prefix}due_after", tz) if after else None,
        overdue_at=_now_and_today(now, tz) if filters.overdue else None,
    )


@router.get("/tasks/{task_id}", response_model=TaskOut, responses=responses(404))
async def get_task(task_id: str, ctx: Ctx, user: CurrentUser) -> Response:
    """One task of the caller (404 for anyone else's); ETag carries the version."""
    task = await ctx.tasks.get(user.id, task_id)
    return _json(task, headers={"ETag": f'"{task["version"]}"'})


def _if_match(value: str | None) -> int | None:
    if value is None or value.strip() == "*":
        return None
    try:
        return int(value.strip().removeprefix("W/").strip('"'))
    except ValueError:
        raise ValidationError('If-Match must be the task\'s version, e.g. "3"', field="If-Match") from None


@router.patch("/tasks/{task_id}", responses=responses(404, 412, 413))
async def patch_task(
    task_id: str,
    body: TaskPatch,
    ctx: Ctx,
    user: CurrentUser,
    response: Response,
    if_match: IfMatch = None,
) -> TaskOut:
    """Change the given fields; 412 when If-Match names an older version."""
    fields = _fields(body, only_set=True)
    view = await ctx.tasks.update(
        user.id, task_id, fields, if_match=_if_match(if_match), all_day_at=user.all_day_at
    )
    response.headers["ETag"] = f'"{view.version}"'
    return view


@router.delete("/tasks/{task_id}", status_code=204, responses=responses(404, 412))
async def delete_task(task_id: str, ctx: Ctx, user: CurrentUser, if_match: IfMatch = None) -> Response:
    """Delete a task of the caller; 412 when If-Match names an older version."""
    await ctx.tasks.delete(user.id, task_id, if_match=_if_match(if_match))
    return Response(status_code=204)


@router.post("/tasks/{task_id}/restore", responses=responses(404, 409))
async def restore_task(task_id: str, ctx: Ctx, user: CurrentUser) -> TaskOut:
    """Undo a delete: the task comes back with the same id, tags and reminders (its history says
    "restored"); a task that is not deleted is returned as it is. 404 once the deleted task is forgotten
    (after the outbox retention, 7 days by default)."""
    return await ctx.tasks.restore(user.id, task_id)


@router.post("/tasks/{task_id}/complete", responses=responses(404))
async def complete_task(task_id: str, ctx: Ctx, user: CurrentUser) -> TaskOut:
    """Mark done; a recurring task's next occurrence follows through the recurring service."""
    return await ctx.tasks.complete(user.id, task_id)


@router.post("/tasks/{task_id}/reopen", responses=responses(404))
async def reopen_task(task_id: str, ctx: Ctx, user: CurrentUser) -> TaskOut:
    """Mark not done."""
    return await ctx.tasks.reopen(user.id, task_id)


@router.get("/tags")
async def list_tags(ctx: Ctx, user: CurrentUser) -> list[TagOut]:
    """The caller's tags with open and total task counts."""
    counts = await ctx.tasks.tags(user.id)
    return [TagOut(name=name, open_count=n_open, total_count=n_all) for name, n_open, n_all in counts]


@router.post("/recurrence/preview", responses=WITH_BODY)
async def recurrence_preview(body: RecurrencePreviewIn, user: CurrentUser) -> RecurrencePreviewOut:
    """RFC 5545 rule → canonical form, words and the next occurrences from the first due (UTC or dates)."""
    tz = body.timezone or user.timezone
    local = zone(tz)  # the same zone rule as a task's (IANA names only)
    for value, name in ((body.due_at, "due_at"), (body.due_date, "due_date")):
        if value is not None:
            check_year(value, field=name)
    first = body.due_at.astimezone(local) if body.due_at is not None else body.due_date
    if first is None:
        raise ValidationError("give due_at or due_date: the first occurrence of the series", field="due_at")
    series = recurrence.Series(rrule=body.recurrence, anchor=first, tz=tz, repeat_from=body.repeat_from)
    return RecurrencePreviewOut(
        recurrence=series.rrule,
        text=recurrence.describe(series.rrule),
        occurrences=recurrence.occurrences(series, count=body.count),
    )


@router.post("/parse", responses=WITH_BODY)
async def parse(body: ParseIn, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    """Natural-language quick add: the task fields understood, and what was not."""
    order = cast(DateOrder, user.date_order or "DMY")
    result = nlparse.parse_quick_add(body.text, now=ctx.clock.now(), tz=user.timezone, date_order=order)
    return {
        "title": result.title,
        "due_at": result.due_at.isoformat() if result.due_at else None,
        "due_date": result.due_date.isoformat() if result.due_date else None,
        "recurrence": result.recurrence,
        "repeat_from": result.repeat_from,
        "priority": result.priority,
        "tags": result.tags,
        "reminders": result.reminders,
        "unparsed": result.unparsed,
    }
