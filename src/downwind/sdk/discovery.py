"""Find DAG files in a folder, import each in isolation, and collect their DAGs.

A file that fails (syntax error, exception at import, a cycle, a duplicate DAG id) is
recorded as an import error with its traceback and never hides the DAGs of other files.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from downwind.exceptions import DagNotFound
from downwind.sdk.context import start_collecting, stop_collecting
from downwind.sdk.dag import DAG

IGNORE_FILE = ".downwindignore"
EXAMPLE_DAGS_FOLDER = Path(__file__).resolve().parent.parent / "example_dags"


@dataclass
class DagBag:
    """The DAGs found, by id, and the files that failed, by path."""

    dags: dict[str, DAG] = field(default_factory=dict)
    import_errors: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    dags_folder: str | None = None

    def get_dag(self, dag_id: str) -> DAG:
        """The DAG ``dag_id``, or :class:`DagNotFound` with a hint on what went wrong:
        the closest DAG id, and the files that failed to import (the DAG may be in one)."""
        try:
            return self.dags[dag_id]
        except KeyError:
            pass
        import difflib

        message = f"DAG '{dag_id}' not found"
        if self.dags_folder is not None:
            message += f" in {self.dags_folder}"
        close = difflib.get_close_matches(dag_id, self.dags, n=1)
        if close:
            message += f"; did you mean '{close[0]}'?"
        if self.import_errors:
            count = len(self.import_errors)
            message += f"\n{count} DAG file{'s' if count > 1 else ''} failed to import:"
            for path, error in self.import_errors.items():
                message += f"\n  {path}: {_last_line(error)}"
        raise DagNotFound(message)


def _last_line(error: str) -> str:
    lines = error.strip().splitlines()
    return lines[-1] if lines else "unknown error"


# -- .downwindignore -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _IgnorePattern:
    regex: re.Pattern[str]
    negate: bool
    dir_only: bool
    anchored: bool

    def matches(self, relative: str, is_dir: bool) -> bool:
        if self.dir_only and not is_dir:
            return False
        subject = relative if self.anchored else relative.rsplit("/", 1)[-1]
        return self.regex.fullmatch(subject) is not None


def _glob_regex(glob: str) -> str:
    """gitignore-style glob to regex: ``*`` and ``?`` stay within one path segment,
    ``**`` crosses segments, ``[...]`` is a character class."""
    out: list[str] = []
    i = 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        elif glob[i] == "[" and "]" in glob[i + 2 :]:
            end = glob.index("]", i + 2)
            body = glob[i + 1 : end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return "".join(out)


def _parse_ignore_line(line: str) -> _IgnorePattern | None:
    line = re.sub(r"(^|\s)#.*", "", line).strip()
    negate = line.startswith("!")
    line = line.removeprefix("!")
    dir_only = line.endswith("/")
    line = line.rstrip("/")
    anchored = "/" in line
    line = line.lstrip("/")
    if not line:
        return None
    return _IgnorePattern(re.compile(_glob_regex(line)), negate, dir_only, anchored)


def _ignore_patterns(folder: Path) -> list[_IgnorePattern]:
    ignore = folder / IGNORE_FILE
    if not ignore.is_file():
        return []
    patterns = []
    for line in ignore.read_text(encoding="utf-8").splitlines():
        pattern = _parse_ignore_line(line)
        if pattern is not None:
            patterns.append(pattern)
    return patterns


def _is_ignored(path: Path, is_dir: bool, rules: list[tuple[Path, list[_IgnorePattern]]]) -> bool:
    """Whether ``path`` is ignored: the last matching pattern wins, a folder's
    ``.downwindignore`` after those of the folders above it."""
    ignored = False
    for base, patterns in rules:
        if base not in path.parents:
            continue
        relative = path.relative_to(base).as_posix()
        for pattern in patterns:
            if pattern.matches(relative, is_dir):
                ignored = not pattern.negate
    return ignored


def list_dag_files(folder: Path, *, safe_mode: bool = True) -> list[Path]:
    """Python files under ``folder`` (subfolders included) that may hold DAGs, sorted.

    A ``.downwindignore`` file holds glob patterns (one a line, ``#`` comments, gitignore
    style) of files and folders to skip, relative to the folder that holds it; it applies
    to that folder and everything below it. In safe mode a file that never mentions "dag"
    (in any case) is skipped without being imported.
    """
    folder = Path(folder)
    if folder.is_file():
        return [folder]
    found: list[Path] = []
    rules: list[tuple[Path, list[_IgnorePattern]]] = []
    seen: set[str] = set()
    for root, dirs, files in os.walk(folder, followlinks=True):
        root_path = Path(root)
        real = os.path.realpath(root)
        if real in seen:  # a symlink loop
            dirs[:] = []
            continue
        seen.add(real)
        patterns = _ignore_patterns(root_path)
        if patterns:
            rules.append((root_path, patterns))
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".")
            and d != "__pycache__"
            and not _is_ignored(root_path / d, True, rules)
        )
        for name in sorted(files):
            path = root_path / name
            if not name.endswith(".py") or _is_ignored(path, False, rules):
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


# -- importing a file ----------------------------------------------------------------


def _module_name(path: Path) -> str:
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    return f"downwind_dagfile_{digest}_{re.sub(r'[^0-9A-Za-z_]', '_', path.stem)}"


def load_dag_file(path: Path) -> tuple[list[DAG], str | None]:
    """Import ``path`` as a fresh module of its own; return its DAGs, or an error.

    The DAGs of a file are those in its module globals and those it created without
    keeping them (e.g. a ``@dag`` function called at module level), but not the DAGs
    of other modules it imported. Each gets ``fileloc`` = ``path``. The error is a
    traceback starting in the user's file.
    """
    path = Path(path)
    name = _module_name(path)
    modules_before = set(sys.modules)
    created = start_collecting()
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
    dags = _dags_of(module, created, modules_before)
    seen: dict[str, DAG] = {}
    for dag in dags:
        if dag.dag_id in seen:
            return [], _located(
                path,
                dag.dag_id,
                f"DuplicateDagId: the DAG id '{dag.dag_id}' is used by two DAGs in this file",
            )
        seen[dag.dag_id] = dag
        dag.fileloc = str(path)
    for dag in dags:
        try:
            dag.validate()
        except Exception as err:
            return [], _located(path, dag.dag_id, f"{type(err).__name__}: {err}")
    return dags, None


def _dags_of(module: object, created: list[DAG], modules_before: set[str]) -> list[DAG]:
    own = [value for value in vars(module).values() if isinstance(value, DAG)]
    own_ids = {id(dag) for dag in own}
    # DAGs that modules imported by this file created belong to those modules.
    foreign: set[int] = set()
    for other in set(sys.modules) - modules_before:
        namespace = getattr(sys.modules.get(other), "__dict__", None) or {}
        if other != getattr(module, "__name__", None):
            foreign.update(id(v) for v in list(namespace.values()) if isinstance(v, DAG))
    dags: list[DAG] = []
    taken: set[int] = set()
    for dag in [*created, *own]:
        if id(dag) in taken or (id(dag) in foreign and id(dag) not in own_ids):
            continue
        taken.add(id(dag))
        dags.append(dag)
    return dags


def _user_traceback(err: BaseException, path: Path) -> str:
    """The traceback from the DAG file's frame on (downwind's import machinery left
    out); a syntax error in the file itself is shown as Python shows it."""
    tb = err.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != str(path):
        tb = tb.tb_next
    if tb is None:
        return "".join(traceback.format_exception_only(err))
    return "".join(traceback.format_exception(type(err), err, tb))


def _located(path: Path, dag_id: str, message: str) -> str:
    """``message`` under a traceback-style line pointing at where the DAG is defined
    (found by its id in the source), so that editors can jump there."""
    line_number, source = _find_dag_definition(path, dag_id)
    if line_number is None:
        return f'  File "{path}"\n{message}\n'
    return f'  File "{path}", line {line_number}, in <module>\n    {source}\n{message}\n'


def _find_dag_definition(path: Path, dag_id: str) -> tuple[int | None, str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None, ""
    wanted = (
        re.compile(r"""['"]""" + re.escape(dag_id) + r"""['"]"""),
        re.compile(r"\bdef\s+" + re.escape(dag_id) + r"\s*\("),
    )
    for regex in wanted:
        for number, line in enumerate(lines, start=1):
            if regex.search(line):
                return number, line.strip()
    return None, ""


