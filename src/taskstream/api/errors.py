"""One place mapping domain errors to HTTP statuses; bodies always name the field at fault."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException
from starlette.routing import compile_path

from taskstream.domain.errors import (
    Conflict,
    DependencyUnavailable,
    DomainError,
    NotFound,
    OutOfSpace,
    PreconditionFailed,
    TooManyRequests,
    Unauthorized,
    ValidationError,
)

log = structlog.get_logger(__name__)

STATUS: dict[type[DomainError], int] = {
    ValidationError: 422,
    NotFound: 404,
    Conflict: 409,
    PreconditionFailed: 412,
    Unauthorized: 401,
    OutOfSpace: 507,  # before its base class: the first match counts
    DependencyUnavailable: 503,
    TooManyRequests: 429,
}


class ErrorDetail(BaseModel):
    """One problem: where (`loc`, the path of the field, empty for the request as a whole) and what."""

    loc: list[str | int]
    msg: str
    type: str | None = None


class ErrorOut(BaseModel):
    """The body of every error answer."""

    message: str = Field(description="what went wrong, for a person")
    field: str | None = Field(description="the dotted path of the field at fault, or null")
    detail: list[ErrorDetail] = Field(description="every problem found (one for most errors)")


_MEANING = {
    401: "Not signed in: no bearer token, or an invalid or expired one (WWW-Authenticate: Bearer)",
    404: "Not found, or not the caller's",
    409: "Conflicts with what exists",
    412: "If-Match names an older version",
    413: "The request body is larger than the limit (TASKSTREAM_MAX_REQUEST_BYTES)",
    422: "A parameter or the body breaks a rule; `field` names it",
    429: "Too many attempts; Retry-After says when to try again",
    503: "A dependency (the database) is unreachable; nothing was changed (Retry-After)",
}
# The error answers an operation may document, each with the one error body; see responses().
ERROR_RESPONSES: dict[int, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": meaning} for status, meaning in _MEANING.items()
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of the given error statuses, for APIRouter(responses=…) or a route."""
    return {status: ERROR_RESPONSES[status] for status in statuses}


def error_body(message: str, field: str | None, detail: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "message": message,
        "field": field,
        "detail": detail or [{"loc": [field] if field else [], "msg": message}],
    }


def body_too_large(limit: int | None) -> str:
    """The message of a 413."""
    return f"the request body is larger than {limit} bytes (TASKSTREAM_MAX_REQUEST_BYTES)"


def _allowed_methods(request: Request, given: str | None) -> str:
    """The methods of the request's path: the framework names those of one route (one per method in
    FastAPI); the OpenAPI paths that match add the others."""
    methods = {method.strip() for method in (given or "").split(",") if method.strip()}
    for path, operations in request.app.openapi()["paths"].items():
        if compile_path(path)[0].match(request.url.path):
            methods.update(method.upper() for method in operations)
    return ", ".join(sorted(methods))


def _framework_error(request: Request, error: HTTPException) -> JSONResponse:
    """The framework's own answers in the body of every error: no such route, method not allowed (with the
    Allow of the whole path), a body too large (the connection is closed: the rest is never read), a body
    that cannot be parsed (422, as invalid JSON is)."""
    status, message, headers = error.status_code, str(error.detail), dict(error.headers or {})
    if status == 400:
        status, message = 422, "the request body could not be parsed (not UTF-8, JSON or a form)"
    elif status == 405:
        headers["Allow"] = _allowed_methods(request, headers.get("Allow"))
    elif status == 413:
        message, headers["Connection"] = body_too_large(request.app.max_body_size), "close"
    return JSONResponse(error_body(message, None), status_code=status, headers=headers or None)


def install(app: FastAPI) -> None:
    """Register the exception handlers on `app`."""

    @app.exception_handler(DomainError)
    async def domain_error(_: Request, error: DomainError) -> JSONResponse:
        status = next((code for cls, code in STATUS.items() if isinstance(error, cls)), 400)
        headers = (
            {"WWW-Authenticate": "Bearer"}
            if status == 401
            else {"Retry-After": str(error.retry_after_s)}
            if isinstance(error, TooManyRequests)
            else {"Retry-After": "1"}
            if status == 503
            else {"Retry-After": "30"}
            if status == 507
            else None
        )
        return JSONResponse(error_body(error.message, error.field), status_code=status, headers=headers)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        return _framework_error(request, error)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        details = []
        for item in error.errors():
            loc = [str(p) for p in item.get("loc", ()) if p not in ("body", "query", "path", "header")]
            details.append({"loc": loc, "msg": item.get("msg", "invalid"), "type": item.get("type")})
        first = details[0] if details else {"loc": [], "msg": "invalid request"}
        if first.get("type") == "json_invalid":
            first = {"loc": [], "msg": f"the body is not valid JSON ({first['msg']})"}
        field = ".".join(first["loc"]) or None
        message = f"{field}: {first['msg']}" if field else str(first["msg"])
        return JSONResponse(error_body(message, field, details), status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error", error=str(error))
        return JSONResponse(error_body("internal error; nothing was changed", None), status_code=500)

    @app.exception_handler(OperationalError)
    async def database_down(_: Request, error: OperationalError) -> JSONResponse:
        return JSONResponse(
            error_body("the database is unreachable; nothing was changed, try again", None),
            status_code=503,
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(DBAPIError)
    async def database_error(_: Request, error: DBAPIError) -> JSONResponse:
        if error.connection_invalidated:
            return JSONResponse(error_body("the database is unreachable; try again", None), status_code=503)
        raise error
