"""docs/configuration.md stays in step with the declared options."""

from __future__ import annotations

import re
from pathlib import Path

from downwind.config import load_config
from downwind.config.options import OPTIONS
from downwind.config.reference import options_table

DOCS = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"


def _docs() -> str:
    return DOCS.read_text(encoding="utf-8")


def test_option_table_matches_the_declarations() -> None:
    text = _docs()
    start = text.index("<!-- options-table:start -->\n") + len("<!-- options-table:start -->\n")
    end = text.index("<!-- options-table:end -->")
    assert text[start:end] == options_table(), (
        "docs/configuration.md is out of date: run `python -m downwind.config.reference` "
        "and paste its output between the options-table markers"
    )


def test_every_option_is_in_the_table() -> None:
    table = options_table()
    for option in OPTIONS:
        assert f"| `{option.name}` |" in table
        assert option.env_var in table


def test_catchup_default_is_explained() -> None:
    text = _docs()
    assert "catchup_by_default" in text
    assert "14 catch-up runs" in text


def test_example_toml_is_valid(tmp_path: Path) -> None:
    example = re.search(r"```toml\n(.*?)```", _docs(), re.DOTALL)
    assert example is not None
    (tmp_path / "downwind.toml").write_text(example.group(1), encoding="utf-8")
    conf = load_config(tmp_path, {})
    assert conf.core.parallelism == 8
    assert conf.source("core", "parallelism") == str(tmp_path / "downwind.toml")
