"""``downwind config list`` and ``downwind config get-value``."""

from __future__ import annotations

import argparse
import sys

from downwind.cli.output import print_json, print_table
from downwind.config import check_section, find_option, get_config
from downwind.exceptions import ConfigError


def list_config(args: argparse.Namespace) -> int:
    """Print every option's effective value and where it came from, secrets masked (an
    empty value shows as ``""`` in the table)."""
    section = getattr(args, "section", None)
    if section is not None:
        check_section(section)
    items = [item for item in get_config() if section is None or item.section == section]
    if getattr(args, "output", "table") == "json":
        # Typed values for scripts (numbers, booleans); paths become strings.
        print_json(
            [
                {
                    "section": item.section,
                    "key": item.key,
                    "value": item.display() if item.secret else item.value,
                    "source": item.source,
                }
                for item in items
            ]
        )
    else:
        print_table(
            ["section", "key", "value", "source"],
            [[item.section, item.key, item.display() or '""', item.source] for item in items],
        )
    return 0


def get_value(args: argparse.Namespace) -> int:
    """Print one option's effective value, bare and unmasked (the user asked for it by name)."""
    try:
        option = find_option(args.section, args.key)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(option.display(get_config().get(option.section, option.name), masked=False))
    return 0
