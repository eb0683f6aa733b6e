"""What runs in the child process that parses one DAG file.

The fork server (:mod:`downwind.dag_processing.forkserver`) imports this module once, so
every child starts with downwind's authoring code and the built-in operators already
imported: a child costs a fork, not a new interpreter. Nothing here touches the
metastore; the child only sends back what it found.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path
from typing import Any

# Imported here so that the fork server preloads them: most DAG files import these.
import downwind.operators.bash
import downwind.operators.empty
import downwind.operators.python  # noqa: F401
from downwind.config import reset_config_cache
from downwind.sdk.discovery import ensure_on_sys_path, load_dag_file
from downwind.sdk.serialization import serialize_dag

__all__ = ["OUTPUT_LIMIT", "ChildResult", "parse_file"]

#: characters of a file's import-time output (prints, warnings) sent back to the parent
OUTPUT_LIMIT = 10_000

#: ``("ok", [(serialized DAG, source code), ...], output)`` or ``("error", traceback, output)``
ChildResult = tuple[str, Any, str]


def adopt(environ: dict[str, str], sys_path: list[str], cwd: str) -> None:
    """Take over the environment, ``sys.path`` and working folder of the process that asked
    for the parse (the fork server's are as old as the fork server), so that the DAG file
    sees the configuration the DAG processor runs with."""
    os.environ.clear()
    os.environ.update(environ)
    sys.path[:] = sys_path
    with contextlib.suppress(OSError):
        os.chdir(cwd)
    reset_config_cache()


def parse_file(path: str, import_folders: list[str]) -> ChildResult:
    """Import ``path`` and serialize its DAGs; an error of any kind is the file's error."""
    ensure_on_sys_path(*(Path(folder) for folder in import_folders))
    try:
        source: str | None = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        source = None
    output = io.StringIO()
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        dags, error = load_dag_file(Path(path))
        parsed = []
        if error is None:
            try:
                parsed = [(serialize_dag(dag), source) for dag in dags]
            except Exception as err:  # DagDefinitionError, or a bug: the file's error
                error = f'  File "{path}"\n{type(err).__name__}: {err}\n'
    text = output.getvalue()[:OUTPUT_LIMIT]
    if error is not None:
        return ("error", error, text)
    return ("ok", parsed, text)
