"""DAG discovery: which files are imported, how, and what a broken file leaves behind."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from downwind.exceptions import DagNotFound
from downwind.sdk.discovery import (
    EXAMPLE_DAGS_FOLDER,
    DagBag,
    collect_dags,
    list_dag_files,
    load_dag_file,
)

WriteFile = Callable[[str, str], Path]

HEADER = """\
from datetime import datetime
from downwind import DAG
from downwind.operators.empty import EmptyOperator
START = datetime(2026, 1, 1)
"""


@pytest.fixture
def write(dags_folder: Path) -> WriteFile:
    """Write a file under the dags folder (dedented; parent folders created)."""

    def write_file(relative: str, text: str) -> Path:
        path = dags_folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write_file


def _dag_file(dag_id: str, *task_ids: str) -> str:
    tasks = "".join(f"    EmptyOperator(task_id={t!r})\n" for t in task_ids or ("t",))
    return HEADER + f"with DAG({dag_id!r}, start_date=START, schedule=None) as dag:\n{tasks}"


def _names(files: list[Path], folder: Path) -> list[str]:
    return [path.relative_to(folder).as_posix() for path in files]


# -- which files -------------------------------------------------------------------------


def test_files_are_listed_sorted_with_subfolders(write: WriteFile, dags_folder: Path) -> None:
    for name in ["b.py", "a.py", "sub/z.py", "sub/deeper/c.py", "a_sub/y.py"]:
        write(name, "# dag\n")
    write("notes.txt", "dag")
    write("__pycache__/cached.py", "# dag")
    write(".hidden/secret.py", "# dag")
    assert _names(list_dag_files(dags_folder), dags_folder) == [
        "a.py",
        "b.py",
        "a_sub/y.py",
        "sub/z.py",
        "sub/deeper/c.py",
    ]


def test_safe_mode_skips_files_that_never_mention_dag_in_any_case(
    write: WriteFile, dags_folder: Path
) -> None:
    write("helper.py", "def add(a, b):\n    return a + b\n")
    write("upper.py", "from downwind import DAG\n")
    write("lower.py", "# this file builds a dag\n")
    write("mixed.py", "x = 'MyDaG'\n")
    assert _names(list_dag_files(dags_folder), dags_folder) == ["lower.py", "mixed.py", "upper.py"]
    assert "helper.py" in _names(list_dag_files(dags_folder, safe_mode=False), dags_folder)


def test_downwindignore_patterns_are_relative_to_their_folder(
    write: WriteFile, dags_folder: Path
) -> None:
    write(
        ".downwindignore",
        """\
        # a comment line, then patterns
        scratch_*.py
        /top_only.py     # anchored: only at this level
        vendored/
        **/gen_*.py
        """,
    )
    write("sub/.downwindignore", "*.py\n!keep.py\n")
    for name in [
        "dag_a.py",
        "scratch_1.py",
        "top_only.py",
        "other/top_only.py",
        "other/scratch_2.py",
        "vendored/lib.py",
        "deep/er/gen_x.py",
        "sub/dropped.py",
        "sub/keep.py",
        "sub2/dropped.py",
    ]:
        write(name, "# dag\n")
    assert _names(list_dag_files(dags_folder), dags_folder) == [
        "dag_a.py",
        "other/top_only.py",
        "sub/keep.py",
        "sub2/dropped.py",
    ]


def test_a_file_path_is_its_own_listing(write: WriteFile) -> None:
    path = write("one.py", "no mention at all\n")
    assert list_dag_files(path) == [path]


# -- what a file yields ------------------------------------------------------------------


def test_collects_globals_with_blocks_and_unassigned_taskflow_dags(
    write: WriteFile, dags_folder: Path
) -> None:
    path = write(
        "many.py",
        HEADER
        + textwrap.dedent(
            """\
        from downwind import dag, task

        assigned = DAG("assigned", start_date=START, schedule=None)
        EmptyOperator(task_id="t", dag=assigned)

        with DAG("with_block", start_date=START, schedule="@daily"):
            EmptyOperator(task_id="t")

        @dag(start_date=START, schedule=None)
        def taskflow_unassigned():
            @task
            def hello():
                return 1
            hello()

        taskflow_unassigned()

        for name in ["gen_1", "gen_2"]:
            DAG(name, start_date=START, schedule=None)
        """
        ),
    )
    bag = collect_dags(dags_folder)
    assert bag.import_errors == {}
    assert sorted(bag.dags) == ["assigned", "gen_1", "gen_2", "taskflow_unassigned", "with_block"]
    assert bag.dags["taskflow_unassigned"].task_ids == ["hello"]
    assert {dag.fileloc for dag in bag.dags.values()} == {str(path)}
    assert bag.files == [str(path)]


def test_dag_files_import_helpers_from_the_dags_folder_and_plugins(
    downwind_home: Path, write: WriteFile, dags_folder: Path
) -> None:
    write("common/naming.py", "PREFIX = 'team'\n")
    plugins = downwind_home / "plugins"
    plugins.mkdir()
    (plugins / "house_rules.py").write_text("TAG = 'from-plugins'\n", encoding="utf-8")
    write(
        "uses_helpers.py",
        HEADER
        + "from common.naming import PREFIX\n"
        + "import house_rules\n"
        + "dag = DAG(PREFIX + '_pipeline', start_date=START, schedule=None,"
        + " tags=[house_rules.TAG])\n",
    )
    bag = collect_dags(dags_folder)
    assert bag.import_errors == {}
    assert bag.dags["team_pipeline"].tags == ["from-plugins"]


def test_the_configured_plugins_folder_is_importable_too(
    tmp_path: Path, write: WriteFile, dags_folder: Path
) -> None:
    elsewhere = tmp_path / "shared_plugins"
    elsewhere.mkdir()
    (elsewhere / "far_helper.py").write_text("ID = 'far_away'\n", encoding="utf-8")
    write("far.py", HEADER + "import far_helper\nd = DAG(far_helper.ID, schedule=None)\n")
    bag = collect_dags(dags_folder, plugins_folder=elsewhere)
    assert list(bag.dags) == ["far_away"], bag.import_errors


def test_each_file_is_its_own_module(write: WriteFile, dags_folder: Path) -> None:
    # Same file name and same global names in two folders: no clash, no shared state.
    for team in ["red", "blue"]:
        write(
            f"{team}/pipeline.py",
            HEADER + f"COLOR = {team!r}\nd = DAG(COLOR + '_pipeline', schedule=None)\n",
        )
    bag = collect_dags(dags_folder)
    assert sorted(bag.dags) == ["blue_pipeline", "red_pipeline"]
    assert bag.import_errors == {}
    for team in ["red", "blue"]:
        assert bag.dags[f"{team}_pipeline"].fileloc == str(dags_folder / team / "pipeline.py")


def test_a_dag_made_by_a_helper_module_belongs_to_the_file_that_calls_it(
    write: WriteFile, dags_folder: Path
) -> None:
    # The factory module mentions "dag" but creates none at import; the DAG file calls it
    # without keeping the result. The DAG's file is the DAG file (so it can be reloaded).
    write(
        "factory.py",
        HEADER + "def make(dag_id):\n    with DAG(dag_id, schedule=None) as d:\n"
        "        EmptyOperator(task_id='t')\n    return d\n",
    )
    path = write("made.py", "# a DAG\nimport factory\nfactory.make('made_by_factory')\n")
    bag = collect_dags(dags_folder)
    assert bag.import_errors == {}
    assert list(bag.dags) == ["made_by_factory"]
    assert bag.dags["made_by_factory"].fileloc == str(path)


def test_importing_another_dag_file_does_not_duplicate_its_dags(
    write: WriteFile, dags_folder: Path
) -> None:
    write("a_uses_b.py", HEADER + "import b_shared\nd = DAG('a_own', schedule=None)\n")
    write("b_shared.py", _dag_file("b_dag"))
    bag = collect_dags(dags_folder)
    assert bag.import_errors == {}
    assert sorted(bag.dags) == ["a_own", "b_dag"]
    assert bag.dags["b_dag"].fileloc == str(dags_folder / "b_shared.py")


def test_example_dags_are_collected_when_asked(dags_folder: Path) -> None:
    assert collect_dags(dags_folder).dags == {}
    bag = collect_dags(dags_folder, include_examples=True)
    assert "download_rocket_launches" in bag.dags
    assert all(path.startswith(str(EXAMPLE_DAGS_FOLDER)) for path in bag.files)


def test_a_missing_dags_folder_is_empty_not_an_error(tmp_path: Path) -> None:
    bag = collect_dags(tmp_path / "nowhere")
    assert (bag.dags, bag.import_errors) == ({}, {})


# -- broken files ------------------------------------------------------------------------


def test_a_syntax_error_beside_a_good_file_hides_nothing(
    write: WriteFile, dags_folder: Path
) -> None:
    write("a_good.py", _dag_file("good_before"))
    broken = write("b_broken.py", "from downwind import DAG\nd = DAG('broken', schedule=(\n")
    write("c_good.py", _dag_file("good_after"))
    bag = collect_dags(dags_folder)
    assert sorted(bag.dags) == ["good_after", "good_before"]
    assert list(bag.import_errors) == [str(broken)]
    error = bag.import_errors[str(broken)]
    assert f'File "{broken}", line 2' in error
    assert "SyntaxError: '(' was never closed" in error


def test_an_exception_at_import_is_recorded_with_a_traceback_into_the_file(
    write: WriteFile, dags_folder: Path
) -> None:
    write("helper_lib.py", "def check(n):\n    raise ValueError(f'bad value {n}')\n")
    path = write(
        "raises.py",
        "# dag file\nimport helper_lib\n\nhelper_lib.check(42)\n",
    )
    bag = collect_dags(dags_folder)
    error = bag.import_errors[str(path)]
    lines = error.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[1] == f'  File "{path}", line 4, in <module>'
    assert "helper_lib.py" in error  # the frames below the file are kept
    assert lines[-1] == "ValueError: bad value 42"
    assert "importlib" not in error  # downwind's import machinery is left out


def test_a_syntax_error_in_an_imported_helper_shows_the_import_line(
    write: WriteFile, dags_folder: Path
) -> None:
    write("helper_broken.py", "def oops(:\n")
    path = write("imports_broken.py", "# dag\nimport helper_broken\n")
    error = collect_dags(dags_folder).import_errors[str(path)]
    assert f'File "{path}", line 2, in <module>' in error
    assert "helper_broken.py" in error
    assert "SyntaxError" in error


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "with DAG('cyclic', start_date=START, schedule=None):\n"
            "    a = EmptyOperator(task_id='a')\n    b = EmptyOperator(task_id='b')\n"
            "    a >> b >> a\n",
            "DagCycleError: DAG 'cyclic' has a cycle: a -> b -> a",
        ),
        (
            "with DAG('dup_task', start_date=START, schedule=None):\n"
            "    EmptyOperator(task_id='same')\n    EmptyOperator(task_id='same')\n",
            "task id 'same' has already been added to the DAG 'dup_task'",
        ),
        (
            "raise SystemExit('a DAG file must not exit the process')\n",
            "SystemExit: a DAG file must not exit the process",
        ),
        (
            "DAG('twice', schedule=None)\nDAG('twice', schedule=None)\n",
            "DuplicateDagId: the DAG id 'twice' is used by two DAGs in this file",
        ),
    ],
    ids=["cycle", "duplicate-task-id", "system-exit", "duplicate-dag-id-in-file"],
)
def test_broken_definitions_become_import_errors(
    write: WriteFile, dags_folder: Path, body: str, expected: str
) -> None:
    write("fine.py", _dag_file("fine"))
    path = write("broken.py", HEADER + body)
    bag = collect_dags(dags_folder)
    assert list(bag.dags) == ["fine"]
    error = bag.import_errors[str(path)]
    assert expected in error
    assert f'File "{path}", line ' in error  # where to look in the user's file


def test_a_cycle_error_points_at_the_dag_definition(write: WriteFile, dags_folder: Path) -> None:
    path = write(
        "cyc.py",
        HEADER + "d = DAG('loop', start_date=START, schedule=None)\n"
        "a = EmptyOperator(task_id='a', dag=d)\nb = EmptyOperator(task_id='b', dag=d)\n"
        "c = EmptyOperator(task_id='c', dag=d)\na >> b >> c\nc >> a\n",
    )
    dags, error = load_dag_file(path)
    assert dags == []
    assert error is not None
    assert error.splitlines() == [
        f'  File "{path}", line 5, in <module>',
        "    d = DAG('loop', start_date=START, schedule=None)",
        "DagCycleError: DAG 'loop' has a cycle: a -> b -> c -> a",
    ]


def test_a_dag_id_used_by_two_files_is_an_error_on_the_second(
    write: WriteFile, dags_folder: Path
) -> None:
    first = write("a_first.py", _dag_file("shared_id"))
    second = write("b_second.py", _dag_file("shared_id") + _dag_file("only_in_second"))
    write("c_other.py", _dag_file("other"))
    bag = collect_dags(dags_folder)
    assert sorted(bag.dags) == ["other", "shared_id"]
    assert bag.dags["shared_id"].fileloc == str(first)
    error = bag.import_errors[str(second)]
    assert f"DuplicateDagId: the DAG id 'shared_id' is already used by {first}" in error
    assert f'File "{second}", line 5' in error


def test_a_failed_file_can_be_fixed_and_loaded_again(write: WriteFile, dags_folder: Path) -> None:
    path = write("flaky.py", HEADER + "raise RuntimeError('not yet')\n")
    assert "RuntimeError: not yet" in (load_dag_file(path)[1] or "")
    write("flaky.py", _dag_file("fixed"))
    dags, error = load_dag_file(path)
    assert error is None
    assert [d.dag_id for d in dags] == ["fixed"]


# -- DagBag.get_dag ----------------------------------------------------------------------


def test_get_dag_unknown_id_suggests_a_close_one_and_lists_import_errors(
    write: WriteFile, dags_folder: Path
) -> None:
    write("a.py", _dag_file("daily_sales"))
    broken = write("b.py", HEADER + "raise ImportError('no module named pandas')\n")
    bag = collect_dags(dags_folder)
    assert bag.get_dag("daily_sales").dag_id == "daily_sales"
    with pytest.raises(DagNotFound) as info:
        bag.get_dag("daily_sale")
    lines = str(info.value).splitlines()
    assert lines[0] == f"DAG 'daily_sale' not found in {dags_folder}; did you mean 'daily_sales'?"
    assert lines[1:] == [
        "1 DAG file failed to import:",
        f"  {broken}: ImportError: no module named pandas",
    ]


def test_get_dag_without_any_close_id_says_only_not_found() -> None:
    with pytest.raises(DagNotFound, match=r"^DAG 'zzz' not found$"):
        DagBag().get_dag("zzz")
