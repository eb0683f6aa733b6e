"""The option reference table of ``docs/configuration.md``, generated from the schema.

Run ``python -m downwind.config.reference`` and paste its output between the
``options-table`` markers of the docs; a unit test checks that the two agree.
"""

from __future__ import annotations

from downwind.config.options import OPTIONS
from downwind.config.schema import Option


def _default_text(option: Option) -> str:
    default = option.default
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, str):
        return f'"{default}"'
    return str(default)


def options_table() -> str:
    """A Markdown table of every option: section, key, type, default, env var, description."""
    lines = [
        "| Section | Key | Type | Default | Environment variable | Description |",
        "|---|---|---|---|---|---|",
    ]
    for option in OPTIONS:
        doc = option.doc + (" *Secret: masked in `config list`.*" if option.secret else "")
        cells = [
            f"`[{option.section}]`",
            f"`{option.name}`",
            option.type.describe(),
            f"`{_default_text(option)}`",
            f"`{option.env_var}`",
            doc,
        ]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(options_table(), end="")
