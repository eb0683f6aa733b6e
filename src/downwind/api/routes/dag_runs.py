"""DAG runs: list (one DAG, or every DAG with ``~``), trigger, get, mark, delete, clear,
and wait for one to finish."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.encoders import jsonable_encoder
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from downwind.api.deps import CurrentUser, Now, SessionDep, context, requires
from downwind.api.pagination import (
    Pagination,
    order_by_param,
    pagination,
    parse_order_by,
    resolve_limit,
    unless_wildcard,
)
from downwind.api.ranges import (
    BOUNDS,
    DurationRange,
    EndDateRange,
    LogicalDateRange,
    RunAfterRange,
    StartDateRange,
    UpdatedAtRange,
)
from downwind.api.schemas.dag_runs import (
    DAGRunClearBody,
    DAGRunCollectionResponse,
    DAGRunPatchBody,
    DAGRunResponse,
    DAGRunsBatchBody,
    TriggerDAGRunPostBody,
    dag_run_response,
)
from downwind.api.schemas.task_instances import (
    TaskInstanceCollectionResponse,
    task_instance_collection,
)
from downwind.metastore.models import DagRun
from downwind.security.roles import Permission
from downwind.services.clear import clear_task_instances
from downwind.services.dags import get_dag_model
from downwind.services.errors import InvalidInput
from downwind.services.listing import SortKey, fetch_page
from downwind.services.runs import (
    DAG_RUN_SORT_FIELDS,
    DagRunFilters,
    Range,
    delete_dag_run,
    get_dag_run,
    select_dag_runs,
    set_dag_run_queued,
    set_dag_run_state,
    trigger_dag_run,
    versions_by_id,
)
from downwind.services.task_instances import describe_task_instances
from downwind.services.xcoms import xcom_return_values
from downwind.states import DAG_RUN_FINISHED

__all__ = [
    "router",
]

router = APIRouter(prefix="/dags/{dag_id}/dagRuns", tags=["DagRun"])

#: the shortest pause between two looks at a run that ``/wait`` takes
_MIN_WAIT_INTERVAL = 0.1

RunOrder = Annotated[list[SortKey], Depends(order_by_param(DAG_RUN_SORT_FIELDS, "id"))]
Page = Annotated[Pagination, Depends(pagination)]


def _run_response(session: Session, run: DagRun) -> DAGRunResponse:
    return dag_run_response(run, versions_by_id(session, [run.dag_version_id]))


def _collection(session: Session, runs: list[DagRun], total: int) -> DAGRunCollectionResponse:
    versions = versions_by_id(session, [run.dag_version_id for run in runs])
    return DAGRunCollectionResponse(
        dag_runs=[dag_run_response(run, versions) for run in runs], total_entries=total
    )


def _audit_extra(user: CurrentUser, note: str | None) -> dict[str, Any]:
    extra = user.audit_extra()
    if note is not None:
        extra["note"] = note
    return extra


@router.get("", dependencies=[requires(Permission.READ)])
def get_dag_runs(
    session: SessionDep,
    dag_id: str,
    page: Page,
    order: RunOrder,
    logical_date: LogicalDateRange,
    run_after: RunAfterRange,
    start_date: StartDateRange,
    end_date: EndDateRange,
    updated_at: UpdatedAtRange,
    duration: DurationRange,
    state: Annotated[list[str] | None, Query(description="Run states (repeat it).")] = None,
    run_type: Annotated[list[str] | None, Query(description="Run types (repeat it).")] = None,
    run_id_pattern: str | None = None,
    run_id_prefix_pattern: str | None = None,
    dag_id_pattern: str | None = None,
    dag_id_prefix_pattern: str | None = None,
    conf_contains: Annotated[
        str | None, Query(description="A substring of the run's conf, as JSON text.")
    ] = None,
    dag_version: Annotated[list[int] | None, Query(description="DAG version numbers.")] = None,
) -> DAGRunCollectionResponse:
    """The runs of a DAG (``~``: of every DAG), a page at a time; oldest first."""
    only = unless_wildcard(dag_id)
    if only is not None:
        get_dag_model(session, only)
    filters = DagRunFilters(
        dag_ids=[only] if only is not None else (),
        states=state or (),
        run_types=run_type or (),
        ranges={
            "logical_date": logical_date,
            "run_after": run_after,
            "start_date": start_date,
            "end_date": end_date,
            "updated_at": updated_at,
            "duration": duration,
        },
        run_id_pattern=run_id_pattern,
        run_id_prefix_pattern=run_id_prefix_pattern,
        dag_id_pattern=dag_id_pattern,
        dag_id_prefix_pattern=dag_id_prefix_pattern,
        conf_contains=conf_contains,
        version_numbers=dag_version or (),
    )
    query, columns = select_dag_runs(session, filters)
    found = fetch_page(
        session,
        query,
        sort=order,
        columns=columns,
        limit=page.limit,
        offset=page.offset,
        tiebreaker=[DagRun.id],
    )
    return _collection(session, found.rows, found.total_entries)


@router.post("", dependencies=[requires(Permission.OPERATE)])
def trigger_dag_run_route(
    session: SessionDep,
    user: CurrentUser,
    now: Now,
    dag_id: str,
    body: TriggerDAGRunPostBody,
) -> DAGRunResponse:
    """Trigger a run of the DAG: it is queued, and starts once the DAG is unpaused. 404
    for an unknown DAG, 409 when the run id is taken, 400 for a conf its params refuse."""
    if body.partition_key is not None:
        raise InvalidInput("downwind has no partitions: partition_key must be null or left out")
    if get_dag_model(session, dag_id, active=True).has_import_errors:
        raise InvalidInput(
            f"DAG with dag_id: '{dag_id}' has import errors and cannot be triggered: fix its "
            "file (GET /api/v2/importErrors shows the error)"
        )
    interval = None
    if body.data_interval_start is not None and body.data_interval_end is not None:
        interval = (body.data_interval_start, body.data_interval_end)
    run = trigger_dag_run(
        session,
        dag_id,
        logical_date=body.logical_date,
        conf=body.conf,
        run_id=body.dag_run_id,
        triggered_by="rest_api",
        now=now,
        owner=user.username,
        data_interval=interval,
        run_after=body.run_after,
        extra=_audit_extra(user, body.note),
    )
    return _run_response(session, run)


@router.post("/list", dependencies=[requires(Permission.READ)])
def get_list_dag_runs_batch(
    request: Request,
    session: SessionDep,
    dag_id: Literal["~"],
    body: DAGRunsBatchBody,
) -> DAGRunCollectionResponse:
    """The runs matching the body's filters, across DAGs (the path's DAG id is ``~``)."""

    def bounds(name: str) -> Range:
        fields = body.model_dump()
        return Range(**{op: fields[f"{name}_{op}"] for op in BOUNDS})

    orders = [body.order_by] if isinstance(body.order_by, str) else body.order_by or []
    sort = parse_order_by(orders, DAG_RUN_SORT_FIELDS, "id")
    filters = DagRunFilters(
        dag_ids=body.dag_ids or (),
        states=[state.value for state in body.states or () if state is not None],
        ranges={
            name: bounds(name)
            for name in ("logical_date", "run_after", "start_date", "end_date", "duration")
        },
        conf_contains=body.conf_contains,
    )
    query, columns = select_dag_runs(session, filters)
    api = context(request).conf.api
    found = fetch_page(
        session,
        query,
        sort=sort,
        columns=columns,
        limit=resolve_limit(
            body.page_limit, fallback=api.fallback_page_limit, maximum=api.maximum_page_limit
        ),
        offset=body.page_offset,
        tiebreaker=[DagRun.id],
    )
    return _collection(session, found.rows, found.total_entries)


@router.get("/{dag_run_id}", dependencies=[requires(Permission.READ)])
def get_dag_run_route(session: SessionDep, dag_id: str, dag_run_id: str) -> DAGRunResponse:
    """One run."""
    return _run_response(session, get_dag_run(session, dag_id, dag_run_id))


@router.patch("/{dag_run_id}", dependencies=[requires(Permission.OPERATE)])
def patch_dag_run(
    session: SessionDep,
    user: CurrentUser,
    now: Now,
    dag_id: str,
    dag_run_id: str,
    body: DAGRunPatchBody,
    update_mask: Annotated[
        list[str] | None, Query(description="Fields to update: `state`, `note`.")
    ] = None,
) -> DAGRunResponse:
    """Mark a run ``success`` or ``failed`` (its unfinished task instances with it), or
    ``queued`` (the scheduler looks at it again). 409 while one of its tasks runs."""
    fields = set(body.model_fields_set)
    if update_mask:
        fields &= set(update_mask)
    run = get_dag_run(session, dag_id, dag_run_id)
    state = body.state if "state" in fields else None
    note = body.note if "note" in fields else None
    if state is None:
        if note is not None:
            raise InvalidInput(
                "downwind does not store notes on DAG runs: a note is accepted only with a "
                "state change, and kept in its audit-log entry (GET /api/v2/eventLogs)"
            )
        return _run_response(session, run)
    extra = _audit_extra(user, note)
    if state == "queued":
        run = set_dag_run_queued(
            session, dag_id, dag_run_id, now=now, owner=user.username, extra=extra
        )
    else:
        run = set_dag_run_state(
            session, dag_id, dag_run_id, state, now=now, owner=user.username, extra=extra
        )
    return _run_response(session, run)


@router.delete(
    "/{dag_run_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    dependencies=[requires(Permission.OPERATE)],
)
def delete_dag_run_route(
    session: SessionDep, user: CurrentUser, now: Now, dag_id: str, dag_run_id: str
) -> None:
    """Delete a run with its task instances, their tries and XComs (409 while one of its
    tasks is queued or running)."""
    delete_dag_run(
        session, dag_id, dag_run_id, now=now, owner=user.username, extra=user.audit_extra()
    )


@router.post("/{dag_run_id}/clear", dependencies=[requires(Permission.OPERATE)])
def clear_dag_run(
    session: SessionDep,
    user: CurrentUser,
    now: Now,
    dag_id: str,
    dag_run_id: str,
    body: DAGRunClearBody,
) -> TaskInstanceCollectionResponse | DAGRunResponse:
    """Clear the run's task instances (``only_failed``: the failed ones) so that they run
    again. ``dry_run`` (the default) lists them and changes nothing; otherwise the run is
    returned, queued again."""
    if body.only_new:
        raise InvalidInput("only_new is not supported: downwind clears a run in its own version")
    if body.run_on_latest_version:
        raise InvalidInput(
            "run_on_latest_version is not supported: a cleared run runs the DAG version it "
            "was created with"
        )
    get_dag_run(session, dag_id, dag_run_id)
    tis = clear_task_instances(
        session,
        dag_id,
        run_ids=[dag_run_id],
        only_failed=body.only_failed,
        dry_run=body.dry_run,
        now=now,
        owner=user.username,
        extra=_audit_extra(user, body.note),
    )
    if body.dry_run:
        return task_instance_collection(describe_task_instances(session, tis), len(tis))
    return _run_response(session, get_dag_run(session, dag_id, dag_run_id))


@router.get(
    "/{dag_run_id}/wait",
    dependencies=[requires(Permission.READ)],
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "One JSON object per line (NDJSON): the run's state at each look, "
            "the last one with the results asked for.",
            "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
        }
    },
)
def wait_dag_run_until_finished(
    request: Request,
    session: SessionDep,
    dag_id: str,
    dag_run_id: str,
    interval: Annotated[float, Query(gt=0, description="Seconds between two looks at the run.")],
    result: Annotated[
        list[str] | None,
        Query(description="Task ids whose return value (XCom) to add once the run finished."),
    ] = None,
) -> StreamingResponse:
    """Stream ``{"state": ...}`` lines until the run finishes; the last line adds
    ``"results": {task_id: value}`` for the tasks named by ``result``."""
    get_dag_run(session, dag_id, dag_run_id)
    # The wait may last long: release the request's snapshot; each look reads afresh.
    session.commit()
    sessions = context(request).sessions
    pause = max(interval, _MIN_WAIT_INTERVAL)
    return StreamingResponse(
        _wait_lines(sessions, dag_id, dag_run_id, pause, result or []),
        media_type="application/x-ndjson",
    )


async def _wait_lines(
    sessions: Callable[[], Session],
    dag_id: str,
    run_id: str,
    pause: float,
    result_task_ids: list[str],
) -> AsyncIterator[str]:
    # Async, so that a waiting client holds no worker thread between two looks (and a
    # client that goes away cancels the pause); each look reads in a worker thread.
    while True:
        line, finished = await anyio.to_thread.run_sync(
            _look_at_run, sessions, dag_id, run_id, result_task_ids
        )
        yield json.dumps(jsonable_encoder(line)) + "\n"
        if finished:
            return
        await anyio.sleep(pause)


def _look_at_run(
    sessions: Callable[[], Session], dag_id: str, run_id: str, result_task_ids: list[str]
) -> tuple[dict[str, Any], bool]:
    """The line ``/wait`` writes about the run now, and whether it is the last."""
    with sessions() as session, session.begin():
        try:
            state = get_dag_run(session, dag_id, run_id).state
        except LookupError as err:  # deleted while waited for
            return {"error": str(err)}, True
        line: dict[str, Any] = {"state": state}
        finished = state in DAG_RUN_FINISHED
        if finished and result_task_ids:
            line["results"] = xcom_return_values(session, dag_id, run_id, result_task_ids)
    return line, finished
