"""The log of a task instance's try, read piece by piece with continuation tokens.

``Accept: application/json`` (the default) answers ``{"content": [{"timestamp",
"event", "level", "logger"}...], "continuation_token"}``; ``application/x-ndjson`` one
such message per line and ``text/plain`` the text itself, both with the token in the
``Airflow-Continuation-Token`` header. A token is given while there is more to read:
while the try runs (its log may grow), or when a piece stopped before the end of the file
(at most :data:`PAGE_BYTES` per answer, unless ``full_content``). Logs were masked when
they were written: secrets never reach them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Path, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.responses import Response, StreamingResponse

from downwind.api.deps import SessionDep, context, requires
from downwind.api.schemas.task_logs import (
    StructuredLogMessage,
    TaskInstancesLogResponse,
    decode_log_token,
    encode_log_token,
)
from downwind.runtime.client import TaskInstanceKey
from downwind.security.roles import Permission
from downwind.services.task_logs import (
    TaskLogNotFound,
    locate_task_log,
    parse_log_line,
    read_log_lines,
)

__all__ = ["PAGE_BYTES", "router"]

#: the most bytes of a log one answer carries, unless ``full_content`` asks for all
PAGE_BYTES = 1024 * 1024
TOKEN_HEADER = "Airflow-Continuation-Token"
_JSON, _NDJSON, _TEXT = "application/json", "application/x-ndjson", "text/plain"

router = APIRouter(
    prefix="/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances", tags=["Task Instance"]
)


def _media_type(accept: str) -> str:
    """The answer's media type for an ``Accept`` header (406 when none is served)."""
    for item in accept.split(","):
        media = item.split(";")[0].strip().lower()
        if media in ("", "*/*", "application/*", _JSON):
            return _JSON
        if media in (_NDJSON, _TEXT, "text/*"):
            return _TEXT if media == "text/*" else media
    raise HTTPException(
        status.HTTP_406_NOT_ACCEPTABLE,
        "Only application/json, application/x-ndjson or text/plain is supported",
    )


@router.get(
    "/{task_id}/logs/{try_number}",
    dependencies=[requires(Permission.READ)],
    response_model=TaskInstancesLogResponse,
    responses={
        200: {
            "content": {
                _NDJSON: {"schema": {"type": "string"}},
                _TEXT: {"schema": {"type": "string"}},
            }
        },
        404: {"description": "No such try, or its log file is not on this machine"},
    },
)
def get_log(
    request: Request,
    session: SessionDep,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    try_number: Annotated[int, Path(ge=0)],
    full_content: bool = False,
    map_index: int = -1,
    token: str | None = None,
    accept: Annotated[str, Header()] = "*/*",
) -> Any:
    """A piece of the log of try ``try_number`` of a task instance, from the start or
    from where ``token`` left off (400 for a token this server did not give)."""
    media = _media_type(accept)
    ctx = context(request)
    key = TaskInstanceKey(dag_id, dag_run_id, task_id, map_index)
    offset = decode_log_token(ctx.signing_key, token, key, try_number) if token else 0
    log = locate_task_log(
        session,
        dag_id,
        dag_run_id,
        task_id,
        map_index=map_index,
        try_number=try_number,
        base_log_folder=ctx.conf.logging.base_log_folder,
    )
    if log.path.is_file():
        chunk = read_log_lines(
            log.path, offset, None if full_content else PAGE_BYTES, final=not log.in_progress
        )
        text, offset, more = chunk.text, chunk.next_offset, not chunk.eof
    elif log.in_progress:  # it has not written a line yet: come back for them
        text, more = "", True
    else:
        raise TaskLogNotFound(f"no log for {log.describe()}: {log.missing_reason()}")
    next_token = None
    if more or log.in_progress:
        next_token = encode_log_token(ctx.signing_key, key, try_number, offset)
    lines = text.split("\n")
    if lines[-1] == "":  # the text ends with a line end (or is empty)
        lines.pop()
    if media == _JSON:
        messages = [StructuredLogMessage(**parse_log_line(line)) for line in lines]
        return TaskInstancesLogResponse(content=messages, continuation_token=next_token)
    headers = {TOKEN_HEADER: next_token} if next_token else None
    if media == _TEXT:
        return Response(text, media_type=_TEXT, headers=headers)
    return StreamingResponse(_ndjson(lines), media_type=_NDJSON, headers=headers)


def _ndjson(lines: list[str]) -> Iterator[str]:
    for line in lines:
        yield json.dumps(jsonable_encoder(parse_log_line(line))) + "\n"
