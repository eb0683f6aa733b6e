"""Run one task try: context, templates, ``execute``, XCom, and the outcome's state.

The one place where task exceptions become states. It talks to the outside only
through the :class:`~downwind.runtime.client.RuntimeClient` it is given.
"""

from __future__ import annotations

import copy
import logging
import traceback
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from downwind.exceptions import TaskException, TaskFailedNoRetry, TaskSkipped, TaskTimeout
from downwind.runner.context import build_context
from downwind.runner.timeout import call_with_timeout
from downwind.runtime.client import RuntimeClient, StartInfo, TaskOutcome
from downwind.runtime.current import using_client
from downwind.runtime.task_instance import XCOM_RETURN_KEY, RuntimeTaskInstance
from downwind.sdk.baseoperator import BaseOperator
from downwind.sdk.templating import render_template_fields
from downwind.states import TaskInstanceState

log = logging.getLogger("downwind.task")
_running: ContextVar[BaseOperator | None] = ContextVar("downwind_running_task", default=None)
_MAX_LOGGED_RETURN = 500


def run_task_try(
    task: BaseOperator, client: RuntimeClient, *, test_mode: bool = False
) -> TaskOutcome:
    """Run one try of ``task`` and report its outcome through ``client``.

    ``task`` is copied before its fields are rendered, so the DAG's own task keeps its
    templates for the next try.
    """
    start = client.start()
    task = copy.copy(task)
    ti = RuntimeTaskInstance(task, client, start)
    context: dict[str, Any] = {}
    token = _running.set(task)
    try:
        return _run(task, client, start, ti, context, test_mode)
    finally:
        _running.reset(token)


def running_task() -> BaseOperator | None:
    """The task (the rendered copy) that :func:`run_task_try` is running in this context:
    what a SIGTERM handler calls ``on_kill`` on."""
    return _running.get()


def _run(
    task: BaseOperator,
    client: RuntimeClient,
    start: StartInfo,
    ti: RuntimeTaskInstance,
    context: dict[str, Any],
    test_mode: bool,
) -> TaskOutcome:
    with using_client(client):
        try:
            params = task.params.resolve(start.run.conf)
            context.update(build_context(task, ti, start, client, params, test_mode=test_mode))
            log.info(
                "Running %s, try %d of %d, run %s",
                task,
                start.try_number,
                start.max_tries + 1,
                start.run.run_id,
            )
            client.set_rendered_fields(
                {k: _short(v) for k, v in render_template_fields(task, context).items()}
            )
            _run_callbacks(task.on_execute_callback, context, "on_execute_callback")
            result = call_with_timeout(
                lambda: _execute(task, context), task.execution_timeout, task.on_kill
            )
            _push_result(task, client, result)
            outcome = TaskOutcome(TaskInstanceState.SUCCESS)
        except TaskSkipped as err:
            log.info("Task skipped%s", f": {err}" if str(err) else "")
            outcome = TaskOutcome(TaskInstanceState.SKIPPED)
        except Exception as err:
            outcome = failure_outcome(err, start.try_number, start.max_tries)
            context["exception"] = err
    callback = {
        TaskInstanceState.SUCCESS: ("on_success_callback", task.on_success_callback),
        TaskInstanceState.FAILED: ("on_failure_callback", task.on_failure_callback),
        TaskInstanceState.UP_FOR_RETRY: ("on_retry_callback", task.on_retry_callback),
        TaskInstanceState.SKIPPED: ("on_skipped_callback", task.on_skipped_callback),
    }.get(outcome.state)
    if callback and context:
        with using_client(client):
            _run_callbacks(callback[1], context, callback[0])
    client.finish(outcome)
    return outcome


def _execute(task: BaseOperator, context: dict[str, Any]) -> Any:
    """``task.execute``, where ``sys.exit(0)`` succeeds and another exit code fails the
    try like any error (instead of ending the process), as in Airflow."""
    try:
        return task.execute(context)
    except SystemExit as err:
        if err.code in (None, 0):
            code = "" if err.code is None else err.code
            log.info("Task code called sys.exit(%s): treated as success", code)
            return None
        raise TaskException(f"task code called sys.exit({err.code!r})") from err


def failure_outcome(err: BaseException, try_number: int, max_tries: int) -> TaskOutcome:
    """The state of a try that raised ``err``: retried while tries remain."""
    if isinstance(err, TaskTimeout):
        log.error("%s", err)
    else:
        log.error("Task failed: %s%s", err, _user_traceback(err))
    message = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
    if isinstance(err, TaskFailedNoRetry) or try_number > max_tries:
        if try_number <= max_tries:
            log.info("Failing without retrying (%s)", type(err).__name__)
        return TaskOutcome(TaskInstanceState.FAILED, error=message)
    log.info("Will be retried: try %d of %d failed", try_number, max_tries + 1)
    return TaskOutcome(TaskInstanceState.UP_FOR_RETRY, error=message)


_PACKAGE_DIR = str(Path(__file__).resolve().parent.parent)
_EXAMPLES_DIR = str(Path(_PACKAGE_DIR, "example_dags"))


def _is_downwind_frame(filename: str) -> bool:
    return filename.startswith(_PACKAGE_DIR) and not filename.startswith(_EXAMPLES_DIR)


def _user_traceback(err: BaseException) -> str:
    """The traceback of ``err`` from the first frame of user code on, or nothing when
    only downwind's own code was involved (e.g. a bash command that exited non-zero:
    its message says everything)."""
    frames = traceback.extract_tb(err.__traceback__)
    first_user = next(
        (i for i, frame in enumerate(frames) if not _is_downwind_frame(frame.filename)), None
    )
    if first_user is None and isinstance(err, TaskException):
        return ""
    shown = frames[first_user:] if first_user is not None else frames
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(shown)]
    lines.extend(traceback.format_exception_only(err))
    return "\n" + "".join(lines).rstrip()


def _push_result(task: BaseOperator, client: RuntimeClient, result: Any) -> None:
    shown = getattr(task, "show_return_value_in_logs", True)
    if result is None or not task.do_xcom_push:
        if result is not None and shown:
            log.info("Returned value (not pushed to XCom): %s", _short(result))
        return
    if task.multiple_outputs:
        if not isinstance(result, Mapping):
            raise TypeError(
                f"task '{task.task_id}' has multiple_outputs=True but returned "
                f"{type(result).__name__}, not a dict"
            )
        for key, value in result.items():
            if not isinstance(key, str):
                raise TypeError(
                    f"task '{task.task_id}' has multiple_outputs=True but returned a dict "
                    f"with a non-string key {key!r}"
                )
            client.push_xcom(key, value)
    client.push_xcom(XCOM_RETURN_KEY, result)
    if shown:
        log.info("Returned value: %s", _short(result))
    else:
        log.info("Returned value pushed to XCom (not shown: show_return_value_in_logs=False)")


def _run_callbacks(
    callbacks: Callable[[dict[str, Any]], Any] | list | None, context: dict[str, Any], name: str
) -> None:
    if not callbacks:
        return
    for callback in callbacks if isinstance(callbacks, list) else [callbacks]:
        try:
            callback(context)
        except Exception:
            log.exception("%s raised an error (the task's state is unchanged)", name)


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= _MAX_LOGGED_RETURN else text[:_MAX_LOGGED_RETURN] + "..."