# -- a whole folder ------------------------------------------------------------------


def ensure_on_sys_path(*folders: Path) -> None:
    """Put the dags folder and ``plugins/`` on ``sys.path`` so DAG files can import
    helper modules that sit beside them."""
    for folder in folders:
        text = str(folder)
        if folder.is_dir() and text not in sys.path:
            sys.path.append(text)


def import_path_folders(dags_folder: Path, plugins_folder: Path | None = None) -> list[Path]:
    """The folders DAG files may import helper modules from: the dags folder, the
    ``plugins/`` folder beside it and the configured plugins folder."""
    dags_folder = Path(dags_folder)
    base = dags_folder.parent if dags_folder.is_file() else dags_folder
    folders = [base, base.parent / "plugins"]
    if plugins_folder is not None and Path(plugins_folder) not in folders:
        folders.append(Path(plugins_folder))
    return folders


def collect_dags(
    dags_folder: Path,
    *,
    include_examples: bool = False,
    safe_mode: bool = True,
    plugins_folder: Path | None = None,
) -> DagBag:
    """Import every DAG file of ``dags_folder`` (and the examples if asked)."""
    dags_folder = Path(dags_folder)
    bag = DagBag(dags_folder=str(dags_folder))
    ensure_on_sys_path(*import_path_folders(dags_folder, plugins_folder))
    files: list[Path] = []
    if dags_folder.exists():
        files.extend(list_dag_files(dags_folder, safe_mode=safe_mode))
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
            bag.import_errors[str(path)] = _located(
                path,
                duplicates[0],
                f"DuplicateDagId: the DAG id '{duplicates[0]}' is already used by "
                f"{owner[duplicates[0]]}",
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
