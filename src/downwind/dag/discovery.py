"""Find DAG files in a folder, import each in isolation, and collect their DAGs.

A file that fails (syntax error, exception at import, a cycle, a duplicate DAG id) is
recorded as an import error with its traceback and never hides the DAGs of other files.
"""

from __future__ import annotations

import fnmatch
import hashlib
import importlib.util
import os
import re
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from downwind.dag.context import start_collecting, stop_collecting
from downwind.dag.dag import DAG
from downwind.exceptions import DagNotFound

IGNORE_FILE = ".downwindignore"
EXAMPLE_DAGS_FOLDER = Path(__file__).resolve().parent.parent / "example_dags"


@dataclass
class DagBag:
    """The DAGs found, by id, and the files that failed, by path."""

    dags: dict[str, DAG] = field(default_factory=dict)
    import_errors: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def get_dag(self, dag_id: str) -> DAG:
        """The DAG ``dag_id``, or :class:`DagNotFound` with a hint on what went wrong."""
        try:
            return self.dags[dag_id]
        except KeyError:
            pass
        import difflib

        message = f"DAG '{dag_id}' not found"
        close = difflib.get_close_matches(dag_id, self.dags, n=1)
        if close:
            message += f"; did you mean '{close[0]}'?"
        if self.import_errors:
            message += f". {len(self.import_errors)} DAG file(s) failed to import:"
            for path, error in self.import_errors.items():
                message += f"\n  {path}: {error.strip().splitlines()[-1]}"
        raise DagNotFound(message)


def _ignore_patterns(folder: Path) -> list[str]:
    ignore = folder / IGNORE_FILE
    if not ignore.is_file():
        return []
    patterns = []
    for line in ignore.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            patterns.append(line)
    return patterns


def _ignored(relative: str, patterns: list[str]) -> bool:
    name = relative.rsplit("/", 1)[-1]
    return any(
        fnmatch.fnmatch(relative, p.strip("/"))
        or fnmatch.fnmatch(name, p.strip("/"))
        or relative.startswith(p.strip("/") + "/")
        for p in patterns
    )


def list_dag_files(folder: Path, *, safe_mode: bool = True) -> list[Path]:
    """Python files under ``folder`` that may hold DAGs, sorted.

    ``.downwindignore`` files hold glob patterns (one a line, ``#`` comments) of paths to
    skip, relative to the folder that holds them. In safe mode a file that never
    mentions "dag" is skipped without being imported.
    """
    folder = Path(folder)
    if folder.is_file():
        return [folder]
    found: list[Path] = []
    rules: list[tuple[Path, list[str]]] = []
    for root, dirs, files in os.walk(folder, followlinks=True):
        root_path = Path(root)
        patterns = _ignore_patterns(root_path)
        if patterns:
            rules.append((root_path, patterns))

        def skipped(path: Path) -> bool:
            return any(
                (base == path or base in path.parents)
                and _ignored(path.relative_to(base).as_posix(), pats)
                for base, pats in rules
            )

        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".") and d != "__pycache__" and not skipped(root_path / d)
        )
        for name in sorted(files):
            path = root_path / name
            if not name.endswith(".py") or skipped(path):
                continue
            if safe_mode and not _mentions_dag(path):
                continue
            found.append(path)
    return found


def _mentions_dag(path: Path) -> bool:
    try:
        return b"dag" in path.read_bytes().lower()
    except OSError:
        return False


def _module_name(path: Path) -> str:
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    return f"downwind_dagfile_{digest}_{re.sub(r'[^0-9A-Za-z_]', '_', path.stem)}"


def load_dag_file(path: Path) -> tuple[list[DAG], str | None]:
    """Import ``path`` as a fresh module; return its DAGs, or an error with traceback."""
    name = _module_name(path)
    found = start_collecting()
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            return [], f"cannot import {path}: not a Python module"
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    except BaseException as err:
        sys.modules.pop(name, None)
        if isinstance(err, KeyboardInterrupt):
            raise
        return [], _user_traceback(err, path)
    finally:
        stop_collecting()
    dags: list[DAG] = []
    for candidate in [*found, *vars(module).values()]:
        if isinstance(candidate, DAG) and all(candidate is not d for d in dags):
            dags.append(candidate)
    try:
        for dag in dags:
            dag.validate()
    except Exception as err:
        return [], f"{type(err).__name__}: {err}"
    return dags, None


def _user_traceback(err: BaseException, path: Path) -> str:
    """The traceback from the DAG file's frame on (downwind's import machinery left out)."""
    tb = err.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != str(path):
        tb = tb.tb_next
    if isinstance(err, SyntaxError) or tb is None:
        return "".join(traceback.format_exception_only(err))
    return "".join(traceback.format_exception(type(err), err, tb))


def ensure_on_sys_path(*folders: Path) -> None:
    """Put the dags folder and ``plugins/`` on ``sys.path`` so DAG files can import
    helper modules that sit beside them."""
    for folder in folders:
        text = str(folder)
        if folder.is_dir() and text not in sys.path:
            sys.path.append(text)


def collect_dags(
    dags_folder: Path,
    *,
    include_examples: bool = False,
    safe_mode: bool = True,
    plugins_folder: Path | None = None,
) -> DagBag:
    """Import every DAG file of ``dags_folder`` (and the examples if asked)."""
    bag = DagBag()
    ensure_on_sys_path(*(p for p in (Path(dags_folder), plugins_folder) if p is not None))
    files: list[Path] = []
    if Path(dags_folder).exists():
        files.extend(list_dag_files(Path(dags_folder), safe_mode=safe_mode))
    if include_examples:
        files.extend(list_dag_files(EXAMPLE_DAGS_FOLDER, safe_mode=safe_mode))
    owner: dict[str, str] = {}
    for path in files:
        bag.files.append(str(path))
        dags, error = load_dag_file(path)
        if error is not None:
            bag.import_errors[str(path)] = error
            continue
        duplicates = [d.dag_id for d in dags if d.dag_id in owner]
        if duplicates:
            bag.import_errors[str(path)] = (
                f"DuplicateDagId: DAG '{duplicates[0]}' is already defined in "
                f"{owner[duplicates[0]]}"
            )
            continue
        for dag in dags:
            owner[dag.dag_id] = str(path)
            bag.dags[dag.dag_id] = dag
    return bag


def collect_configured_dags() -> DagBag:
    """The DAGs of the configured dags folder (plus examples when ``load_examples``)."""
    from downwind.config import get_config

    core = get_config().core
    return collect_dags(
        core.dags_folder,
        include_examples=core.load_examples,
        safe_mode=core.dag_discovery_safe_mode,
        plugins_folder=core.plugins_folder,
    )
