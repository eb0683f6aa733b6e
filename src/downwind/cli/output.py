"""Printing command results: aligned tables for people, JSON for scripts."""

from __future__ import annotations

import json


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    """Print ``rows`` under ``headers`` in left-aligned columns, the header underlined."""
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in cells:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]

    def line(row: list[str]) -> str:
        return "  ".join(
            cell.ljust(width) for cell, width in zip(row, widths, strict=True)
        ).rstrip()

    print(line(headers))
    print(line(["-" * width for width in widths]))
    for row in cells:
        print(line(row))


def print_json(obj: object) -> None:
    """Print ``obj`` as indented JSON; values JSON lacks (paths, datetimes) become strings."""
    print(json.dumps(obj, indent=2, default=str))
