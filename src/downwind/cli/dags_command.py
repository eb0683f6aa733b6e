"""``downwind dags list|show|list-import-errors`` and ``downwind tasks list``."""

from __future__ import annotations

import argparse
import sys

from downwind.cli.output import print_json, print_table
from downwind.sdk.discovery import collect_configured_dags


def list_dags(args: argparse.Namespace) -> int:
    """Every DAG found, with its file, schedule and owner; files that failed to import
    are counted on stderr (``dags list-import-errors`` shows them)."""
    bag = collect_configured_dags()
    rows = [
        {
            "dag_id": dag.dag_id,
            "fileloc": dag.fileloc,
            "owners": dag.owner,
            "schedule": dag.timetable.summary,
            "catchup": dag.catchup,
            "tags": dag.tags,
            "tasks": len(dag.task_dict),
            "description": dag.description,
        }
        for dag in sorted(bag.dags.values(), key=lambda d: d.dag_id)
    ]
    paused = _paused_states()
    if paused is not None:
        for row in rows:
            row["is_paused"] = paused.get(row["dag_id"])
    if args.output == "json":
        print_json(rows)
    elif not rows:
        print(f"No DAGs found in {bag.dags_folder}.")
    else:
        headers = ["dag_id", "schedule", "tasks", "owners", "tags", "fileloc"]
        if paused is not None:
            headers.insert(1, "paused")
        table = []
        for r in rows:
            line = [r["dag_id"], r["schedule"], str(r["tasks"]), r["owners"]]
            line += [",".join(r["tags"]), r["fileloc"]]
            if paused is not None:
                state = r["is_paused"]
                line.insert(1, "not parsed yet" if state is None else str(state).lower())
            table.append(line)
        print_table(headers, table)
    if bag.import_errors:
        count = len(bag.import_errors)
        print(
            f"warning: {count} DAG file{'s' if count > 1 else ''} failed to import; "
            "see `downwind dags list-import-errors`.",
            file=sys.stderr,
        )
    return 0


def _paused_states() -> dict[str, bool] | None:
    """Whether each DAG known to the metastore is paused; ``None`` without a metastore."""
    from downwind.cli.metastore_session import ready_session_factory

    sessions = ready_session_factory()
    if sessions is None:
        return None
    from sqlalchemy import select

    from downwind.metastore.models import DagModel

    with sessions() as session:
        rows = session.execute(select(DagModel.dag_id, DagModel.is_paused)).all()
        return {dag_id: paused for dag_id, paused in rows}


def list_import_errors(args: argparse.Namespace) -> int:
    """Files that failed to import, with their tracebacks; exit status 1 if any.

    As the DAG processor recorded them in the metastore (what the scheduler and the UI
    see); with ``--local``, or when there is no migrated metastore, as parsing the dags
    folder here gives them."""
    errors = None if args.local else _recorded_import_errors()
    if errors is None:
        bag = collect_configured_dags()
        errors = [{"filepath": path, "error": text} for path, text in bag.import_errors.items()]
    if args.output == "json":
        print_json(errors)
    elif not errors:
        print("No import errors.")
    else:
        for error in errors:
            print(
                f"{error['filepath']}\n{'-' * len(error['filepath'])}\n{error['error'].rstrip()}\n"
            )
    return 1 if errors else 0


def _recorded_import_errors() -> list[dict[str, str]] | None:
    """The import errors in the metastore; ``None`` without a migrated metastore."""
    from downwind.cli.metastore_session import ready_session_factory

    sessions = ready_session_factory()
    if sessions is None:
        return None
    from downwind.services.dags import select_import_errors

    query, columns = select_import_errors()
    with sessions() as session:
        rows = session.scalars(query.order_by(columns["filename"])).all()
        return [
            {
                "filepath": row.filename,
                "error": row.stacktrace or "",
                "timestamp": row.timestamp.isoformat(),
            }
            for row in rows
        ]


def show_dag(args: argparse.Namespace) -> int:
    """The DAG's tasks as a tree from its roots, or Graphviz dot with ``--dot``."""
    dag = collect_configured_dags().get_dag(args.dag_id)
    if args.dot:
        print(dag_to_dot(dag))
        return 0
    print(f"{dag.dag_id}  (schedule: {dag.timetable.summary}, {len(dag.task_dict)} tasks)")
    for line in tree_lines(dag):
        print(line)
    return 0


def list_tasks(args: argparse.Namespace) -> int:
    """The DAG's task ids in dependency order, or as a tree with ``--tree``."""
    dag = collect_configured_dags().get_dag(args.dag_id)
    if args.tree:
        for line in tree_lines(dag):
            print(line)
    else:
        for task in dag.topological_sort():
            print(task.task_id)
    return 0


def tree_lines(dag) -> list[str]:
    """Each root with its downstream tasks indented below it; a task reached again is
    marked ``(see above)`` rather than repeated with its subtree."""
    lines: list[str] = []
    seen: set[str] = set()

    def walk(task, prefix: str, last: bool, top: bool) -> None:
        branch = "" if top else ("└── " if last else "├── ")
        repeated = task.task_id in seen
        label = f"{task.task_id} <{task.task_type}>" + (" (see above)" if repeated else "")
        lines.append(prefix + branch + label)
        if repeated:
            return
        seen.add(task.task_id)
        children = task.downstream_list
        child_prefix = prefix if top else prefix + ("    " if last else "│   ")
        for i, child in enumerate(children):
            walk(child, child_prefix, i == len(children) - 1, False)

    for root in sorted(dag.roots, key=lambda t: t.task_id):
        walk(root, "", True, True)
    return lines


def dag_to_dot(dag) -> str:
    """The DAG in Graphviz dot syntax, left to right."""

    def quote(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = [f"digraph {quote(dag.dag_id)} {{", "  rankdir=LR;", "  node [shape=box];"]
    for task in dag.topological_sort():
        lines.append(f"  {quote(task.task_id)} [label={quote(task.task_id)}];")
    for task in dag.topological_sort():
        for child in sorted(task.downstream_task_ids):
            lines.append(f"  {quote(task.task_id)} -> {quote(child)};")
    lines.append("}")
    return "\n".join(lines)
