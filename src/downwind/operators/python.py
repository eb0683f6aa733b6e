"""``PythonOperator`` and the branching / short-circuit operators built on it."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, ClassVar

from downwind.exceptions import DagDefinitionError, TaskException
from downwind.sdk.baseoperator import BaseOperator
from downwind.sdk.templating import render_value, template_env


def callable_kwargs(
    python_callable: Callable[..., Any],
    context: Mapping[str, Any],
    op_kwargs: Mapping[str, Any],
    op_args: Sequence[Any] = (),
) -> dict[str, Any]:
    """The keyword arguments to call ``python_callable(*op_args, **kwargs)`` with.

    ``op_kwargs`` always; a callable that takes ``**kwargs`` also gets the whole
    context; otherwise only the context keys it names as parameters. A parameter that
    ``op_args`` fills by position gets no context value.
    """
    try:
        params = inspect.signature(python_callable).parameters
    except (TypeError, ValueError):  # some builtins have no signature: pass what was given
        return dict(op_kwargs)
    filled: set[str] = set()
    remaining = len(op_args)
    for name, param in params.items():
        if remaining <= 0 or param.kind not in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            break
        filled.add(name)
        remaining -= 1
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return {**{k: v for k, v in context.items() if k not in filled}, **op_kwargs}
    kwargs = dict(op_kwargs)
    for name, param in params.items():
        if (
            name in context
            and name not in kwargs
            and name not in filled
            and param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY)
        ):
            kwargs[name] = context[name]
    return kwargs


class PythonOperator(BaseOperator):
    """Call ``python_callable(*op_args, **op_kwargs)``; its return value is the XCom.

    A callable that accepts ``**context`` (or names context keys such as ``ds``, ``ti``)
    receives them. ``templates_dict`` is rendered and passed as ``templates_dict``.
    """

    template_fields: ClassVar = ("templates_dict", "op_args", "op_kwargs")
    template_fields_renderers: ClassVar = {
        "templates_dict": "json",
        "op_args": "py",
        "op_kwargs": "py",
    }
    ui_color = "#ffefeb"

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        templates_dict: dict[str, Any] | None = None,
        templates_exts: Iterable[str] | None = None,
        show_return_value_in_logs: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not callable(python_callable):
            raise DagDefinitionError(
                f"task '{self.task_id}': python_callable must be callable, "
                f"got {type(python_callable).__name__}"
            )
        self.python_callable = python_callable
        self.op_args = list(op_args or [])
        self.op_kwargs = dict(op_kwargs or {})
        self.templates_dict = templates_dict
        self.templates_exts = tuple(templates_exts) if templates_exts else None
        self.show_return_value_in_logs = show_return_value_in_logs

    def execute(self, context: dict[str, Any]) -> Any:
        if self.templates_dict is not None and self.templates_exts:
            self.templates_dict = render_value(
                self.templates_dict, context, template_env(self.dag), self.templates_exts
            )
        context = {**context, "templates_dict": self.templates_dict}
        kwargs = callable_kwargs(self.python_callable, context, self.op_kwargs, self.op_args)
        return self.python_callable(*self.op_args, **kwargs)


class BranchPythonOperator(PythonOperator):
    """Run only the branch(es) the callable returns (task ids); skip the other direct
    downstream tasks. Their downstream follow through trigger rules."""

    ui_color = "#ffefcc"

    def execute(self, context: dict[str, Any]) -> Any:
        chosen = super().execute(context)
        self.skip_all_except(context, chosen)
        return chosen

    def skip_all_except(self, context: dict[str, Any], chosen: str | Iterable[str] | None) -> None:
        """Skip every direct downstream task except ``chosen``."""
        if chosen is None:
            chosen_ids: set[str] = set()
        elif isinstance(chosen, str):
            chosen_ids = {chosen}
        else:
            chosen_ids = set(chosen)
        unknown = chosen_ids - self.downstream_task_ids
        if unknown:
            raise TaskException(
                f"branch returned task ids that are not directly downstream of "
                f"'{self.task_id}': {', '.join(sorted(unknown))} (downstream: "
                f"{', '.join(sorted(self.downstream_task_ids)) or 'none'})"
            )
        to_skip = sorted(self.downstream_task_ids - chosen_ids)
        self.log.info("Following branch %s; skipping %s", sorted(chosen_ids), to_skip)
        if to_skip:
            context["ti"].skip_tasks(to_skip)


class ShortCircuitOperator(PythonOperator):
    """Continue only if the callable returns a truthy value; otherwise skip downstream.

    With ``ignore_downstream_trigger_rules`` (default) every task downstream is skipped;
    without it only the direct downstream ones are, and the rest follow trigger rules.
    """

    ui_color = "#f2e8ff"

    def __init__(self, *, ignore_downstream_trigger_rules: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ignore_downstream_trigger_rules = ignore_downstream_trigger_rules

    def execute(self, context: dict[str, Any]) -> Any:
        condition = super().execute(context)
        if condition:
            self.log.info("Condition is truthy (%r): downstream tasks continue", condition)
            return condition
        if self.ignore_downstream_trigger_rules:
            to_skip = self.get_flat_relative_ids(upstream=False)
        else:
            to_skip = set(self.downstream_task_ids)
        self.log.info("Condition is falsy (%r): skipping %s", condition, sorted(to_skip))
        if to_skip:
            context["ti"].skip_tasks(sorted(to_skip))
        return condition
