"""The console reporter's colors: only on a terminal, never with NO_COLOR."""

from __future__ import annotations

import io

from downwind.operators.empty import EmptyOperator
from downwind.runner.console import ConsoleReporter, use_color
from downwind.runner.dag_test import run_dag_in_process
from downwind.sdk.dag import DAG


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class _BareStream:
    """A writable object without ``isatty``."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def flush(self) -> None:
        pass


def test_color_only_on_a_terminal_without_no_color(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_color(_Terminal()) is True
    assert use_color(_Terminal(), requested=False) is False
    assert use_color(io.StringIO()) is False
    assert use_color(_BareStream()) is False  # type: ignore[arg-type]
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_color(_Terminal()) is False


def test_colored_status_lines(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    stream = _Terminal()
    with DAG("colors", schedule=None) as dag:
        EmptyOperator(task_id="t")
    run_dag_in_process(dag, reporter=ConsoleReporter(stream))
    text = stream.getvalue()
    assert "\033[32msuccess        \033[0m t" in text
    assert "\033[32mRun " in text


def test_a_stream_without_isatty_gets_plain_text():
    stream = _BareStream()
    with DAG("bare", schedule=None) as dag:
        EmptyOperator(task_id="t")
    run = run_dag_in_process(dag, reporter=ConsoleReporter(stream))  # type: ignore[arg-type]
    assert run.state.value == "success"
    text = "".join(stream.parts)
    assert "success" in text and "\033[" not in text
