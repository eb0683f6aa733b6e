"""Task instances: list (one run, or every run and DAG with ``~``), get, mark (with a dry
run), the history of their tries, and ``clearTaskInstances``.

The ``/{task_id}/{map_index}`` variants take an integer map index (``-1``: unmapped);
mapped tasks arrive with a later issue, so today only ``-1`` finds a task instance.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from sqlalchemy.orm import Session
from starlette.convertors import Convertor, register_url_convertor

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
    DurationRange,
    EndDateRange,
    LogicalDateRange,
    RunAfterRange,
    StartDateRange,
    UpdatedAtRange,
)
from downwind.api.schemas.task_instances import (
    ClearTaskInstancesBody,
    PatchTaskInstanceBody,
    TaskDependencyCollectionResponse,
    TaskDependencyResponse,
    TaskInstanceCollectionResponse,
    TaskInstanceHistoryCollectionResponse,
    TaskInstanceHistoryResponse,
    TaskInstanceResponse,
    TaskInstancesBatchBody,
    task_instance_collection,
    task_instance_history_response,
    task_instance_response,
)
from downwind.metastore.models import TaskInstance
from downwind.security.roles import Permission
from downwind.services.clear import clear_task_instances
from downwind.services.dags import get_dag_model
from downwind.services.errors import InvalidInput
from downwind.services.listing import SortKey, fetch_page
from downwind.services.runs import Range, get_dag_run
from downwind.services.task_instances import (
    TASK_INSTANCE_SORT_FIELDS,
    TaskInstanceFilters,
    describe_task_instances,
    get_task_instance,
    get_task_instance_try,
    list_task_instance_tries,
    mark_task_instances,
    select_task_instances,
    unmet_dependencies,
)

__all__ = ["router"]


class _MapIndexConvertor(Convertor[int]):
    """A map index in a path: an integer, ``-1`` included."""

    regex = "-?[0-9]+"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


# ``{map_index:map_index}`` matches integers only, so that ``/{task_id}/tries`` and the
# other fixed paths under a task never reach the map-index routes.
register_url_convertor("map_index", _MapIndexConvertor())

router = APIRouter(prefix="/dags/{dag_id}", tags=["Task Instance"])

_TIS = "/dagRuns/{dag_run_id}/taskInstances"
_ONE = _TIS + "/{task_id}"
_MAPPED = _ONE + "/{map_index:map_index}"

TaskInstanceOrder = Annotated[
    list[SortKey], Depends(order_by_param(TASK_INSTANCE_SORT_FIELDS, "map_index"))
]
Page = Annotated[Pagination, Depends(pagination)]
UpdateMask = Annotated[
    list[str] | None, Query(description="Fields to update: `new_state`, `note`.")
]
_PATTERN = "Case-insensitive substring match; separate several with `|`."
_PREFIX = "Case-sensitive prefix match; separate several with `|`."
_NOT_FOUND = {status.HTTP_404_NOT_FOUND: {"description": "Not Found"}}


def _collection(
    session: Session, tis: list[TaskInstance], total: int
) -> TaskInstanceCollectionResponse:
    return task_instance_collection(describe_task_instances(session, tis), total)


@router.get(_TIS, dependencies=[requires(Permission.READ)])
def get_task_instances(
    session: SessionDep,
    dag_id: str,
    dag_run_id: str,
    page: Page,
    order: TaskInstanceOrder,
    logical_date: LogicalDateRange,
    run_after: RunAfterRange,
    start_date: StartDateRange,
    end_date: EndDateRange,
    updated_at: UpdatedAtRange,
    duration: DurationRange,
    task_id: str | None = None,
    state: Annotated[
        list[str] | None, Query(description="States (repeat it); `none`: no state yet.")
    ] = None,
    pool: Annotated[list[str] | None, Query()] = None,
    queue: Annotated[list[str] | None, Query()] = None,
    executor: Annotated[list[str] | None, Query()] = None,
    operator: Annotated[list[str] | None, Query()] = None,
    try_number: Annotated[list[int] | None, Query()] = None,
    map_index: Annotated[list[int] | None, Query()] = None,
    version_number: Annotated[list[int] | None, Query()] = None,
    dag_id_pattern: Annotated[str | None, Query(description=_PATTERN)] = None,
    dag_id_prefix_pattern: Annotated[str | None, Query(description=_PREFIX)] = None,
    run_id_pattern: Annotated[str | None, Query(description=_PATTERN)] = None,
    run_id_prefix_pattern: Annotated[str | None, Query(description=_PREFIX)] = None,
    task_display_name_pattern: Annotated[str | None, Query(description=_PATTERN)] = None,
    task_display_name_prefix_pattern: Annotated[str | None, Query(description=_PREFIX)] = None,
    pool_name_pattern: Annotated[str | None, Query(description=_PATTERN)] = None,
    pool_name_prefix_pattern: Annotated[str | None, Query(description=_PREFIX)] = None,
    queue_name_pattern: Annotated[str | None, Query(description=_PATTERN)] = None,
    queue_name_prefix_pattern: Annotated[str | None, Query(description=_PREFIX)] = None,
    operator_name_pattern: Annotated[str | None, Query(description=_PATTERN)] = None,
    operator_name_prefix_pattern: Annotated[str | None, Query(description=_PREFIX)] = None,
) -> TaskInstanceCollectionResponse:
    """The task instances of a run, a page at a time; ``~`` as the DAG id and/or run id
    lists those of every DAG and/or run."""
    only_dag, only_run = unless_wildcard(dag_id), unless_wildcard(dag_run_id)
    if only_dag is not None:
        get_dag_model(session, only_dag)
        if only_run is not None:
            get_dag_run(session, only_dag, only_run)
    filters = TaskInstanceFilters(
        dag_ids=[only_dag] if only_dag is not None else (),
        run_ids=[only_run] if only_run is not None else (),
        task_ids=[task_id] if task_id is not None else (),
        states=state or (),
        pools=pool or (),
        queues=queue or (),
        operators=operator or (),
        executors=executor or (),
        try_numbers=try_number or (),
        map_indexes=map_index or (),
        version_numbers=version_number or (),
        ranges={
            "logical_date": logical_date,
            "run_after": run_after,
            "start_date": start_date,
            "end_date": end_date,
            "updated_at": updated_at,
            "duration": duration,
        },
        patterns={
            "dag_id": dag_id_pattern,
            "run_id": run_id_pattern,
            "task_id": task_display_name_pattern,
            "pool": pool_name_pattern,
            "queue": queue_name_pattern,
            "operator": operator_name_pattern,
        },
        prefixes={
            "dag_id": dag_id_prefix_pattern,
            "run_id": run_id_prefix_pattern,
            "task_id": task_display_name_prefix_pattern,
            "pool": pool_name_prefix_pattern,
            "queue": queue_name_prefix_pattern,
            "operator": operator_name_prefix_pattern,
        },
    )
    return _page(session, filters, order, page.limit, page.offset)


def _page(
    session: Session, filters: TaskInstanceFilters, order: list[SortKey], limit: int, offset: int
) -> TaskInstanceCollectionResponse:
    query, columns = select_task_instances(filters)
    found = fetch_page(
        session,
        query,
        sort=order,
        columns=columns,
        limit=limit,
        offset=offset,
        tiebreaker=[
            TaskInstance.dag_id,
            TaskInstance.run_id,
            TaskInstance.task_id,
            TaskInstance.map_index,
        ],
    )
    return _collection(session, found.rows, found.total_entries)


@router.post(_TIS + "/list", dependencies=[requires(Permission.READ)])
def get_task_instances_batch(
    request: Request,
    session: SessionDep,
    dag_id: Literal["~"],
    dag_run_id: Literal["~"],
    body: TaskInstancesBatchBody,
) -> TaskInstanceCollectionResponse:
    """The task instances matching the body's filters, across DAGs and runs (the path's
    DAG id and run id are ``~``)."""
    fields = body.model_dump()

    def bounds(name: str) -> Range:
        return Range(**{op: fields[f"{name}_{op}"] for op in ("gte", "gt", "lte", "lt")})

    orders = [body.order_by] if isinstance(body.order_by, str) else body.order_by or []
    filters = TaskInstanceFilters(
        dag_ids=body.dag_ids or (),
        run_ids=body.dag_run_ids or (),
        task_ids=body.task_ids or (),
        states=["none" if state is None else state for state in body.state or ()],
        pools=body.pool or (),
        queues=body.queue or (),
        executors=body.executor or (),
        ranges={
            name: bounds(name)
            for name in ("run_after", "logical_date", "start_date", "end_date", "duration")
        },
    )
    api = context(request).conf.api
    limit = resolve_limit(
        body.page_limit, fallback=api.fallback_page_limit, maximum=api.maximum_page_limit
    )
    sort = parse_order_by(orders, TASK_INSTANCE_SORT_FIELDS, "map_index")
    return _page(session, filters, sort, limit, body.page_offset)


@router.get(_ONE + "/tries", dependencies=[requires(Permission.READ)])
def get_task_instance_tries(
    session: SessionDep, dag_id: str, dag_run_id: str, task_id: str, map_index: int = -1
) -> TaskInstanceHistoryCollectionResponse:
    """Every try of a task instance, first to last (none before its first try)."""
    return _tries(session, dag_id, dag_run_id, task_id, map_index)


@router.get(_ONE + "/tries/{task_try_number}", dependencies=[requires(Permission.READ)])
def get_task_instance_try_details(
    session: SessionDep,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    task_try_number: int,
    map_index: int = -1,
) -> TaskInstanceHistoryResponse:
    """One try of a task instance."""
    return _try(session, dag_id, dag_run_id, task_id, task_try_number, map_index)


@router.get(_ONE + "/dependencies", dependencies=[requires(Permission.READ)])
def get_task_instance_dependencies(
    session: SessionDep, dag_id: str, dag_run_id: str, task_id: str, map_index: int = -1
) -> TaskDependencyCollectionResponse:
    """What keeps a task instance that has no state yet from running (its DAG paused,
    its run not running, its trigger rule waiting for upstream tasks)."""
    return _dependencies(session, dag_id, dag_run_id, task_id, map_index)


@router.patch(_ONE + "/dry_run", dependencies=[requires(Permission.OPERATE)])
def patch_task_instance_dry_run(
    session: SessionDep,
    user: CurrentUser,
    now: Now,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    body: PatchTaskInstanceBody,
    map_index: int = -1,
    update_mask: UpdateMask = None,
) -> TaskInstanceCollectionResponse:
    """The task instances that ``PATCH`` with this body would change; changes nothing."""
    return _patch(
        session, user, now, dag_id, dag_run_id, task_id, map_index, body, update_mask, True
    )


@router.get(_ONE, dependencies=[requires(Permission.READ)], responses=_NOT_FOUND)
def get_task_instance_route(
    session: SessionDep, dag_id: str, dag_run_id: str, task_id: str
) -> TaskInstanceResponse:
    """One (unmapped) task instance."""
    return _one(session, dag_id, dag_run_id, task_id, -1)


@router.patch(_ONE, dependencies=[requires(Permission.OPERATE)])
def patch_task_instance(
    session: SessionDep,
    user: CurrentUser,
    now: Now,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    body: PatchTaskInstanceBody,
    map_index: int = -1,
    update_mask: UpdateMask = None,
) -> TaskInstanceCollectionResponse:
    """Mark a task instance ``success``, ``failed`` or ``skipped`` (with its upstream,
    downstream, past or future relatives if asked); returns the task instances changed.
    The failed ones downstream of it are then cleared, so that they run again. 409 when
    nothing changes or one of them is running."""
    return _patch(
        session, user, now, dag_id, dag_run_id, task_id, map_index, body, update_mask, False
    )


@router.get(_MAPPED, dependencies=[requires(Permission.READ)])
def get_mapped_task_instance(
    session: SessionDep, dag_id: str, dag_run_id: str, task_id: str, map_index: int
) -> TaskInstanceResponse:
    """One task instance by map index (``-1``: unmapped)."""
    return _one(session, dag_id, dag_run_id, task_id, map_index)


@router.patch(_MAPPED, dependencies=[requires(Permission.OPERATE)])
def patch_task_instance_by_map_index(
    session: SessionDep,
    user: CurrentUser,
    now: Now,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    map_index: int,
    body: PatchTaskInstanceBody,
    update_mask: UpdateMask = None,
) -> TaskInstanceCollectionResponse:
    """Mark a task instance given by map index (see ``PATCH .../{task_id}``)."""
    return _patch(
        session, user, now, dag_id, dag_run_id, task_id, map_index, body, update_mask, False
    )


@router.patch(_MAPPED + "/dry_run", dependencies=[requires(Permission.OPERATE)])
def patch_task_instance_dry_run_by_map_index(
    session: SessionDep,
    user: CurrentUser,
    now: Now,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    map_index: int,
    body: PatchTaskInstanceBody,
    update_mask: UpdateMask = None,
) -> TaskInstanceCollectionResponse:
    """The task instances that marking this one would change; changes nothing."""
    return _patch(
        session, user, now, dag_id, dag_run_id, task_id, map_index, body, update_mask, True
    )


@router.get(_MAPPED + "/tries", dependencies=[requires(Permission.READ)])
def get_mapped_task_instance_tries(
    session: SessionDep, dag_id: str, dag_run_id: str, task_id: str, map_index: int
) -> TaskInstanceHistoryCollectionResponse:
    """Every try of a task instance given by map index."""
    return _tries(session, dag_id, dag_run_id, task_id, map_index)


@router.get(_MAPPED + "/tries/{task_try_number}", dependencies=[requires(Permission.READ)])
def get_mapped_task_instance_try_details(
    session: SessionDep,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    map_index: int,
    task_try_number: int,
) -> TaskInstanceHistoryResponse:
    """One try of a task instance given by map index."""
    return _try(session, dag_id, dag_run_id, task_id, task_try_number, map_index)


@router.get(_MAPPED + "/dependencies", dependencies=[requires(Permission.READ)])
def get_task_instance_dependencies_by_map_index(
    session: SessionDep, dag_id: str, dag_run_id: str, task_id: str, map_index: int
) -> TaskDependencyCollectionResponse:
    """What keeps a task instance given by map index from running."""
    return _dependencies(session, dag_id, dag_run_id, task_id, map_index)


@router.post("/clearTaskInstances", dependencies=[requires(Permission.OPERATE)])
def post_clear_task_instances(
    session: SessionDep, user: CurrentUser, now: Now, dag_id: str, body: ClearTaskInstancesBody
) -> TaskInstanceCollectionResponse:
    """Clear task instances of the DAG so that they run again (``dry_run``, the default:
    only list them). Which ones: those of the run ``dag_run_id``, else of the runs with a
    logical date from ``start_date`` to ``end_date``; of ``task_ids`` (default: every
    task) and their relatives if asked; only the failed ones unless ``only_failed`` is
    false. 409 when one of them is running: nothing is cleared."""
    if body.only_running:
        raise InvalidInput(
            "only_running is not supported: downwind never clears a running task instance "
            "(wait for it to finish, or mark it)"
        )
    if not body.reset_dag_runs:
        raise InvalidInput(
            "reset_dag_runs=false is not supported: clearing always puts the run back to "
            "queued, so that the scheduler runs the cleared tasks"
        )
    if body.run_on_latest_version:
        raise InvalidInput(
            "run_on_latest_version is not supported: a cleared run runs the DAG version it "
            "was created with"
        )
    get_dag_model(session, dag_id)
    run_ids = None
    start_date, end_date = body.start_date, body.end_date
    if body.dag_run_id is not None:
        get_dag_run(session, dag_id, body.dag_run_id)
        if body.include_past or body.include_future:
            raise InvalidInput(
                "Cannot use include_past or include_future when dag_run_id is provided "
                "because logical_date is not applicable."
            )
        run_ids = [body.dag_run_id]
    else:
        start_date = None if body.include_past else start_date
        end_date = None if body.include_future else end_date
    extra = user.audit_extra()
    if body.note is not None:
        extra["note"] = body.note
    tis = clear_task_instances(
        session,
        dag_id,
        run_ids=run_ids,
        task_ids=_task_ids(body.task_ids),
        only_failed=body.only_failed,
        upstream=body.include_upstream,
        downstream=body.include_downstream,
        start_date=start_date,
        end_date=end_date,
        dry_run=body.dry_run,
        now=now,
        owner=user.username,
        extra=extra,
    )
    return _collection(session, tis, len(tis))


def _task_ids(entries: list[str | tuple[str, int]] | None) -> list[str] | None:
    if entries is None:
        return None
    task_ids = []
    for entry in entries:
        if isinstance(entry, str):
            task_ids.append(entry)
            continue
        task_id, map_index = entry
        if map_index != -1:
            raise InvalidInput(
                f"task {task_id!r} has no map index {map_index}: downwind has no mapped task "
                "instances yet (use -1, or the task id alone)"
            )
        task_ids.append(task_id)
    return task_ids


def _dependencies(
    session: Session, dag_id: str, run_id: str, task_id: str, map_index: int
) -> TaskDependencyCollectionResponse:
    unmet = unmet_dependencies(session, dag_id, run_id, task_id, map_index)
    return TaskDependencyCollectionResponse(
        dependencies=[TaskDependencyResponse(name=name, reason=reason) for name, reason in unmet]
    )


def _one(
    session: Session, dag_id: str, run_id: str, task_id: str, map_index: int
) -> TaskInstanceResponse:
    ti = get_task_instance(session, dag_id, run_id, task_id, map_index)
    return task_instance_response(describe_task_instances(session, [ti])[0])


def _tries(
    session: Session, dag_id: str, run_id: str, task_id: str, map_index: int
) -> TaskInstanceHistoryCollectionResponse:
    tries = list_task_instance_tries(session, dag_id, run_id, task_id, map_index)
    views = describe_task_instances(session, tries)
    return TaskInstanceHistoryCollectionResponse(
        task_instances=[task_instance_history_response(view) for view in views],
        total_entries=len(views),
    )


def _try(
    session: Session, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int
) -> TaskInstanceHistoryResponse:
    row = get_task_instance_try(session, dag_id, run_id, task_id, try_number, map_index)
    return task_instance_history_response(describe_task_instances(session, [row])[0])


def _patch(
    session: Session,
    user: CurrentUser,
    now: datetime,
    dag_id: str,
    run_id: str,
    task_id: str,
    map_index: int,
    body: PatchTaskInstanceBody,
    update_mask: list[str] | None,
    dry_run: bool,
) -> TaskInstanceCollectionResponse:
    fields = set(body.model_fields_set)
    if update_mask:
        fields &= set(update_mask)
    new_state = body.new_state if "new_state" in fields else None
    note = body.note if "note" in fields else None
    if new_state is None:
        ti = get_task_instance(session, dag_id, run_id, task_id, map_index)
        if note is not None and not dry_run:
            raise InvalidInput(
                "downwind does not store notes on task instances: a note is accepted only "
                "with new_state, and kept in the audit-log entry (GET /api/v2/eventLogs)"
            )
        return _collection(session, [ti], 1)
    extra = user.audit_extra()
    if note is not None:
        extra["note"] = note
    changed = mark_task_instances(
        session,
        dag_id,
        run_id,
        task_id,
        new_state,
        map_index=map_index,
        upstream=body.include_upstream,
        downstream=body.include_downstream,
        past=body.include_past,
        future=body.include_future,
        dry_run=dry_run,
        now=now,
        owner=user.username,
        extra=extra,
    )
    if not changed and not dry_run:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"Task id {task_id} is already in {new_state} state"
        )
    return _collection(session, changed, len(changed))
