"""Every error leaves as JSON `{"error": "..."}` with the right status."""

from __future__ import annotations

import asyncio
import functools
import logging
import math
from collections.abc import Awaitable
from typing import Any, TypeVar

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter
from starlette.exceptions import HTTPException as StarletteHTTPException

from warroom.adapters.health import HANDLED_ERRORS, is_dependency_error, is_oom
from warroom.adapters.metrics.catalogue import DEPENDENCY_TIMEOUTS, REFUSED
from warroom.services.refusal import Refused

log = logging.getLogger(__name__)
T = TypeVar("T")


class JSONBytes(JSONResponse):
    """JSON via orjson: fast, and strict about NaN (it can't produce one). A
    JSONResponse, so the OpenAPI document shows each route's `response_model`."""

    media_type = "application/json"

    def render(self, content: object) -> bytes:
        return orjson.dumps(content)


@functools.cache
def _adapter(shape: Any) -> TypeAdapter[Any]:
    return TypeAdapter(shape)


def checked(shape: Any, content: Any, status_code: int = 200) -> JSONBytes:
    """A body shaped as the route's declared `response_model`: validated and dumped by
    that model, so a route cannot send what its documentation does not promise (a
    mismatch is a bug: 500). Routes return JSONBytes, which FastAPI does not check."""
    adapter = _adapter(shape)
    body = adapter.dump_python(adapter.validate_python(content), mode="json")
    return JSONBytes(body, status_code=status_code)


# The web layer's name for a refusal: raised by routes and services alike.
ApiError = Refused


def api_error_response(exc: ApiError) -> JSONBytes:
    counted(exc)
    return JSONBytes({"error": exc.message}, status_code=exc.status, headers=exc.headers)


def counted(exc: ApiError) -> None:
    """A refusal by a limit, or a dependency's failure, counted as it is answered."""
    if exc.limit:
        REFUSED.labels(exc.limit).inc()
    if exc.dependency:
        DEPENDENCY_TIMEOUTS.labels(exc.dependency).inc()


def unavailable(message: str, retry_after_s: float = 5.0, dependency: str = "unknown") -> ApiError:
    """503 with Retry-After: a dependency is down, full, locked or too slow."""
    return ApiError(
        503,
        message,
        {"Retry-After": str(max(1, math.ceil(retry_after_s)))},
        dependency=dependency,
    )


def dependency_of(exc: BaseException) -> str:
    """`redis`, `database` or `unknown`: the part an exception came from."""
    module = type(exc).__module__
    if module.startswith("redis") or is_oom(exc):
        return "redis"
    if module.startswith(("sqlalchemy", "sqlite3", "psycopg")):
        return "database"
    return "unknown"


_SAYS = {
    "redis": "Redis is unavailable",
    "database": "the database is unavailable",
    "unknown": "a dependency did not answer in time",
}


def dependency_failed(exc: BaseException, retry_after_s: float = 5.0) -> ApiError:
    """The 503 for a dependency failure. The detail (hosts, ports, SQL) stays in the
    server log; the client learns which part failed and when to retry."""
    part = dependency_of(exc)
    says = "Redis is out of memory" if is_oom(exc) else _SAYS[part]
    return unavailable(f"{says}; retry later", retry_after_s, part)


async def bounded(awaitable: Awaitable[T], timeout_s: float, what: str) -> T:
    """Await a dependency call for at most `timeout_s`; its failure becomes a 503."""
    try:
        # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation.
        async with asyncio.timeout(timeout_s):
            return await awaitable
    except ApiError:
        raise
    except TimeoutError:
        raise unavailable(
            f"{what} did not answer within {timeout_s:g} s; retry later", timeout_s, "timeout"
        ) from None
    except Exception as exc:
        if is_dependency_error(exc):
            raise dependency_failed(exc, timeout_s) from None
        raise


def unexpected_response(exc: BaseException) -> JSONBytes:
    """Any other exception: JSON even then (never a plain-text 500)."""
    if is_dependency_error(exc):
        return api_error_response(dependency_failed(exc))
    log.error("unhandled error", exc_info=exc)
    return JSONBytes({"error": "internal error"}, status_code=500)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONBytes:
        return api_error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONBytes:
        return JSONBytes({"error": str(exc.detail)}, status_code=exc.status_code)

    async def _internal(_: Request, exc: Exception) -> JSONBytes:
        if is_dependency_error(exc):
            return api_error_response(dependency_failed(exc))
        return JSONBytes({"error": "internal error"}, status_code=500)

    async def _dependency(_: Request, exc: Exception) -> JSONBytes:
        return unexpected_response(exc)

    # Handled by the inner exception middleware: answered, not re-raised as a 500.
    for cls in HANDLED_ERRORS:
        app.add_exception_handler(cls, _dependency)
    # Anything else is a bug: still a JSON body (Starlette logs the traceback).
    app.add_exception_handler(Exception, _internal)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONBytes:
        first = exc.errors()[0] if exc.errors() else {"msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return JSONBytes({"error": f"{where}: {first['msg']}"}, status_code=422)
