"""The ``downwind`` command itself: help, version, usage errors, pipes and terminals."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import downwind
from downwind.cli.main import main
from downwind.config import reset_config_cache

WriteDag = Callable[[str, str], Path]
Capsys = pytest.CaptureFixture[str]

DAG_FILE = """\
from downwind import DAG
from downwind.operators.bash import BashOperator

with DAG("hello", schedule=None) as dag:
    BashOperator(task_id="say_hello", bash_command="echo hello world")
"""


def _downwind(*args: str, stdout: int = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "downwind", *args],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
        check=False,
    )


def test_version(capsys: Capsys) -> None:
    assert main(["version"]) == 0
    assert capsys.readouterr().out == f"{downwind.__version__}\n"


def test_help_lists_the_command_groups(capsys: Capsys) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: downwind ")
    for group in ["dags", "tasks", "config", "version"]:
        assert f"\n    {group} " in out
    assert "downwind dags test download_rocket_launches 2026-01-01" in out


@pytest.mark.parametrize(
    ("group", "commands"),
    [
        ("dags", ["list", "list-import-errors", "show", "test"]),
        ("tasks", ["list", "test"]),
    ],
)
def test_group_help_lists_its_commands(capsys: Capsys, group: str, commands: list[str]) -> None:
    assert main([group, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: downwind {group} ")
    for command in commands:
        assert f"\n    {command}" in out


def test_dags_test_help_shows_its_options(capsys: Capsys) -> None:
    assert main(["dags", "test", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ["dag_id", "logical_date", "--conf", "--wait-retry-delay", "--no-color"]:
        assert option in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["dags"], "the following arguments are required: SUBCOMMAND"),
        (["dags", "test"], "the following arguments are required: dag_id"),
        (["dags", "list", "-o", "xml"], "argument -o/--output: invalid choice: 'xml'"),
        (["dagz"], "argument COMMAND: invalid choice: 'dagz'"),
    ],
)
def test_usage_errors_exit_2_with_argparse_message(
    capsys: Capsys, argv: list[str], message: str
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: downwind")
    assert message in err


# -- real processes ----------------------------------------------------------------------


def test_python_m_downwind_reads_the_dags_folder(write_dag: WriteDag) -> None:
    # `dags test` in a real process: tests/integration/test_cli_dags_test.py
    write_dag("hello.py", DAG_FILE)
    listed = _downwind("dags", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[2].split()[:3] == ["hello", "None", "1"]


def test_an_error_in_a_real_process_is_one_line_without_traceback(dags_folder: Path) -> None:
    result = _downwind("dags", "test", "absent")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == f"error: DAG 'absent' not found in {dags_folder}\n"


@pytest.mark.parametrize(
    "argv",
    [
        ["dags", "list", "-o", "json"],
        ["dags", "test", "hello"],
    ],
)
def test_a_closed_pipe_is_not_a_traceback(write_dag: WriteDag, argv: list[str]) -> None:
    """``downwind ... | head`` when ``head`` has already gone."""
    write_dag("hello.py", DAG_FILE)
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = _downwind(*argv, stdout=write_end)
    finally:
        os.close(write_end)
    assert result.stderr == ""
    assert result.returncode in (0, 141)


def test_piping_into_head_prints_the_first_lines(write_dag: WriteDag) -> None:
    for i in range(60):
        write_dag(f"hello_{i}.py", DAG_FILE.replace('"hello"', f'"hello_{i:02}"'))
    result = subprocess.run(
        f"{sys.executable} -m downwind dags list | head -n 3",
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stdout.splitlines()[2].startswith("hello_00 ")
    assert result.stderr == ""


# -- colors ------------------------------------------------------------------------------


def _on_a_terminal(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run ``downwind`` with its stdout on a pseudo-terminal; return status and output."""
    main_fd, child_fd = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "downwind", *argv],
        stdout=child_fd,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    os.close(child_fd)
    chunks = []
    while True:
        try:
            data = os.read(main_fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(main_fd)
    return process.wait(timeout=60), b"".join(chunks).decode()


@pytest.mark.parametrize(
    ("extra_env", "colored"), [({}, True), ({"NO_COLOR": "1"}, False)], ids=["tty", "NO_COLOR"]
)
def test_colors_on_a_real_terminal_unless_no_color(
    write_dag: WriteDag, extra_env: dict[str, str], colored: bool
) -> None:
    write_dag("hello.py", DAG_FILE)
    status, out = _on_a_terminal(["dags", "test", "hello"], {**os.environ, **extra_env})
    assert status == 0
    assert "hello world" in out
    assert ("\033[32m" in out) is colored  # green success


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("extra_args", "extra_env", "colored"),
    [
        ([], {}, True),
        (["--no-color"], {}, False),
        ([], {"NO_COLOR": "1"}, False),
        ([], {"DOWNWIND__LOGGING__COLORED_CONSOLE": "false"}, False),
    ],
    ids=["terminal", "--no-color", "NO_COLOR", "colored_console-off"],
)
def test_color_switches(
    write_dag: WriteDag,
    monkeypatch: pytest.MonkeyPatch,
    extra_args: list[str],
    extra_env: dict[str, str],
    colored: bool,
) -> None:
    write_dag("hello.py", DAG_FILE)
    for name, value in extra_env.items():
        monkeypatch.setenv(name, value)
    reset_config_cache()
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    assert main(["tasks", "test", "hello", "say_hello", *extra_args]) == 0
    out = terminal.getvalue()
    assert "hello world" in out
    assert ("\033[" in out) is colored
