"""Rendering an operator's templated fields with Jinja2 and the run context.

Jinja2 is imported only when a task renders something, so authoring a DAG stays cheap.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from downwind.exceptions import TemplateRenderError
from downwind.sdk.xcom_arg import Resolvable

if TYPE_CHECKING:
    import jinja2

    from downwind.sdk.baseoperator import BaseOperator
    from downwind.sdk.dag import DAG

_MARKERS = ("{{", "{%", "{#")


def _date_filters() -> dict[str, Any]:
    return {
        "ds": lambda d: d.strftime("%Y-%m-%d"),
        "ds_nodash": lambda d: d.strftime("%Y%m%d"),
        "ts": lambda d: d.isoformat(),
        "ts_nodash": lambda d: d.strftime("%Y%m%dT%H%M%S"),
        "ts_nodash_with_tz": lambda d: d.isoformat().replace("-", "").replace(":", ""),
    }


def template_env(dag: DAG | None) -> jinja2.Environment:
    """The Jinja2 environment of ``dag``: its folder and ``template_searchpath`` as the
    search path, strict undefined variables, its macros and filters. Cached on the DAG."""
    cached = getattr(dag, "_jinja_env", None)
    if cached is not None:
        return cached
    import jinja2
    import jinja2.nativetypes

    searchpath = [dag.folder, *dag.template_searchpath] if dag is not None else [os.getcwd()]
    native = dag is not None and dag.render_template_as_native_obj
    env_class = jinja2.nativetypes.NativeEnvironment if native else jinja2.Environment
    env = env_class(
        loader=jinja2.FileSystemLoader(searchpath),
        undefined=(dag.template_undefined if dag and dag.template_undefined else None)
        or jinja2.StrictUndefined,
        extensions=["jinja2.ext.do"],
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters.update(_date_filters())
    if dag is not None:
        env.globals.update(dag.user_defined_macros)
        env.filters.update(dag.user_defined_filters)
        dag._jinja_env = env  # type: ignore[attr-defined]
    return env


def render_template_fields(task: BaseOperator, context: Mapping[str, Any]) -> dict[str, Any]:
    """Render every templated field of ``task`` in place; return the rendered values."""
    env = template_env(task.dag)
    rendered: dict[str, Any] = {}
    for field in task.template_fields:
        value = getattr(task, field, None)
        if value is None:
            continue
        try:
            result = render_value(value, context, env, task.template_ext)
        except TemplateRenderError as err:
            raise TemplateRenderError(
                f"task '{task.task_id}': cannot render field '{field}': {err}"
            ) from None
        setattr(task, field, result)
        rendered[field] = result
    return rendered


def render_value(
    value: Any,
    context: Mapping[str, Any],
    env: jinja2.Environment,
    template_ext: tuple[str, ...] | list[str] = (),
) -> Any:
    """``value`` with every template string in it rendered (lists, dicts... recursively)."""
    if isinstance(value, str):
        if template_ext and value.endswith(tuple(template_ext)):
            return _render_file(value, context, env)
        if any(marker in value for marker in _MARKERS):
            return _render_string(value, context, env)
        return value
    if isinstance(value, Resolvable):
        return value.resolve(context)
    if isinstance(value, list):
        return [render_value(v, context, env, template_ext) for v in value]
    if isinstance(value, tuple):
        return tuple(render_value(v, context, env, template_ext) for v in value)
    if isinstance(value, (set, frozenset)):
        return {render_value(v, context, env, template_ext) for v in value}
    if isinstance(value, dict):
        return {k: render_value(v, context, env, template_ext) for k, v in value.items()}
    return value


def _render_string(source: str, context: Mapping[str, Any], env: jinja2.Environment) -> Any:
    import jinja2

    try:
        template = env.from_string(source)
        return template.render(**context)
    except jinja2.TemplateSyntaxError as err:
        raise TemplateRenderError(_describe(err, err.lineno, source)) from None
    except Exception as err:  # undefined names, errors raised inside the template
        raise TemplateRenderError(
            _describe(err, _template_line(err, "<template>"), source)
        ) from None


def _render_file(name: str, context: Mapping[str, Any], env: jinja2.Environment) -> Any:
    import jinja2

    try:
        template = env.get_template(name)
    except jinja2.TemplateNotFound:
        searched = ", ".join(getattr(env.loader, "searchpath", []))
        raise TemplateRenderError(
            f"template file '{name}' not found (searched: {searched})"
        ) from None
    except jinja2.TemplateSyntaxError as err:
        raise TemplateRenderError(
            f"in template file '{name}': " + _describe(err, err.lineno, err.source or "")
        ) from None
    try:
        return template.render(**context)
    except Exception as err:
        source = ""
        if template.filename and os.path.exists(template.filename):
            with open(template.filename, encoding="utf-8") as fh:
                source = fh.read()
        line = _template_line(err, template.filename or name)
        raise TemplateRenderError(
            f"in template file '{name}': " + _describe(err, line, source)
        ) from None


def _template_line(err: BaseException, filename: str) -> int | None:
    """The line of the template where ``err`` was raised (Jinja2 rewrites tracebacks so
    that template frames carry the template's file name and line)."""
    line = None
    tb = err.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _describe(err: BaseException, line: int | None, source: str) -> str:
    message = getattr(err, "message", None) or str(err) or type(err).__name__
    if type(err).__name__ not in ("TemplateSyntaxError", "UndefinedError"):
        message = f"{type(err).__name__}: {message}"
    if line is None:
        return message
    lines = source.splitlines()
    text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
    return f"{message} (template line {line}: {text})" if text else f"{message} (line {line})"
