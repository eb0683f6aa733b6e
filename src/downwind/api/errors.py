"""Errors as Apache Airflow's API answers them: ``{"detail": "..."}`` with a status code.

- service errors: :class:`~downwind.services.errors.InvalidInput` (and a malformed run
  conf or value) -> 400; a missing thing (any ``LookupError``, an unknown DAG, task,
  variable or connection) -> 404; a conflict (it already exists, it is in use, an
  illegal state change) -> 409;
- a malformed request -> 422, FastAPI's list of ``{"loc", "msg", "type"}`` (without the
  rejected input, which may be a password);
- a number too large for the metastore's columns -> 400;
- the metastore not answering -> 503;
- anything else -> 500 ``{"detail": "Internal Server Error"}``: the traceback goes to
  the server's log only (see :class:`~downwind.api.middleware.InternalErrors`).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, OperationalError

from downwind.exceptions import (
    ConnectionNotFound,
    DagNotFound,
    DownwindException,
    IllegalStateTransition,
    ParamValidationError,
    SerializationError,
    TaskNotFound,
    VariableNotFound,
)
from downwind.services.errors import (
    AlreadyExists,
    DagInUse,
    InvalidInput,
    PoolInUse,
)

__all__ = ["install_error_handlers", "status_of"]

log = logging.getLogger("downwind.api")

_NOT_FOUND = (LookupError, DagNotFound, TaskNotFound, VariableNotFound, ConnectionNotFound)
_CONFLICT = (AlreadyExists, PoolInUse, DagInUse, IllegalStateTransition)
_BAD_REQUEST = (InvalidInput, ParamValidationError, SerializationError)


def status_of(error: DownwindException) -> int:
    """The HTTP status of a service error (500 for one that is not the client's fault)."""
    if isinstance(error, _BAD_REQUEST):
        return status.HTTP_400_BAD_REQUEST
    if isinstance(error, _NOT_FOUND):
        return status.HTTP_404_NOT_FOUND
    if isinstance(error, _CONFLICT):
        return status.HTTP_409_CONFLICT
    return status.HTTP_500_INTERNAL_SERVER_ERROR


async def _downwind_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, DownwindException)
    code = status_of(error)
    if code >= 500:
        log.error("%s %s failed", request.method, request.url.path, exc_info=error)
        return JSONResponse({"detail": "Internal Server Error"}, status_code=code)
    return JSONResponse({"detail": str(error)}, status_code=code)


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    # The rejected input is left out: it may be a password or a secret.
    errors = [
        {"loc": item.get("loc", ()), "msg": item.get("msg", ""), "type": item.get("type", "")}
        for item in error.errors()
    ]
    return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)


async def _metastore_unavailable(request: Request, error: Exception) -> JSONResponse:
    log.error("%s %s: the metastore failed: %s", request.method, request.url.path, error)
    return JSONResponse(
        {"detail": "The metastore is unavailable (busy or unreachable): try again shortly"},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": "5"},
    )


async def _out_of_range(request: Request, error: Exception) -> JSONResponse:
    # SQLite's driver raises OverflowError, PostgreSQL's a DataError (numeric value out
    # of range): either way the request asked for a number no row can hold.
    return JSONResponse(
        {"detail": "A number in the request is out of range (at most 2147483647)"},
        status_code=status.HTTP_400_BAD_REQUEST,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Map downwind's errors, validation errors and metastore failures to responses."""
    app.add_exception_handler(DownwindException, _downwind_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(OperationalError, _metastore_unavailable)
    app.add_exception_handler(OverflowError, _out_of_range)
    app.add_exception_handler(DataError, _out_of_range)
