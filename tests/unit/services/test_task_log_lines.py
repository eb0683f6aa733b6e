"""Reading task logs line by line (what the API's continuation tokens step through), and
splitting a line of downwind's log format into a structured message."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from downwind.services.task_logs import parse_log_line, read_log_lines


def _log(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "attempt=1.log"
    path.write_bytes(data)
    return path


def test_an_unfinished_last_line_waits_while_the_try_runs(tmp_path: Path) -> None:
    path = _log(tmp_path, b"one\ntwo\nthr")
    chunk = read_log_lines(path)
    assert (chunk.text, chunk.next_offset, chunk.eof) == ("one\ntwo\n", 8, False)
    assert read_log_lines(path, 8).text == "", "nothing until the line ends"
    final = read_log_lines(path, 8, final=True)
    assert (final.text, final.next_offset, final.eof) == ("thr", 11, True)


def test_pages_end_at_line_ends(tmp_path: Path) -> None:
    path = _log(tmp_path, b"aaaa\nbbbb\ncccc\n")
    first = read_log_lines(path, 0, 12)
    assert (first.text, first.next_offset, first.eof) == ("aaaa\nbbbb\n", 10, False)
    second = read_log_lines(path, first.next_offset, 12)
    assert (second.text, second.eof) == ("cccc\n", True)


def test_a_line_longer_than_a_page_comes_in_pieces_without_cutting_a_character(
    tmp_path: Path,
) -> None:
    text = "é" * 10 + "\n"  # 2 bytes each
    path = _log(tmp_path, text.encode())
    pieces, offset = [], 0
    while True:
        chunk = read_log_lines(path, offset, 5, final=True)
        pieces.append(chunk.text)
        offset = chunk.next_offset
        if chunk.eof:
            break
    assert "".join(pieces) == text
    assert all("\ufffd" not in piece for piece in pieces)


def test_reading_at_the_end_and_bad_arguments(tmp_path: Path) -> None:
    path = _log(tmp_path, b"x\n")
    assert read_log_lines(path, 2).eof is True
    with pytest.raises(ValueError, match="offset must be 0 or more"):
        read_log_lines(path, -1)
    with pytest.raises(ValueError, match="max_bytes must be 1 or more"):
        read_log_lines(path, 0, 0)


def test_a_line_in_downwinds_format_is_split_into_its_parts() -> None:
    line = "[2026-03-01T12:00:00.125Z] {downwind.task} WARNING - disk - nearly full"
    assert parse_log_line(line) == {
        "timestamp": datetime(2026, 3, 1, 12, 0, 0, 125000, tzinfo=UTC),
        "event": "disk - nearly full",
        "level": "warning",
        "logger": "downwind.task",
    }


@pytest.mark.parametrize(
    "line",
    ["Traceback (most recent call last):", "", "[not a date] {x} INFO - y", "[] {x} INFO - y"],
)
def test_any_other_line_is_its_event(line: str) -> None:
    assert parse_log_line(line) == {"event": line}
