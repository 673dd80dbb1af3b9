"""One place mapping domain errors to HTTP statuses; bodies always name the field at fault."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError

from taskstream.domain.errors import (
    Conflict,
    DependencyUnavailable,
    DomainError,
    NotFound,
    PreconditionFailed,
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
    DependencyUnavailable: 503,
}


def _body(message: str, field: str | None, detail: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "message": message,
        "field": field,
        "detail": detail or [{"loc": [field] if field else [], "msg": message}],
    }


def install(app: FastAPI) -> None:
    """Register the exception handlers on `app`."""

    @app.exception_handler(DomainError)
    async def domain_error(_: Request, error: DomainError) -> JSONResponse:
        status = next((code for cls, code in STATUS.items() if isinstance(error, cls)), 400)
        headers = (
            {"WWW-Authenticate": "Bearer"}
            if status == 401
            else {"Retry-After": "1"}
            if status == 503
            else None
        )
        return JSONResponse(_body(error.message, error.field), status_code=status, headers=headers)

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
        return JSONResponse(_body(message, field, details), status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error", error=str(error))
        return JSONResponse(_body("internal error; nothing was changed", None), status_code=500)

    @app.exception_handler(OperationalError)
    async def database_down(_: Request, error: OperationalError) -> JSONResponse:
        return JSONResponse(
            _body("the database is unreachable; nothing was changed, try again", None),
            status_code=503,
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(DBAPIError)
    async def database_error(_: Request, error: DBAPIError) -> JSONResponse:
        if error.connection_invalidated:
            return JSONResponse(_body("the database is unreachable; try again", None), status_code=503)
        raise error
